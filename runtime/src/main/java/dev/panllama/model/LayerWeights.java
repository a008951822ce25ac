package dev.panllama.model;

import dev.panllama.ggml.Tensor;

import java.util.Map;

/**
 * One transformer block's weights, as the graph code reads them. A dense block has
 * {@code ffnGate/Up/Down}; a mixture-of-experts block has the router and the stacked experts, and for
 * Llama 4 a shared expert; the absent ones are null. Shapes are in {@link WeightLists}.
 */
public record LayerWeights(
        Tensor attnNorm, Tensor wq, Tensor wk, Tensor wv, Tensor wo, Tensor ffnNorm,
        Tensor ffnGate, Tensor ffnUp, Tensor ffnDown,
        Tensor router, Tensor expertsGate, Tensor expertsUp, Tensor expertsDown,
        Tensor sharedGate, Tensor sharedUp, Tensor sharedDown) {

    /** Layer {@code layer}'s weights among {@code loaded}, by GGUF name. */
    static LayerWeights of(int layer, Map<String, Tensor> loaded) {
        return new LayerWeights(
                loaded.get(TensorName.ATTN_NORM.of(layer)), loaded.get(TensorName.ATTN_Q.of(layer)),
                loaded.get(TensorName.ATTN_K.of(layer)), loaded.get(TensorName.ATTN_V.of(layer)),
                loaded.get(TensorName.ATTN_OUT.of(layer)), loaded.get(TensorName.FFN_NORM.of(layer)),
                loaded.get(TensorName.FFN_GATE.of(layer)), loaded.get(TensorName.FFN_UP.of(layer)),
                loaded.get(TensorName.FFN_DOWN.of(layer)),
                loaded.get(TensorName.FFN_GATE_INP.of(layer)), loaded.get(TensorName.FFN_GATE_EXPS.of(layer)),
                loaded.get(TensorName.FFN_UP_EXPS.of(layer)), loaded.get(TensorName.FFN_DOWN_EXPS.of(layer)),
                loaded.get(TensorName.FFN_GATE_SHEXP.of(layer)), loaded.get(TensorName.FFN_UP_SHEXP.of(layer)),
                loaded.get(TensorName.FFN_DOWN_SHEXP.of(layer)));
    }
}
