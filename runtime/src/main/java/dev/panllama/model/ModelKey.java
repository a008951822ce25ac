package dev.panllama.model;

/**
 * The GGUF metadata keys of a model's hyperparameters, named once. Architecture keys carry the
 * architecture as their prefix ({@code llama4.embedding_length}); {@link #of(String)} fills it in.
 */
public enum ModelKey {
    ARCHITECTURE("general.architecture"),
    NAME("general.name"),
    FILE_TYPE("general.file_type"),
    VOCAB_SIZE("%s.vocab_size"),
    CONTEXT_LENGTH("%s.context_length"),
    EMBEDDING_LENGTH("%s.embedding_length"),
    BLOCK_COUNT("%s.block_count"),
    FEED_FORWARD_LENGTH("%s.feed_forward_length"),
    EXPERT_FEED_FORWARD_LENGTH("%s.expert_feed_forward_length"),
    EXPERT_COUNT("%s.expert_count"),
    EXPERT_USED_COUNT("%s.expert_used_count"),
    EXPERT_WEIGHTS_SCALE("%s.expert_weights_scale"),
    INTERLEAVE_MOE_LAYER_STEP("%s.interleave_moe_layer_step"),
    HEAD_COUNT("%s.attention.head_count"),
    HEAD_COUNT_KV("%s.attention.head_count_kv"),
    KEY_LENGTH("%s.attention.key_length"),
    VALUE_LENGTH("%s.attention.value_length"),
    RMS_EPSILON("%s.attention.layer_norm_rms_epsilon"),
    ATTENTION_SCALE("%s.attention.scale"),
    SLIDING_WINDOW("%s.attention.sliding_window"),
    SLIDING_WINDOW_PATTERN("%s.attention.sliding_window_pattern"),
    ROPE_DIMENSION_COUNT("%s.rope.dimension_count"),
    ROPE_FREQ_BASE("%s.rope.freq_base"),
    ROPE_FREQ_BASE_SWA("%s.rope.freq_base_swa"),
    ROPE_SCALING_TYPE("%s.rope.scaling.type"),
    ROPE_SCALING_FACTOR("%s.rope.scaling.factor");

    private final String pattern;

    ModelKey(String pattern) {
        this.pattern = pattern;
    }

    /** The key for {@code architecture}. */
    public String of(String architecture) {
        return pattern.contains("%s") ? pattern.formatted(architecture) : pattern;
    }
}
