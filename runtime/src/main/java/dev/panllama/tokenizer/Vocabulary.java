package dev.panllama.tokenizer;

import dev.panllama.gguf.GgufArray;
import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufMetadata;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
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
    /** The tokens generation stops at, as llama.cpp's vocabulary lists them, ascending. */
    private final int[] endOfGeneration;
    /** Fill-in-the-middle's prefix, suffix and middle tokens, or {@link #NONE}. */
    private final int fimPrefix;
    private final int fimSuffix;
    private final int fimMiddle;
    /** Fill-in-the-middle's repository and file separator tokens (Qwen's {@code <|fim_repo|>}, {@code <|file_sep|>}), or {@link #NONE}. */
    private final int fimRepository;
    private final int fimFileSeparator;
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
        fimRepository = named(metadata, List.of("tokenizer.ggml.fim_rep_token_id"),
                "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>");
        fimFileSeparator = named(metadata, List.of("tokenizer.ggml.fim_sep_token_id"), "<|file_sep|>");
        endOfGeneration = endOfGeneration(metadata);
        fimPrefix = named(metadata, List.of("tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"), "<|fim_prefix|>",
                "<fim-prefix>", "<fim_prefix>", "<\uFF5Cfim\u2581begin\uFF5C>", "<PRE>", "\u2581<PRE>", "<|code_prefix|>", "<|prefix|>");
        fimSuffix = named(metadata, List.of("tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"), "<|fim_suffix|>",
                "<fim-suffix>", "<fim_suffix>", "<\uFF5Cfim\u2581hole\uFF5C>", "<SUF>", "\u2581<SUF>", "<|code_suffix|>", "<|suffix|>");
        fimMiddle = named(metadata, List.of("tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"), "<|fim_middle|>",
                "<fim-middle>", "<fim_middle>", "<\uFF5Cfim\u2581end\uFF5C>", "<MID>", "\u2581<MID>", "<|code_middle|>", "<|middle|>");
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

    /**
     * Token texts that end a generation wherever they stand in a vocabulary, as llama.cpp's list them (its
     * vocabulary loader finds them by text, as converted files do not all name them).
     */
    private static final Set<String> END_OF_GENERATION_TEXTS = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>",
            "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>",
            "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
            "<\uFF5Cend\u2581of\u2581sentence\uFF5C>", "[e~[");

    /**
     * The tokens generation stops at, as llama.cpp's vocabulary gathers them: end of sequence, end of turn,
     * end of message ({@code <|eom_id|>}, where Llama 3.1 stops after a call of a built-in tool), the
     * fill-in-the-middle padding, repository and file separator tokens, and every token of a text in
     * {@link #END_OF_GENERATION_TEXTS}.
     */
    private int[] endOfGeneration(GgufMetadata metadata) {
        Set<Integer> ids = new TreeSet<>();
        ids.add(eos);
        ids.add(eot);
        ids.add(named(metadata, List.of("tokenizer.ggml.eom_token_id"), "<|eom_id|>"));
        ids.add(named(metadata, List.of("tokenizer.ggml.fim_pad_token_id"), "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"));
        ids.add(fimRepository);
        ids.add(fimFileSeparator);
        for (String text : END_OF_GENERATION_TEXTS) {
            ids.add(id(text));
        }
        ids.removeIf(id -> id < 0 || id >= tokens.length);
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * A special token as llama.cpp finds it: the id under the first of {@code keys} the file has, else the
     * first of {@code texts} in the vocabulary; {@link #NONE} when neither, or when the id is outside it.
     */
    private int named(GgufMetadata metadata, List<String> keys, String... texts) {
        for (String key : keys) {
            Optional<Integer> id = metadata.findInt(key);
            if (id.isPresent()) {
                return id.get() >= 0 && id.get() < tokens.length ? id.get() : NONE;
            }
        }
        return firstOf(texts);
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

    /** Whether generation stops at {@code id}: end of sequence, of turn or of message, as llama.cpp's vocabulary says. */
    public boolean isEndOfGeneration(int id) {
        return id != NONE && Arrays.binarySearch(endOfGeneration, id) >= 0;
    }

    /** The tokens {@link #isEndOfGeneration} stops at, ascending, for banning them (llama.cpp's {@code --ignore-eos}). */
    public List<Integer> endOfGenerationIds() {
        return IntStream.of(endOfGeneration).boxed().toList();
    }

    /** Fill-in-the-middle's prefix token ({@code <PRE>}, {@code <|fim_prefix|>}, ...), or {@link #NONE}. */
    public int fimPrefix() {
        return fimPrefix;
    }

    /** Fill-in-the-middle's suffix token, or {@link #NONE}. */
    public int fimSuffix() {
        return fimSuffix;
    }

    /** Fill-in-the-middle's middle token, after which the model writes what goes between, or {@link #NONE}. */
    public int fimMiddle() {
        return fimMiddle;
    }

    /** Fill-in-the-middle's repository token, before a repository's name, or {@link #NONE}. */
    public int fimRepository() {
        return fimRepository;
    }

    /** Fill-in-the-middle's file separator, before each file's name, or {@link #NONE}. */
    public int fimFileSeparator() {
        return fimFileSeparator;
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
