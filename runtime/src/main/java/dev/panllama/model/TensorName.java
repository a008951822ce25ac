package dev.panllama.model;

/**
 * The GGUF names of a model's tensors, as llama.cpp's converter writes them, made in one place:
 * {@code TensorName.ATTN_Q.of(3)} is {@code blk.3.attn_q.weight}.
 */
public enum TensorName {
    TOKEN_EMBD("token_embd"),
    OUTPUT_NORM("output_norm"),
    OUTPUT("output"),
    ROPE_FREQS("rope_freqs"),
    ATTN_NORM("blk.%d.attn_norm"),
    ATTN_Q("blk.%d.attn_q"),
    ATTN_K("blk.%d.attn_k"),
    ATTN_V("blk.%d.attn_v"),
    ATTN_OUT("blk.%d.attn_output"),
    FFN_NORM("blk.%d.ffn_norm"),
    FFN_GATE("blk.%d.ffn_gate"),
    FFN_UP("blk.%d.ffn_up"),
    FFN_DOWN("blk.%d.ffn_down"),
    FFN_GATE_INP("blk.%d.ffn_gate_inp"),
    FFN_GATE_EXPS("blk.%d.ffn_gate_exps"),
    FFN_UP_EXPS("blk.%d.ffn_up_exps"),
    FFN_DOWN_EXPS("blk.%d.ffn_down_exps"),
    FFN_GATE_SHEXP("blk.%d.ffn_gate_shexp"),
    FFN_UP_SHEXP("blk.%d.ffn_up_shexp"),
    FFN_DOWN_SHEXP("blk.%d.ffn_down_shexp");

    private final String pattern;

    TensorName(String pattern) {
        this.pattern = pattern;
    }

    /** The weight's name for a model-wide tensor. */
    public String of() {
        if (pattern.contains("%d")) {
            throw new IllegalStateException(name() + " is per layer; give the layer");
        }
        return pattern + ".weight";
    }

    /** The weight's name in layer {@code layer}. */
    public String of(int layer) {
        if (!pattern.contains("%d")) {
            throw new IllegalStateException(name() + " is model-wide");
        }
        return pattern.formatted(layer) + ".weight";
    }
}
