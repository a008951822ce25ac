package dev.panllama.tokenizer;

import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufMetadata;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns text into token ids and back, as llama.cpp does for the same vocabulary: special tokens found
 * in the text first (when asked), the remaining text split and merged by the vocabulary's algorithm,
 * BOS and EOS added as the vocabulary says. Immutable and safe to share between threads.
 */
public abstract sealed class Tokenizer permits BpeTokenizer, SpmTokenizer {

    protected final Vocabulary vocabulary;

    Tokenizer(Vocabulary vocabulary) {
        this.vocabulary = vocabulary;
    }

    /**
     * The tokenizer for a model's vocabulary.
     *
     * @throws GgufException when the tokenizer model or pre-tokenizer is not one panllama implements
     */
    public static Tokenizer of(GgufMetadata metadata) {
        Vocabulary vocabulary = Vocabulary.from(metadata);
        return switch (vocabulary.model()) {
            case "gpt2" -> new BpeTokenizer(vocabulary, PreTokenizer.of(vocabulary.preTokenizer()));
            case "llama" -> new SpmTokenizer(vocabulary);
            default -> throw new GgufException("unsupported tokenizer model '" + vocabulary.model()
                    + "'; panllama supports gpt2 (byte-level BPE) and llama (SentencePiece)");
        };
    }

    public Vocabulary vocabulary() {
        return vocabulary;
    }

    /**
     * Token ids of {@code text}.
     *
     * @param addSpecial   add BOS/EOS where the vocabulary asks for them
     * @param parseSpecial recognize special tokens written in the text (e.g. {@code <|eot|>})
     */
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        List<Integer> out = new ArrayList<>();
        if (addSpecial && vocabulary.addBos()) {
            out.add(vocabulary.bos());
        }
        encodeFragments(partition(text, parseSpecial), out);
        if (addSpecial && vocabulary.addEos()) {
            out.add(vocabulary.eos());
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** A piece of the input: raw text, or a special token found in it. */
    record Fragment(String text, int token) {
        boolean isToken() {
            return text == null;
        }
    }

    abstract void encodeFragments(List<Fragment> fragments, List<Integer> out);

    /** Splits {@code text} at every occurrence of each special token, longest tokens first. */
    private List<Fragment> partition(String text, boolean parseSpecial) {
        List<Fragment> fragments = new ArrayList<>();
        if (text.isEmpty()) {
            return fragments;
        }
        fragments.add(new Fragment(text, -1));
        for (int special : vocabulary.specialTokensLongestFirst()) {
            if (!parseSpecial && vocabulary.type(special) != Vocabulary.TokenType.USER_DEFINED) {
                continue;
            }
            String needle = vocabulary.text(special);
            if (needle.isEmpty()) {
                continue;
            }
            List<Fragment> next = new ArrayList<>(fragments.size());
            for (Fragment fragment : fragments) {
                if (fragment.isToken()) {
                    next.add(fragment);
                    continue;
                }
                String rest = fragment.text();
                int at;
                while ((at = rest.indexOf(needle)) >= 0) {
                    if (at > 0) {
                        next.add(new Fragment(rest.substring(0, at), -1));
                    }
                    next.add(new Fragment(null, special));
                    rest = rest.substring(at + needle.length());
                }
                if (!rest.isEmpty()) {
                    next.add(new Fragment(rest, -1));
                }
            }
            fragments = next;
        }
        return fragments;
    }

    /** The bytes a token stands for; control tokens only when {@code special} is true. */
    public abstract byte[] pieceBytes(int id, boolean special);

    /** The text of {@code ids} (special tokens included), with invalid UTF-8 replaced. */
    public String decode(int[] ids) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            bytes.writeBytes(pieceBytes(id, true));
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    /** A decoder for a stream of generated tokens that emits text only in whole UTF-8 characters. */
    public StreamingDecoder streamingDecoder() {
        return new StreamingDecoder(this);
    }

    void checkId(int id) {
        if (id < 0 || id >= vocabulary.size()) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + vocabulary.size());
        }
    }
}
