package dev.panllama.model;

/**
 * What a weight does in its model. Placement keys on it: attention, norms, the router and the shared
 * expert are small and used by every token; routed experts are most of a MoE model's bytes and each
 * token uses few of them.
 */
public enum TensorRole {
    EMBEDDING,
    OUTPUT,
    NORM,
    ATTENTION,
    /** A dense layer's feed-forward block. */
    FEED_FORWARD,
    ROUTER,
    SHARED_EXPERT,
    ROUTED_EXPERT,
    /** Per-dimension divisors of scaled RoPE. */
    ROPE_FACTORS
}
