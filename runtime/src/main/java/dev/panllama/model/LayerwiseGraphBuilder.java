package dev.panllama.model;

import dev.panllama.ggml.Tensor;

/**
 * A forward pass built layer by layer, in two halves per layer, so that the evaluator can stop a
 * graph at a mixture-of-experts layer's routing and build the rest of the pass in a later graph: how
 * it computes a layer's routed experts from where they are cached ({@code dev.panllama.eval}'s
 * segmented evaluation), which ggml cannot decide inside one graph. {@link #build} must be exactly the
 * composition of the halves, so that a pass built in pieces computes what the one graph does:
 * {@link GraphBlocks#embed}, then per layer {@link #attend} and {@link #feedForward} (with
 * {@link GraphBlocks#experts} on mixture-of-experts layers), then {@link GraphBlocks#logits}.
 */
public interface LayerwiseGraphBuilder extends GraphBuilder {

    /** Layer {@code layer} up to its feed-forward block, from the layer's input {@code x}. */
    FeedForwardInput attend(GraphBlocks blocks, ModelWeights weights, GraphInputs inputs, int layer, Tensor x);

    /**
     * The rest of layer {@code layer}: its feed-forward block added to the residual, the next layer's
     * input. {@code routedExperts} is the routed experts' weighted sum on a mixture-of-experts layer,
     * computed from {@code input.normed()}; null on a dense one.
     */
    Tensor feedForward(GraphBlocks blocks, ModelWeights weights, int layer, FeedForwardInput input, Tensor routedExperts);
}
