package dev.panllama.server;

import dev.panllama.tokenizer.Tokenizer;
import dev.panllama.tokenizer.Vocabulary;

import java.util.ArrayList;
import java.util.List;

/**
 * The prompt of llama-server's {@code /infill} (fill in the middle, for code models whose vocabulary has the
 * tokens: CodeLlama's {@code <PRE>}, {@code <SUF>}, {@code <MID>}, and others'), laid out token for token as
 * llama-server lays it out: the other files' text ({@code input_extra}, each after a file separator or a snippet
 * line) first, as much of it as the context leaves; then the prefix token, the end of {@code input_prefix}
 * (at most three quarters of a logical batch), {@code prompt}, the suffix token, the start of
 * {@code input_suffix} (the rest of a quarter batch), and the middle token, after which the model writes
 * what goes between. Suffix first ({@code --spm-infill}), the suffix token and its text come before the prefix
 * token and its text.
 */
final class InfillPrompt {

    /** llama-server's default {@code --batch-size}, which sizes the prefix and suffix taken. */
    static final int LOGICAL_BATCH = 2048;
    /** llama-server's default {@code --n-predict} (no limit), which the room for the other files counts with. */
    private static final int SERVER_PREDICT = -1;
    /** Between two files' text where the vocabulary has no file separator: a line "--- snippet ---" apart. */
    private static final String SNIPPET_LINE = "\n\n--- snippet ---\n\n";

    private InfillPrompt() {
    }

    /**
     * The prompt's tokens for {@code body} ({@code input_prefix}, {@code input_suffix}: texts, or arrays of texts
     * and token ids; {@code input_extra}: {@code [{"filename": ..., "text": ...}]}; {@code prompt}: a text), in a
     * context of {@code contextLength} tokens; {@code suffixFirst}: as llama.cpp's {@code --spm-infill} lays it out.
     *
     * @throws ApiException (501) when the vocabulary has no fill-in-the-middle tokens, or (400) for a malformed field
     */
    static int[] of(Tokenizer tokenizer, RequestFields body, int contextLength, boolean suffixFirst) {
        Vocabulary vocabulary = tokenizer.vocabulary();
        String missing = (vocabulary.fimPrefix() == Vocabulary.NONE ? "prefix token is missing. " : "")
                + (vocabulary.fimSuffix() == Vocabulary.NONE ? "suffix token is missing. " : "")
                + (vocabulary.fimMiddle() == Vocabulary.NONE ? "middle token is missing. " : "");
        if (!missing.isEmpty()) {
            throw ApiException.notSupported("Infill is not supported by this model: " + missing.strip());
        }
        List<Integer> prefix = mixed(tokenizer, body, "input_prefix");
        List<Integer> suffix = mixed(tokenizer, body, "input_suffix");
        List<Integer> prompt = ids(tokenizer.encode(body.string("prompt").orElse(""), false, true));

        List<Integer> extra = new ArrayList<>();
        int separator = vocabulary.fimFileSeparator();
        if (vocabulary.fimRepository() != Vocabulary.NONE) {
            extra.add(vocabulary.fimRepository());
            extra.addAll(ids(tokenizer.encode("myproject\n", false, false)));
        }
        for (RequestFields chunk : body.objects("input_extra")) {
            String text = chunk.requiredString("text");
            String filename = chunk.string("filename").orElse("tmp");
            if (separator != Vocabulary.NONE) {
                extra.add(separator);
                extra.addAll(ids(tokenizer.encode(filename + "\n", false, false)));
            } else {
                extra.addAll(ids(tokenizer.encode(SNIPPET_LINE, false, false)));
            }
            extra.addAll(ids(tokenizer.encode(text, false, false)));
        }
        if (separator != Vocabulary.NONE) {
            extra.add(separator);
            extra.addAll(ids(tokenizer.encode("filename\n", false, false)));
        }

        int prefixTaken = Math.min(prefix.size(), 3 * (LOGICAL_BATCH / 4));
        int suffixTaken = Math.min(suffix.size(), Math.max(0, LOGICAL_BATCH / 4 - (2 + prompt.size())));
        int extraTaken = Math.min(Math.max(0, contextLength - LOGICAL_BATCH - 2 * SERVER_PREDICT), extra.size());

        List<Integer> tokens = new ArrayList<>(extra.subList(extra.size() - extraTaken, extra.size()));
        if (vocabulary.addBos()) {
            tokens.add(vocabulary.bos());
        }
        List<Integer> prefixPart = new ArrayList<>();
        prefixPart.add(vocabulary.fimPrefix());
        prefixPart.addAll(prefix.subList(prefix.size() - prefixTaken, prefix.size()));
        prefixPart.addAll(prompt);
        List<Integer> suffixPart = new ArrayList<>();
        suffixPart.add(vocabulary.fimSuffix());
        suffixPart.addAll(suffix.subList(0, suffixTaken));
        tokens.addAll(suffixFirst ? suffixPart : prefixPart);
        tokens.addAll(suffixFirst ? prefixPart : suffixPart);
        tokens.add(vocabulary.fimMiddle());
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }

    /** {@code name}, required: a text, or an array of texts and token ids, as token ids, no special token added or parsed. */
    private static List<Integer> mixed(Tokenizer tokenizer, RequestFields body, String name) {
        if (!body.has(name)) {
            throw ApiException.missing(name);
        }
        return TokenizerEndpoints.mixed(tokenizer, body.raw(name), name, false, false);
    }

    private static List<Integer> ids(int[] tokens) {
        return java.util.Arrays.stream(tokens).boxed().toList();
    }
}
