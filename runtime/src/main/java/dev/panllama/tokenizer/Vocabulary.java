package dev.panllama.tokenizer;

import dev.panllama.gguf.GgufArray;
import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufMetadata;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * A model's vocabulary as its GGUF stores it ({@code tokenizer.ggml.*}): token texts, types, scores,
 * BPE merges, special token ids and the add-BOS/EOS flags, with the defaults llama.cpp applies when a
 * key is absent.
 */
public final class Vocabulary {

    /** {@code tokenizer.ggml.token_type} values. */
    public enum TokenType { UNDEFINED, NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE }

    public static final int NONE = -1;

    private final String model;
    private final String preTokenizer;
    private final String[] tokens;
    private final TokenType[] types;
    private final float[] scores;
    private final Map<String, Integer> ids;
    private final Map<String, Integer> mergeRanks;
    private final int bos;
    private final int eos;
    private final int eot;
    private final boolean addBos;
    private final boolean addEos;
    private final boolean addSpacePrefix;
    private final int[] specialBySizeDescending;

    private Vocabulary(GgufMetadata metadata) {
        model = metadata.getString("tokenizer.ggml.model");
        preTokenizer = metadata.findString("tokenizer.ggml.pre").orElse("default");
        tokens = metadata.getArray("tokenizer.ggml.tokens").strings();
        types = new TokenType[tokens.length];
        int[] rawTypes = metadata.findArray("tokenizer.ggml.token_type").map(GgufArray::ints).orElse(null);
        for (int i = 0; i < tokens.length; i++) {
            int raw = rawTypes == null ? 1 : rawTypes[i];
            types[i] = raw >= 0 && raw < TokenType.values().length ? TokenType.values()[raw] : TokenType.UNDEFINED;
        }
        if (rawTypes != null && rawTypes.length != tokens.length) {
            throw new GgufException("tokenizer.ggml.token_type has " + rawTypes.length + " entries for " + tokens.length + " tokens");
        }
        scores = metadata.findArray("tokenizer.ggml.scores").map(GgufArray::floats).orElse(new float[tokens.length]);
        if (scores.length != tokens.length) {
            throw new GgufException("tokenizer.ggml.scores has " + scores.length + " entries for " + tokens.length + " tokens");
        }
        ids = new HashMap<>(tokens.length * 2);
        for (int i = 0; i < tokens.length; i++) {
            ids.putIfAbsent(tokens[i], i);
        }
        mergeRanks = new HashMap<>();
        String[] merges = metadata.findArray("tokenizer.ggml.merges").map(GgufArray::strings).orElse(new String[0]);
        for (int rank = 0; rank < merges.length; rank++) {
            int space = merges[rank].indexOf(' ', 1);
            if (space < 0) {
                throw new GgufException("tokenizer.ggml.merges entry " + rank + " is not 'left right': " + merges[rank]);
            }
            mergeRanks.putIfAbsent(merges[rank], rank);
        }

        boolean spm = model.equals("llama");
        bos = specialId(metadata, "tokenizer.ggml.bos_token_id", spm ? 1 : NONE);
        eos = specialId(metadata, "tokenizer.ggml.eos_token_id", spm ? 2 : NONE);
        eot = metadata.findInt("tokenizer.ggml.eot_token_id").orElseGet(() -> firstOf("<|eot|>", "<|eot_id|>", "<|im_end|>", "<end_of_turn>"));
        boolean llama3 = List.of("llama3", "llama-v3", "llama-bpe").contains(preTokenizer);
        addBos = metadata.findBool("tokenizer.ggml.add_bos_token").orElse(spm || llama3);
        addEos = metadata.findBool("tokenizer.ggml.add_eos_token").orElse(false);
        addSpacePrefix = metadata.findBool("tokenizer.ggml.add_space_prefix").orElse(spm);

        List<Integer> special = new ArrayList<>();
        for (int i = 0; i < tokens.length; i++) {
            if (types[i] == TokenType.CONTROL || types[i] == TokenType.USER_DEFINED || types[i] == TokenType.UNKNOWN) {
                special.add(i);
            }
        }
        // Longest first, so that a special token is never split by a shorter one it contains.
        special.sort(Comparator.comparingInt((Integer id) -> -tokens[id].getBytes(StandardCharsets.UTF_8).length)
                .thenComparingInt(id -> id));
        specialBySizeDescending = special.stream().mapToInt(Integer::intValue).toArray();
    }

    public static Vocabulary from(GgufMetadata metadata) {
        return new Vocabulary(metadata);
    }

    private int specialId(GgufMetadata metadata, String key, int fallback) {
        int id = metadata.findInt(key).orElse(fallback);
        if (id != NONE && (id < 0 || id >= tokens.length)) {
            throw new GgufException(key + " is " + id + ", outside the vocabulary of " + tokens.length);
        }
        return id;
    }

    private int firstOf(String... candidates) {
        for (String candidate : candidates) {
            Integer id = ids.get(candidate);
            if (id != null) {
                return id;
            }
        }
        return NONE;
    }

    /** {@code tokenizer.ggml.model}: {@code gpt2} (byte-level BPE) or {@code llama} (SentencePiece). */
    public String model() {
        return model;
    }

    public String preTokenizer() {
        return preTokenizer;
    }

    public int size() {
        return tokens.length;
    }

    public String text(int id) {
        return tokens[id];
    }

    public TokenType type(int id) {
        return types[id];
    }

    public float score(int id) {
        return scores[id];
    }

    /** The id of the token whose text is {@code text}, or {@link #NONE}. */
    public int id(String text) {
        return ids.getOrDefault(text, NONE);
    }

    /** The rank of the BPE merge of {@code left} and {@code right}, or -1 when there is none. */
    int mergeRank(String left, String right) {
        return mergeRanks.getOrDefault(left + " " + right, -1);
    }

    public int bos() {
        return bos;
    }

    public int eos() {
        return eos;
    }

    /** The end-of-turn token, e.g. {@code <|eot|>} in Llama 4, or {@link #NONE}. */
    public int eot() {
        return eot;
    }

    /** Whether generation stops at {@code id}: end of sequence or end of turn. */
    public boolean isEndOfGeneration(int id) {
        return id != NONE && (id == eos || id == eot);
    }

    /** The tokens {@link #isEndOfGeneration} stops at, for banning them (llama.cpp's {@code --ignore-eos}). */
    public List<Integer> endOfGenerationIds() {
        return IntStream.of(eos, eot).filter(id -> id != NONE).distinct().boxed().toList();
    }

    public boolean addBos() {
        return addBos;
    }

    public boolean addEos() {
        return addEos;
    }

    boolean addSpacePrefix() {
        return addSpacePrefix;
    }

    boolean isControl(int id) {
        return types[id] == TokenType.CONTROL;
    }

    int[] specialTokensLongestFirst() {
        return specialBySizeDescending;
    }

    @Override
    public String toString() {
        return model + "/" + preTokenizer + " vocabulary of " + tokens.length + " tokens";
    }
}
