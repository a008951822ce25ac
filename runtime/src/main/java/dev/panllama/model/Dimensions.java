package dev.panllama.model;

import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufMetadata;

/**
 * The sizes every Llama family model reads the same way from its GGUF, checked as they are read.
 *
 * @param feedForward    the dense feed-forward width; 0 when the file has none (every layer MoE)
 * @param attentionScale the scale of Q·K: the file's, else {@code 1/sqrt(headSize)}
 */
public record Dimensions(
        int vocabSize, int contextLength, int embedding, int layers, int heads, int kvHeads, int headSize,
        int feedForward, float rmsEpsilon, float attentionScale) {

    /** Reads and checks the dimensions of an {@code arch} model. */
    public static Dimensions read(String arch, GgufMetadata metadata) {
        int embedding = positive(metadata.getInt(ModelKey.EMBEDDING_LENGTH.of(arch)), ModelKey.EMBEDDING_LENGTH.of(arch));
        int layers = positive(metadata.getInt(ModelKey.BLOCK_COUNT.of(arch)), ModelKey.BLOCK_COUNT.of(arch));
        if (layers > 4096) {
            throw new GgufException("metadata key " + ModelKey.BLOCK_COUNT.of(arch) + " says " + layers + " layers");
        }
        int heads = positive(metadata.getIntOrFirst(ModelKey.HEAD_COUNT.of(arch)), ModelKey.HEAD_COUNT.of(arch));
        int kvHeads = metadata.contains(ModelKey.HEAD_COUNT_KV.of(arch))
                ? positive(metadata.getIntOrFirst(ModelKey.HEAD_COUNT_KV.of(arch)), ModelKey.HEAD_COUNT_KV.of(arch))
                : heads;
        if (heads % kvHeads != 0) {
            throw new GgufException(arch + " has " + heads + " query heads, not a multiple of its " + kvHeads + " KV heads");
        }
        int headSize = metadata.findInt(ModelKey.KEY_LENGTH.of(arch)).orElse(embedding / heads);
        int valueSize = metadata.findInt(ModelKey.VALUE_LENGTH.of(arch)).orElse(headSize);
        if (headSize <= 0 || valueSize != headSize) {
            throw new GgufException(arch + " with key length " + headSize + " and value length " + valueSize + " is not supported");
        }
        int vocab = metadata.findInt(ModelKey.VOCAB_SIZE.of(arch))
                .orElseGet(() -> metadata.getArray("tokenizer.ggml.tokens").length());
        float attentionScale = metadata.findFloat(ModelKey.ATTENTION_SCALE.of(arch)).orElse(0f);
        return new Dimensions(
                positive(vocab, ModelKey.VOCAB_SIZE.of(arch)),
                positive(metadata.getInt(ModelKey.CONTEXT_LENGTH.of(arch)), ModelKey.CONTEXT_LENGTH.of(arch)),
                embedding, layers, heads, kvHeads, headSize,
                metadata.findInt(ModelKey.FEED_FORWARD_LENGTH.of(arch)).isPresent()
                        ? metadata.getIntOrFirst(ModelKey.FEED_FORWARD_LENGTH.of(arch)) : 0,
                metadata.getFloat(ModelKey.RMS_EPSILON.of(arch)),
                attentionScale == 0f ? (float) (1 / Math.sqrt(headSize)) : attentionScale);
    }

    /** Reads the rotary embedding's settings; chunked layers use {@code rope.freq_base_swa} where the file has it. */
    public RotaryEmbedding readRope(String arch, GgufMetadata metadata) {
        int ropeDimensions = metadata.findInt(ModelKey.ROPE_DIMENSION_COUNT.of(arch)).orElse(headSize);
        if (ropeDimensions <= 0 || ropeDimensions > headSize || ropeDimensions % 2 != 0) {
            throw new GgufException(arch + ": rope dimension count " + ropeDimensions + " does not fit head size " + headSize);
        }
        float base = metadata.findFloat(ModelKey.ROPE_FREQ_BASE.of(arch)).orElse(10000f);
        return new RotaryEmbedding(base, metadata.findFloat(ModelKey.ROPE_FREQ_BASE_SWA.of(arch)).orElse(base), ropeDimensions);
    }

    /**
     * Reads the mixture of experts ({@link Experts#NONE} when the file has none) whose experts are
     * {@code feedForward} wide and gated by {@code gating}, with or without a shared expert.
     */
    public static Experts readExperts(String arch, GgufMetadata metadata, int feedForward, Experts.Gating gating, boolean shared) {
        int experts = metadata.findInt(ModelKey.EXPERT_COUNT.of(arch)).orElse(0);
        int expertsUsed = metadata.findInt(ModelKey.EXPERT_USED_COUNT.of(arch)).orElse(0);
        if (experts < 0 || experts > 512 || (experts > 0 && (expertsUsed < 1 || expertsUsed > experts))) {
            throw new GgufException(arch + ": " + expertsUsed + " of " + experts + " experts used is not a valid mixture");
        }
        if (experts == 0) {
            return Experts.NONE;
        }
        return new Experts(experts, expertsUsed, feedForward, gating, shared,
                metadata.findFloat(ModelKey.EXPERT_WEIGHTS_SCALE.of(arch)).orElse(0f));
    }

    /** Q's width: all heads. */
    public int queryWidth() {
        return heads * headSize;
    }

    /** K's and V's width: the KV heads. */
    public int kvWidth() {
        return kvHeads * headSize;
    }

    /** Checks a positive value, naming the key when it is not. */
    public static int positive(int value, String key) {
        if (value <= 0) {
            throw new GgufException("metadata key " + key + " must be positive, not " + value);
        }
        return value;
    }
}
