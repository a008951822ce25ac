package dev.panllama.model;

import dev.panllama.ggml.Tensor;

/**
 * What a layer's feed-forward block starts from, both {@code [n_embd, n_tokens]}.
 *
 * @param residual the attention block's output added to its input, which the feed-forward output is added to
 * @param normed   the residual RMS-normed with the layer's weight: the input of the feed-forward network
 */
public record FeedForwardInput(Tensor residual, Tensor normed) {
}
