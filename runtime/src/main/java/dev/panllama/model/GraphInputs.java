package dev.panllama.model;

import dev.panllama.ggml.Tensor;

import java.util.List;

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
     * A layer's keys and values and how the batch uses them. A layer's cells may be split into tiers, a
     * device's memory for the first ones and host memory for the rest ({@code dev.panllama.eval.KvCache}):
     * then each tier is a part. A part the batch writes nothing into has no cell indices; attention
     * reads the leading cells in use, those of each part one after another, in cell order.
     *
     * @param parts the tiers the batch writes or attention reads, in cell order; one part when all of the
     *              cells in use are in one tier
     * @param mask          F16 {@code [cells in use, n_tokens]}: 0 where a query may look, -inf elsewhere
     * @param keyRotation   F32 {@code [n, n]}: the orthonormal Walsh-Hadamard matrix Q and K are rotated by
     *                      in runs of {@code n} before K is stored (a quantized cache's, as llama.cpp's
     *                      {@code attn_rot_k}); null when they are not rotated
     * @param valueRotation F32 {@code [n, n]}: the matrix V is rotated by before it is stored, and attention's
     *                      output after (llama.cpp's {@code attn_rot_v}); null when it is not rotated
     */
    record KvView(List<KvPart> parts, Tensor mask, Tensor keyRotation, Tensor valueRotation) {
        public KvView {
            parts = List.copyOf(parts);
        }
    }

    /**
     * One tier of a layer's cells as the batch sees it.
     *
     * @param keys       the tier's key cells, {@code [kv_width, cells]}
     * @param values     the tier's value cells, {@code [kv_width, cells]}
     * @param cellsRead  how many of its leading cells attention reads (0 when it reads none)
     * @param batchRows  I32 {@code [m]}: the batch rows whose keys and values go to this tier; null when all
     *                   of them do (or none, see {@code keyCells})
     * @param keyCells   I64 {@code [m]}: the cell of the tier each of those rows' key goes to; null when the
     *                   batch writes nothing here
     * @param valueCells I64 {@code [m]}: the cell each value goes to (the same cells; llama.cpp keeps two
     *                   inputs, and the graph is llama.cpp's node for node)
     */
    record KvPart(Tensor keys, Tensor values, long cellsRead, Tensor batchRows, Tensor keyCells, Tensor valueCells) {
    }
}
