package dev.panllama.convert;

import dev.panllama.gguf.GgufValue;
import dev.panllama.gguf.GgufWriter;
import dev.panllama.model.ModelKey;
import dev.panllama.model.TensorName;

import java.util.List;
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

    /** llama.cpp fixes the chunk of chunked attention and the NoPE pattern instead of reading them from the GGUF. */
    private static final int LLAMA_CPP_CHUNK = 8192;
    private static final int LLAMA_CPP_NOPE_INTERVAL = 4;
    /** llama.cpp leaves out the QK norm for the 128-expert model (Maverick) and keeps it otherwise. */
    private static final int LLAMA_CPP_NO_QK_NORM_EXPERTS = 128;

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
        config.findInt("attention_chunk_size").filter(chunk -> chunk != LLAMA_CPP_CHUNK).ifPresent(chunk ->
                notices.accept("config.json's attention_chunk_size is " + chunk + "; GGUF readers use " + LLAMA_CPP_CHUNK));
        boolean qkNorm = config.find("use_qk_norm").map(Boolean.TRUE::equals).orElse(true);
        if (qkNorm != (experts != LLAMA_CPP_NO_QK_NORM_EXPERTS)) {
            notices.accept("config.json's use_qk_norm is " + qkNorm + "; GGUF readers decide it by the expert count"
                    + " (off only with " + LLAMA_CPP_NO_QK_NORM_EXPERTS + " experts, as Maverick has)");
        }
        if (config.find("no_rope_layers").orElse(null) instanceof List<?> flags && !flags.isEmpty()) {
            for (int layer = 0; layer < flags.size(); layer++) {
                boolean rope = !Double.valueOf(0).equals(flags.get(layer));
                if (rope != ((layer + 1) % LLAMA_CPP_NOPE_INTERVAL != 0)) {
                    notices.accept("config.json's no_rope_layers differ from every fourth layer, which GGUF readers assume");
                    break;
                }
            }
        }
    }

    @Override
    void planLayer(int layer, Tensors tensors, List<PlannedTensor> plan) {
        planAttention(layer, tensors, plan, false);
        String prefix = "model.layers." + layer + ".feed_forward.";
        if ((layer + 1) % moeStep != 0) {
            planFeedForward(prefix, layer, denseFeedForward, tensors, plan, TensorName.FFN_GATE, TensorName.FFN_UP, TensorName.FFN_DOWN);
            return;
        }
        plan.add(asIs(TensorName.FFN_GATE_INP.of(layer), tensors.take(prefix + "router.weight", experts, hidden)));
        SafetensorsFile.Tensor gateUp = tensors.take(prefix + "experts.gate_up_proj", experts, hidden, 2L * expertFeedForward);
        long[] gateUpShape = {hidden, expertFeedForward, experts};
        plan.add(new PlannedTensor(TensorName.FFN_GATE_EXPS.of(layer), gateUpShape,
                TensorSource.transposedColumns(gateUp, 0, expertFeedForward), gateUp));
        plan.add(new PlannedTensor(TensorName.FFN_UP_EXPS.of(layer), gateUpShape,
                TensorSource.transposedColumns(gateUp, expertFeedForward, expertFeedForward), gateUp));
        SafetensorsFile.Tensor down = tensors.take(prefix + "experts.down_proj", experts, expertFeedForward, hidden);
        plan.add(new PlannedTensor(TensorName.FFN_DOWN_EXPS.of(layer), new long[] {expertFeedForward, hidden, experts},
                TensorSource.transposedColumns(down, 0, hidden), down));
        planFeedForward(prefix + "shared_expert.", layer, expertFeedForward, tensors, plan,
                TensorName.FFN_GATE_SHEXP, TensorName.FFN_UP_SHEXP, TensorName.FFN_DOWN_SHEXP);
    }
}
