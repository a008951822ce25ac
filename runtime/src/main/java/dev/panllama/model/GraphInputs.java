package dev.panllama.model;

import dev.panllama.ggml.Tensor;

/**
 * What a graph reads besides the weights, for one micro-batch: the tokens and their positions, the rows
 * to output, and per layer the KV cache it stores into and attends over. The evaluator provides them
 * (see {@code dev.panllama.eval.BatchInputs}); the graph code only wires them in.
 */
public interface GraphInputs {

    /** I32 {@code [n_tokens]}: the token ids. */
    Tensor tokens();

    /** I32 {@code [n_tokens]}: each token's position in its sequence. */
    Tensor positions();

    /** I32 {@code [n_outputs]}: the batch rows whose logits are wanted. */
    Tensor outputRows();

    /** F32 {@code [1, 1, n_tokens]}: the NoPE layers' query scale per token; null without temperature tuning. */
    Tensor temperature();

    /** The cache of layer {@code layer} as this batch sees it. */
    KvView kv(int layer);

    /**
     * A layer's keys and values and how the batch uses them.
     *
     * @param keys        the layer's key cells, {@code [kv_width, cells]}
     * @param values      the layer's value cells, {@code [kv_width, cells]}
     * @param keyCells    I64 {@code [n_tokens]}: the cell each token's key goes to
     * @param valueCells  I64 {@code [n_tokens]}: the cell each token's value goes to (the same cells; llama.cpp
     *                    keeps two inputs, and the graph is llama.cpp's node for node)
     * @param mask        F16 {@code [cellsInUse, n_tokens]}: 0 where a query may look, -inf elsewhere
     * @param cellsInUse  how many leading cells attention looks at
     */
    record KvView(Tensor keys, Tensor values, Tensor keyCells, Tensor valueCells, Tensor mask, long cellsInUse) {
    }
}
