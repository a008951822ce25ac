package dev.panllama.model;

import java.util.List;

/**
 * What each layer of a model is. Llama 4 mixes chunked local attention with global attention, RoPE
 * with NoPE layers, and dense with mixture-of-experts feed-forward blocks; Llama 2/3 has one kind.
 *
 * @param chunkSize tokens per attention chunk on chunked layers; 0 when no layer is chunked
 * @param qkNorm    RoPE layers apply an RMS norm without weights to Q and K
 */
public record LayerPlan(int chunkSize, boolean qkNorm, List<Layer> layers) {

    /** Where a layer's queries may look. */
    public enum Attention { GLOBAL, CHUNKED }

    /** How a layer encodes positions. */
    public enum Positions { ROPE, NOPE }

    /** A layer's feed-forward block. */
    public enum FeedForward { DENSE, EXPERTS }

    /** One layer's kind. */
    public record Layer(Attention attention, Positions positions, FeedForward feedForward) {
    }

    public LayerPlan {
        layers = List.copyOf(layers);
    }

    public int count() {
        return layers.size();
    }

    public boolean isChunked(int layer) {
        return layers.get(layer).attention() == Attention.CHUNKED;
    }

    public boolean usesRope(int layer) {
        return layers.get(layer).positions() == Positions.ROPE;
    }

    public boolean isMoe(int layer) {
        return layers.get(layer).feedForward() == FeedForward.EXPERTS;
    }

    public boolean hasChunkedLayers() {
        return layers.stream().anyMatch(layer -> layer.attention() == Attention.CHUNKED);
    }

    public boolean hasGlobalLayers() {
        return layers.stream().anyMatch(layer -> layer.attention() == Attention.GLOBAL);
    }

    public boolean hasNopeLayers() {
        return layers.stream().anyMatch(layer -> layer.positions() == Positions.NOPE);
    }
}
