package dev.panllama.model;

import dev.panllama.gguf.GgufArray;
import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufMetadata;

/**
 * {@code llama4}: Scout, Maverick. What the GGUF leaves implicit follows llama.cpp's
 * {@code src/models/llama4.cpp}:
 * <ul>
 *   <li>chunked attention uses chunks of 8192 tokens whatever {@code attention.sliding_window} says;
 *       {@code attention.sliding_window_pattern} (a number N, default 4, or one flag per layer) makes
 *       every N-th layer global, the rest chunked;</li>
 *   <li>every fourth layer is NoPE: no rotation, queries scaled by the attention temperature
 *       ({@code log(floor((pos + 1) / 8192) + 1) * 0.1 + 1});</li>
 *   <li>RoPE layers RMS-normalize Q and K, except in models of 128 experts (Maverick);</li>
 *   <li>MoE layers ({@code (i + 1) % interleave_moe_layer_step == 0}) pick experts by router logit and
 *       apply sigmoid weights to the expert input; a shared expert always runs and is added.</li>
 * </ul>
 * A file with {@code attention.sliding_window = 0} asks for no chunked attention. llama.cpp then means
 * RoPE on every layer (its code marks the last layer NoPE and aborts computing its temperature);
 * panllama does what it means: RoPE and global attention on every layer, no temperature.
 */
public final class Llama4Architecture implements Architecture {

    static final int CHUNK = 8192;
    private static final int NOPE_LAYER_STEP = 4;
    private static final int DEFAULT_WINDOW_PATTERN = 4;
    private static final int MAVERICK_EXPERTS = 128;

    @Override
    public String name() {
        return "llama4";
    }

    @Override
    public ModelConfig configure(GgufMetadata metadata) {
        String arch = name();
        CommonHyperparameters common = CommonHyperparameters.read(arch, metadata);
        if (common.experts() == 0) {
            throw new GgufException("a llama4 model needs experts; " + ModelKey.EXPERT_COUNT.of(arch) + " is missing or 0");
        }
        if (common.ropeDimensions() != common.headSize()) {
            throw new GgufException("llama4 rotates whole heads; rope dimension count " + common.ropeDimensions()
                    + " differs from head size " + common.headSize());
        }
        int layers = common.layers();
        int moeStep = metadata.getInt(ModelKey.INTERLEAVE_MOE_LAYER_STEP.of(arch));
        int expertFeedForward = Architecture.positive(
                metadata.getIntOrFirst(ModelKey.EXPERT_FEED_FORWARD_LENGTH.of(arch)), ModelKey.EXPERT_FEED_FORWARD_LENGTH.of(arch));
        boolean[] moe = new boolean[layers];
        for (int i = 0; i < layers; i++) {
            moe[i] = moeStep > 0 && (i + 1) % moeStep == 0;
        }

        boolean chunkedAttention = metadata.findInt(ModelKey.SLIDING_WINDOW.of(arch)).orElse(CHUNK) != 0;
        boolean[] chunked = new boolean[layers];
        boolean[] rope = new boolean[layers];
        for (int i = 0; i < layers; i++) {
            rope[i] = !chunkedAttention || (i + 1) % NOPE_LAYER_STEP != 0;
        }
        if (chunkedAttention) {
            chunked = windowPattern(metadata, arch, layers);
        }
        for (int i = 0; i < layers; i++) {
            boolean needsDense = !moe[i];
            if (needsDense && common.feedForward() <= 0) {
                throw new GgufException("llama4 layer " + i + " is dense but " + ModelKey.FEED_FORWARD_LENGTH.of(arch) + " is missing");
            }
        }
        float ropeBaseChunked = metadata.findFloat(ModelKey.ROPE_FREQ_BASE_SWA.of(arch)).orElse(common.ropeBase());
        return new ModelConfig(arch, common.vocabSize(), common.contextLength(), common.embedding(), layers,
                common.heads(), common.kvHeads(), common.headSize(), common.feedForward(),
                common.experts(), common.expertsUsed(), expertFeedForward, ModelConfig.ExpertGating.SIGMOID_BEFORE_EXPERTS,
                true, common.expertWeightsScale(), common.rmsEpsilon(), common.queryKeyScale(),
                common.ropeBase(), ropeBaseChunked, common.ropeDimensions(),
                chunkedAttention ? CHUNK : 0, chunked, rope, moe,
                chunkedAttention, CHUNK, 0.1f, 1.0f, common.experts() != MAVERICK_EXPERTS);
    }

    /** Which layers are chunked: a per-layer array, or every N-th layer global (N from the file, else 4). */
    private static boolean[] windowPattern(GgufMetadata metadata, String arch, int layers) {
        String key = ModelKey.SLIDING_WINDOW_PATTERN.of(arch);
        boolean[] chunked = new boolean[layers];
        var value = metadata.find(key);
        if (value.isPresent() && value.get().value() instanceof GgufArray array) {
            if (array.length() != layers) {
                throw new GgufException("metadata key " + key + " has " + array.length() + " entries for " + layers + " layers");
            }
            Object elements = array.elements();
            for (int i = 0; i < layers; i++) {
                chunked[i] = elements instanceof boolean[] flags ? flags[i] : array.integers()[i] != 0;
            }
            return chunked;
        }
        int pattern = metadata.findInt(key).orElse(DEFAULT_WINDOW_PATTERN);
        for (int i = 0; i < layers; i++) {
            chunked[i] = pattern == 0 || i % pattern < pattern - 1;
        }
        return chunked;
    }

    @Override
    public GraphBuilder graphBuilder() {
        return new Llama4Graph();
    }
}
