package dev.panllama.convert;

import dev.panllama.gguf.GgufValue;
import dev.panllama.gguf.GgufWriter;
import dev.panllama.model.ModelKey;
import dev.panllama.model.TensorName;
import dev.panllama.model.WeightSpec;
import dev.panllama.model.llama4.Llama4;

import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Llama 4 (Scout, Maverick): MoE on every {@code interleave_moe_layer_step}-th layer, dense layers
 * between. Hugging Face fuses each layer's expert gate and up projections into one
 * {@code [experts, hidden, 2 * ff]} tensor and stores the experts' down projection as
 * {@code [experts, ff, hidden]}; GGUF wants separate gate and up and every expert matrix with its
 * input as the row, so both are read transposed. RoPE already rotates interleaved pairs: no reordering.
 * The text model's settings sit in config.json's text_config; {@code intermediate_size} is the experts'
 * width and {@code intermediate_size_mlp} the dense layers'.
 */
final class Llama4Layout extends CheckpointLayout {

    private final int experts;
    private final int expertsUsed;
    private final int expertFeedForward;
    private final int denseFeedForward;
    private final int moeStep;

    Llama4Layout(HfConfig config) {
        super(config);
        this.experts = config.requireInt("num_local_experts");
        this.expertsUsed = config.requireInt("num_experts_per_tok");
        this.expertFeedForward = config.requireInt("intermediate_size");
        this.denseFeedForward = config.requireInt("intermediate_size_mlp");
        this.moeStep = config.findInt("interleave_moe_layer_step").orElse(1);
        if (experts <= 0 || expertsUsed <= 0 || expertsUsed > experts || moeStep <= 0) {
            throw new CheckpointException(config.file() + ": num_local_experts " + experts + ", num_experts_per_tok "
                    + expertsUsed + ", interleave_moe_layer_step " + moeStep + " do not describe a Llama 4 MoE");
        }
    }

    @Override
    String architecture() {
        return "llama4";
    }

    @Override
    int feedForwardLength() {
        return denseFeedForward;
    }

    @Override
    int experts() {
        return experts;
    }

    @Override
    void putArchitectureMetadata(GgufWriter writer) {
        writer.put(ModelKey.EXPERT_COUNT.of("llama4"), GgufValue.ofUint32(experts))
                .put(ModelKey.EXPERT_USED_COUNT.of("llama4"), GgufValue.ofUint32(expertsUsed))
                .put(ModelKey.INTERLEAVE_MOE_LAYER_STEP.of("llama4"), GgufValue.ofUint32(moeStep))
                .put(ModelKey.EXPERT_FEED_FORWARD_LENGTH.of("llama4"), GgufValue.ofUint32(expertFeedForward));
        if (config.find("layer_types").orElse(null) instanceof List<?> types && !types.isEmpty()
                && types.stream().allMatch("full_attention"::equals)) {
            // Every layer global (MobileLLM-style): no chunking, RoPE everywhere.
            writer.put(ModelKey.SLIDING_WINDOW.of("llama4"), GgufValue.ofUint32(0));
        }
    }

    @Override
    void noticeFixedSettings(Consumer<String> notices) {
        config.findInt("attention_chunk_size").filter(chunk -> chunk != Llama4.CHUNK).ifPresent(chunk ->
                notices.accept("config.json's attention_chunk_size is " + chunk + "; GGUF readers use " + Llama4.CHUNK));
        boolean qkNorm = config.find("use_qk_norm").map(Boolean.TRUE::equals).orElse(true);
        if (qkNorm != Llama4.usesQkNorm(experts)) {
            notices.accept("config.json's use_qk_norm is " + qkNorm + "; GGUF readers decide it by the expert count"
                    + " (off only for Maverick's)");
        }
        if (config.find("no_rope_layers").orElse(null) instanceof List<?> flags && !flags.isEmpty()) {
            for (int layer = 0; layer < flags.size(); layer++) {
                boolean rope = !Double.valueOf(0).equals(flags.get(layer));
                if (rope != Llama4.usesRope(layer)) {
                    notices.accept("config.json's no_rope_layers differ from every fourth layer, which GGUF readers assume");
                    break;
                }
            }
        }
    }

    @Override
    boolean interleavesRope() {
        return false;
    }

    /**
     * Dense blocks and shared experts as they are; the router as it is; the fused expert gate and up
     * projections split, and both expert matrices read transposed.
     */
    @Override
    Optional<PlannedTensor> planFamilyWeight(WeightSpec weight, Tensors tensors) {
        String prefix = "model.layers." + weight.layer() + ".feed_forward.";
        long[] shape = weight.shape();
        return Optional.of(switch (weight.tensor()) {
            case FFN_GATE, FFN_UP, FFN_DOWN -> feedForwardWeight(weight, tensors, prefix);
            case FFN_GATE_SHEXP, FFN_UP_SHEXP, FFN_DOWN_SHEXP -> feedForwardWeight(weight, tensors, prefix + "shared_expert.");
            case FFN_GATE_INP -> asIs(weight, tensors, prefix + "router.weight");
            case FFN_GATE_EXPS, FFN_UP_EXPS -> {
                SafetensorsFile.Tensor gateUp = tensors.takeShared(prefix + "experts.gate_up_proj", experts, hidden, 2L * expertFeedForward);
                long firstColumn = weight.tensor() == TensorName.FFN_GATE_EXPS ? 0 : expertFeedForward;
                yield new PlannedTensor(weight.name(), shape, TensorSource.transposedColumns(gateUp, firstColumn, expertFeedForward), gateUp);
            }
            case FFN_DOWN_EXPS -> {
                SafetensorsFile.Tensor down = tensors.take(prefix + "experts.down_proj", experts, expertFeedForward, hidden);
                yield new PlannedTensor(weight.name(), shape, TensorSource.transposedColumns(down, 0, hidden), down);
            }
            default -> throw new IllegalArgumentException(weight + " is not a Llama 4 weight");
        });
    }
}
