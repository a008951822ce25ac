package dev.panllama.model;

import java.util.Arrays;

/**
 * One weight a model family declares: its GGUF name, the shape its hyperparameters imply (innermost
 * dimension first), its role, and how the graph uses it. A family's list of these is the one
 * statement of its tensors: loading, the random-model writer and the converter walk it.
 *
 * @param layer    the layer, or -1 for a model-wide tensor
 * @param optional the model works without it (a tied output head reads the embedding; RoPE factors)
 */
public record WeightSpec(TensorName tensor, int layer, long[] shape, TensorRole role, Use use, boolean optional) {

    /** How the graph uses a weight: what decides whether a repacking buffer type can hold it, and F32 for the rest. */
    public enum Use {
        /** Rows looked up by token id. */
        GET_ROWS,
        /** Multiplied by activations. */
        MUL_MAT,
        /** One matrix per expert, multiplied by the rows routed to it. */
        MUL_MAT_ID,
        /** Multiplied element by element, always F32 (norms, RoPE factors). */
        ELEMENTWISE
    }

    public WeightSpec {
        shape = shape.clone();
    }

    /** A model-wide weight. */
    public static WeightSpec of(TensorName tensor, TensorRole role, Use use, long... shape) {
        return new WeightSpec(tensor, -1, shape, role, use, false);
    }

    /** A weight of layer {@code layer}. */
    public static WeightSpec of(TensorName tensor, int layer, TensorRole role, Use use, long... shape) {
        return new WeightSpec(tensor, layer, shape, role, use, false);
    }

    /** This weight, but one the model can do without. */
    public WeightSpec asOptional() {
        return new WeightSpec(tensor, layer, shape, role, use, true);
    }

    /** The GGUF name, e.g. {@code blk.3.attn_q.weight}. */
    public String name() {
        return layer < 0 ? tensor.of() : tensor.of(layer);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof WeightSpec spec && spec.tensor == tensor && spec.layer == layer
                && Arrays.equals(spec.shape, shape) && spec.role == role && spec.use == use && spec.optional == optional;
    }

    @Override
    public int hashCode() {
        return 31 * name().hashCode() + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name() + Arrays.toString(shape) + " " + role;
    }
}
