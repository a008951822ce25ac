package dev.panllama.model.llama4;

import dev.panllama.gguf.GgufArray;
import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufMetadata;
import dev.panllama.model.Architecture;
import dev.panllama.model.Dimensions;
import dev.panllama.model.Experts;
import dev.panllama.model.GraphBuilder;
import dev.panllama.model.LayerPlan;
import dev.panllama.model.LayerPlan.Attention;
import dev.panllama.model.LayerPlan.FeedForward;
import dev.panllama.model.LayerPlan.Positions;
import dev.panllama.model.ModelConfig;
import dev.panllama.model.ModelKey;
import dev.panllama.model.TemperatureTuning;
import dev.panllama.model.WeightLists;
import dev.panllama.model.WeightSpec;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@code llama4}: Scout, Maverick. The one home of Llama 4's rules; what the GGUF leaves implicit
 * follows llama.cpp's {@code src/models/llama4.cpp}:
 * <ul>
 *   <li>chunked attention uses chunks of {@value #CHUNK} tokens whatever {@code attention.sliding_window}
 *       says; {@code attention.sliding_window_pattern} (a number N, default 4, or one flag per layer)
 *       makes every N-th layer global, the rest chunked;</li>
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
public final class Llama4 implements Architecture {

    /** Tokens per chunk of chunked attention. */
    public static final int CHUNK = 8192;
    /** Every this many layers, one is NoPE (the last of each group). */
    public static final int NOPE_LAYER_STEP = 4;
    private static final int DEFAULT_WINDOW_PATTERN = 4;
    /** llama.cpp leaves out the QK norm for models of this many experts (Maverick). */
    private static final int MAVERICK_EXPERTS = 128;
    private static final TemperatureTuning TEMPERATURE = new TemperatureTuning(CHUNK, 0.1f, 1.0f);

    @Override
    public String name() {
        return "llama4";
    }

    /** Whether a model of {@code experts} experts normalizes Q and K on its RoPE layers. */
    public static boolean usesQkNorm(int experts) {
        return experts != MAVERICK_EXPERTS;
    }

    /** Whether layer {@code layer} is a MoE layer, given {@code interleave_moe_layer_step}. */
    public static boolean isMoeLayer(int layer, int moeLayerStep) {
        return moeLayerStep > 0 && (layer + 1) % moeLayerStep == 0;
    }

    /** Whether layer {@code layer} rotates Q and K (NoPE layers do not), when chunked attention is on. */
    public static boolean usesRope(int layer) {
        return (layer + 1) % NOPE_LAYER_STEP != 0;
    }

    @Override
    public ModelConfig configure(GgufMetadata metadata) {
        String arch = name();
        Dimensions dims = Dimensions.read(arch, metadata);
        String expertWidthKey = ModelKey.EXPERT_FEED_FORWARD_LENGTH.of(arch);
        Experts experts = Dimensions.readExperts(arch, metadata,
                metadata.contains(expertWidthKey) ? Dimensions.positive(metadata.getIntOrFirst(expertWidthKey), expertWidthKey) : 0,
                Experts.Gating.SIGMOID_BEFORE_EXPERTS, true);
        if (experts.count() == 0) {
            throw new GgufException("a llama4 model needs experts; " + ModelKey.EXPERT_COUNT.of(arch) + " is missing or 0");
        }
        if (experts.feedForward() == 0) {
            throw new GgufException("metadata key " + expertWidthKey + " is missing");
        }
        var rope = dims.readRope(arch, metadata);
        if (rope.dimensions() != dims.headSize()) {
            throw new GgufException("llama4 rotates whole heads; rope dimension count " + rope.dimensions()
                    + " differs from head size " + dims.headSize());
        }
        int moeStep = metadata.getInt(ModelKey.INTERLEAVE_MOE_LAYER_STEP.of(arch));
        boolean chunkedAttention = metadata.findInt(ModelKey.SLIDING_WINDOW.of(arch)).orElse(CHUNK) != 0;
        boolean[] chunked = chunkedAttention ? windowPattern(metadata, arch, dims.layers()) : new boolean[dims.layers()];
        List<LayerPlan.Layer> layers = new ArrayList<>();
        for (int i = 0; i < dims.layers(); i++) {
            boolean moe = isMoeLayer(i, moeStep);
            if (!moe && dims.feedForward() <= 0) {
                throw new GgufException("llama4 layer " + i + " is dense but " + ModelKey.FEED_FORWARD_LENGTH.of(arch) + " is missing");
            }
            layers.add(new LayerPlan.Layer(chunked[i] ? Attention.CHUNKED : Attention.GLOBAL,
                    !chunkedAttention || usesRope(i) ? Positions.ROPE : Positions.NOPE,
                    moe ? FeedForward.EXPERTS : FeedForward.DENSE));
        }
        LayerPlan plan = new LayerPlan(chunkedAttention ? CHUNK : 0, usesQkNorm(experts.count()), layers);
        return new ModelConfig(arch, dims, plan, experts, rope, chunkedAttention ? Optional.of(TEMPERATURE) : Optional.empty());
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

    /** Attention on every layer; a dense block, or the router, routed experts and shared expert on MoE layers. */
    @Override
    public List<WeightSpec> weights(ModelConfig config) {
        List<WeightSpec> weights = new ArrayList<>(WeightLists.modelWide(config));
        for (int layer = 0; layer < config.plan().count(); layer++) {
            weights.addAll(WeightLists.attention(config, layer));
            if (config.plan().isMoe(layer)) {
                weights.addAll(WeightLists.routedExperts(config, layer));
                weights.addAll(WeightLists.sharedExpert(config, layer));
            } else {
                weights.addAll(WeightLists.feedForward(config, layer));
            }
        }
        return weights;
    }

    @Override
    public GraphBuilder graph() {
        return new Llama4Graph();
    }
}
