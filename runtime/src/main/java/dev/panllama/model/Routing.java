package dev.panllama.model;

import dev.panllama.ggml.Tensor;

/**
 * What a mixture-of-experts layer's router decided for a batch: the experts each token goes to and
 * the weight of each choice.
 *
 * @param selected I32 {@code [n_expert_used, n_tokens]}: the experts chosen, best first
 * @param weights  F32 {@code [1, n_expert_used, n_tokens]}: each choice's gating weight
 */
public record Routing(Tensor selected, Tensor weights) {
}
