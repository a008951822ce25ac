package dev.panllama.ggml;

/**
 * The parameters of ggml's {@code rope_ext}, named. {@link #plain(int, int, float)} is the rotation
 * Llama models use without context extension.
 *
 * @param mode 0 for the original (Llama) pairing of dimensions, 2 for NeoX's
 */
public record Rope(int dimensions, int mode, int originalContext, float freqBase, float freqScale,
                   float extFactor, float attnFactor, float betaFast, float betaSlow) {

    public static final int MODE_NORMAL = 0;

    /** No scaling: YaRN off, the defaults llama.cpp resolves to for Llama models. */
    public static Rope plain(int dimensions, int originalContext, float freqBase) {
        return new Rope(dimensions, MODE_NORMAL, originalContext, freqBase, 1f, 0f, 1f, 32f, 1f);
    }
}
