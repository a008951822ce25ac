package dev.panllama.model;

/**
 * Rotary position embedding: the frequency base of global and of chunked layers (Llama 4 may give the
 * chunked ones their own), and how many dimensions of each head rotate.
 */
public record RotaryEmbedding(float base, float baseChunked, int dimensions) {

    /** The frequency base of {@code layer} under {@code plan}. */
    public float baseOf(LayerPlan plan, int layer) {
        return plan.isChunked(layer) ? baseChunked : base;
    }
}
