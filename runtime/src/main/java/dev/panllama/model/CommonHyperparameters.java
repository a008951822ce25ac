package dev.panllama.model;

import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufMetadata;

/** The hyperparameters every Llama family architecture reads the same way. */
record CommonHyperparameters(
        int vocabSize, int contextLength, int embedding, int layers, int heads, int kvHeads, int headSize,
        int feedForward, int experts, int expertsUsed, float rmsEpsilon, float ropeBase, int ropeDimensions,
        float attentionScale, float expertWeightsScale) {

    static CommonHyperparameters read(String arch, GgufMetadata metadata) {
        int embedding = Architecture.positive(metadata.getInt(ModelKey.EMBEDDING_LENGTH.of(arch)), ModelKey.EMBEDDING_LENGTH.of(arch));
        int layers = Architecture.positive(metadata.getInt(ModelKey.BLOCK_COUNT.of(arch)), ModelKey.BLOCK_COUNT.of(arch));
        if (layers > 4096) {
            throw new GgufException("metadata key " + ModelKey.BLOCK_COUNT.of(arch) + " says " + layers + " layers");
        }
        int heads = Architecture.positive(metadata.getIntOrFirst(ModelKey.HEAD_COUNT.of(arch)), ModelKey.HEAD_COUNT.of(arch));
        int kvHeads = metadata.contains(ModelKey.HEAD_COUNT_KV.of(arch))
                ? Architecture.positive(metadata.getIntOrFirst(ModelKey.HEAD_COUNT_KV.of(arch)), ModelKey.HEAD_COUNT_KV.of(arch))
                : heads;
        if (heads % kvHeads != 0) {
            throw new GgufException(arch + " has " + heads + " query heads, not a multiple of its " + kvHeads + " KV heads");
        }
        int headSize = metadata.findInt(ModelKey.KEY_LENGTH.of(arch)).orElse(embedding / heads);
        int valueSize = metadata.findInt(ModelKey.VALUE_LENGTH.of(arch)).orElse(headSize);
        if (headSize <= 0 || valueSize != headSize) {
            throw new GgufException(arch + " with key length " + headSize + " and value length " + valueSize + " is not supported");
        }
        int ropeDimensions = metadata.findInt(ModelKey.ROPE_DIMENSION_COUNT.of(arch)).orElse(headSize);
        if (ropeDimensions <= 0 || ropeDimensions > headSize || ropeDimensions % 2 != 0) {
            throw new GgufException(arch + ": rope dimension count " + ropeDimensions + " does not fit head size " + headSize);
        }
        int vocab = metadata.findInt(ModelKey.VOCAB_SIZE.of(arch))
                .orElseGet(() -> metadata.getArray("tokenizer.ggml.tokens").length());
        int experts = metadata.findInt(ModelKey.EXPERT_COUNT.of(arch)).orElse(0);
        int expertsUsed = metadata.findInt(ModelKey.EXPERT_USED_COUNT.of(arch)).orElse(0);
        if (experts < 0 || experts > 512 || (experts > 0 && (expertsUsed < 1 || expertsUsed > experts))) {
            throw new GgufException(arch + ": " + expertsUsed + " of " + experts + " experts used is not a valid mixture");
        }
        return new CommonHyperparameters(
                Architecture.positive(vocab, ModelKey.VOCAB_SIZE.of(arch)),
                Architecture.positive(metadata.getInt(ModelKey.CONTEXT_LENGTH.of(arch)), ModelKey.CONTEXT_LENGTH.of(arch)),
                embedding, layers, heads, kvHeads, headSize,
                metadata.findInt(ModelKey.FEED_FORWARD_LENGTH.of(arch)).isPresent()
                        ? metadata.getIntOrFirst(ModelKey.FEED_FORWARD_LENGTH.of(arch)) : 0,
                experts, expertsUsed,
                metadata.getFloat(ModelKey.RMS_EPSILON.of(arch)),
                metadata.findFloat(ModelKey.ROPE_FREQ_BASE.of(arch)).orElse(10000f),
                ropeDimensions,
                metadata.findFloat(ModelKey.ATTENTION_SCALE.of(arch)).orElse(0f),
                metadata.findFloat(ModelKey.EXPERT_WEIGHTS_SCALE.of(arch)).orElse(0f));
    }

    /** The scale of Q·K: the file's attention scale, else 1/sqrt(head size). */
    float queryKeyScale() {
        return attentionScale == 0f ? (float) (1 / Math.sqrt(headSize)) : attentionScale;
    }
}
