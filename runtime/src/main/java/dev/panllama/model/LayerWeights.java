package dev.panllama.model;

import dev.panllama.ggml.Tensor;

/**
 * One transformer block's weights. A dense block has {@code ffnGate/Up/Down}; a mixture-of-experts
 * block has the router and the stacked experts, and for Llama 4 a shared expert; the absent ones are null.
 */
public record LayerWeights(
        Tensor attnNorm,      // F32 [n_embd]
        Tensor wq,            // [n_embd, n_head * head]
        Tensor wk,            // [n_embd, n_head_kv * head]
        Tensor wv,            // [n_embd, n_head_kv * head]
        Tensor wo,            // [n_head * head, n_embd]
        Tensor ffnNorm,       // F32 [n_embd]
        Tensor ffnGate,       // [n_embd, n_ff]
        Tensor ffnUp,         // [n_embd, n_ff]
        Tensor ffnDown,       // [n_ff, n_embd]
        Tensor router,        // [n_embd, n_expert]
        Tensor expertsGate,   // [n_embd, n_ff_exp, n_expert]
        Tensor expertsUp,     // [n_embd, n_ff_exp, n_expert]
        Tensor expertsDown,   // [n_ff_exp, n_embd, n_expert]
        Tensor sharedGate,    // [n_embd, n_ff_exp]
        Tensor sharedUp,      // [n_embd, n_ff_exp]
        Tensor sharedDown) {  // [n_ff_exp, n_embd]
}
