package dev.panllama.model;

import dev.panllama.model.WeightSpec.Use;

import java.util.List;

/** The weights the Llama family's architectures share, for their lists (llama.cpp's {@code create_tensor} calls). */
public final class WeightLists {

    private WeightLists() {
    }

    /** RoPE factors (where the file has them), the embedding, the output norm and head (absent when tied). */
    public static List<WeightSpec> modelWide(ModelConfig config) {
        Dimensions d = config.dims();
        return List.of(
                WeightSpec.of(TensorName.ROPE_FREQS, TensorRole.ROPE_FACTORS, Use.ELEMENTWISE, config.rope().dimensions() / 2).asOptional(),
                WeightSpec.of(TensorName.TOKEN_EMBD, TensorRole.EMBEDDING, Use.GET_ROWS, d.embedding(), d.vocabSize()),
                WeightSpec.of(TensorName.OUTPUT_NORM, TensorRole.NORM, Use.ELEMENTWISE, d.embedding()),
                WeightSpec.of(TensorName.OUTPUT, TensorRole.OUTPUT, Use.MUL_MAT, d.embedding(), d.vocabSize()).asOptional());
    }

    /** A layer's attention block with its norm, and the norm before its feed-forward block. */
    public static List<WeightSpec> attention(ModelConfig config, int layer) {
        Dimensions d = config.dims();
        long n = d.embedding();
        return List.of(
                WeightSpec.of(TensorName.ATTN_NORM, layer, TensorRole.NORM, Use.ELEMENTWISE, n),
                WeightSpec.of(TensorName.ATTN_Q, layer, TensorRole.ATTENTION, Use.MUL_MAT, n, d.queryWidth()),
                WeightSpec.of(TensorName.ATTN_K, layer, TensorRole.ATTENTION, Use.MUL_MAT, n, d.kvWidth()),
                WeightSpec.of(TensorName.ATTN_V, layer, TensorRole.ATTENTION, Use.MUL_MAT, n, d.kvWidth()),
                WeightSpec.of(TensorName.ATTN_OUT, layer, TensorRole.ATTENTION, Use.MUL_MAT, d.queryWidth(), n),
                WeightSpec.of(TensorName.FFN_NORM, layer, TensorRole.NORM, Use.ELEMENTWISE, n));
    }

    /** A dense layer's gated feed-forward block. */
    public static List<WeightSpec> feedForward(ModelConfig config, int layer) {
        return gatedBlock(layer, TensorRole.FEED_FORWARD, config.dims().embedding(), config.dims().feedForward(),
                TensorName.FFN_GATE, TensorName.FFN_UP, TensorName.FFN_DOWN);
    }

    /** A MoE layer's router and routed experts, stacked one matrix per expert. */
    public static List<WeightSpec> routedExperts(ModelConfig config, int layer) {
        long n = config.dims().embedding();
        long ff = config.experts().feedForward();
        long e = config.experts().count();
        return List.of(
                WeightSpec.of(TensorName.FFN_GATE_INP, layer, TensorRole.ROUTER, Use.MUL_MAT, n, e),
                WeightSpec.of(TensorName.FFN_GATE_EXPS, layer, TensorRole.ROUTED_EXPERT, Use.MUL_MAT_ID, n, ff, e),
                WeightSpec.of(TensorName.FFN_UP_EXPS, layer, TensorRole.ROUTED_EXPERT, Use.MUL_MAT_ID, n, ff, e),
                WeightSpec.of(TensorName.FFN_DOWN_EXPS, layer, TensorRole.ROUTED_EXPERT, Use.MUL_MAT_ID, ff, n, e));
    }

    /** A MoE layer's shared expert, which every token runs. */
    public static List<WeightSpec> sharedExpert(ModelConfig config, int layer) {
        return gatedBlock(layer, TensorRole.SHARED_EXPERT, config.dims().embedding(), config.experts().feedForward(),
                TensorName.FFN_GATE_SHEXP, TensorName.FFN_UP_SHEXP, TensorName.FFN_DOWN_SHEXP);
    }

    /** {@code down · (silu(gate · x) * (up · x))}: gate and up {@code [n, ff]}, down {@code [ff, n]}. */
    private static List<WeightSpec> gatedBlock(int layer, TensorRole role, long n, long ff, TensorName gate, TensorName up, TensorName down) {
        return List.of(
                WeightSpec.of(gate, layer, role, Use.MUL_MAT, n, ff),
                WeightSpec.of(up, layer, role, Use.MUL_MAT, n, ff),
                WeightSpec.of(down, layer, role, Use.MUL_MAT, ff, n));
    }
}
