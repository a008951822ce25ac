package dev.panllama.eval;

/**
 * The rotation llama.cpp applies, at this pin, to the heads of a quantized KV cache ({@code attn_rot_k},
 * {@code attn_rot_v}): before K is stored, it and Q are multiplied in runs of {@code keySize} elements by
 * an orthonormal Walsh-Hadamard matrix, and V in runs of {@code valueSize} elements before it is stored and
 * again after attention. A Hadamard matrix spreads an outlier over the whole run, so that a quantized
 * block's scale fits its values better; Q·K is unchanged by rotating both, and the normalized matrix is its
 * own inverse, so rotating attention's output undoes V's rotation. The result is what an unrotated
 * cache computes up to rounding, and what libllama computes with the same cache types.
 *
 * <p>As llama.cpp decides it: keys rotate when they are quantized and the head size is a multiple of 64,
 * by the largest power of two that divides the head size; values likewise, by 64 always (llama.cpp found
 * the smallest matrix best for V). With a host tier of other types than the device tier, the cache's keys
 * (values) rotate when either tier's are quantized, so that both tiers hold rows rotated alike.
 *
 * <p>Decided once per cache ({@link KvCache#rotation()}), with its matrices, which every graph over the
 * cache takes as inputs.
 */
final class HeadRotation {

    static final HeadRotation NONE = new HeadRotation(0, 0);

    private final int keySize;
    private final int valueSize;
    private final float[] keyMatrix;     // row-major; null when keys are not rotated
    private final float[] valueMatrix;

    private HeadRotation(int keySize, int valueSize) {
        this.keySize = keySize;
        this.valueSize = valueSize;
        this.keyMatrix = keySize == 0 ? null : matrix(keySize);
        this.valueMatrix = valueSize == 0 ? null : matrix(valueSize);
    }

    /** The rotation of a cache of {@code types} whose heads are {@code headSize} wide. */
    static HeadRotation of(KvCacheTypes types, int headSize) {
        if (headSize % 64 != 0) {
            return NONE;
        }
        boolean keys = types.keys().isQuantized() || types.hostKeys().isQuantized();
        boolean values = types.values().isQuantized() || types.hostValues().isQuantized();
        return new HeadRotation(keys ? Integer.lowestOneBit(headSize) : 0, values ? 64 : 0);
    }

    /** The run Q and K are rotated in, or 0 when they are not. */
    int keySize() {
        return keySize;
    }

    /** The run V and attention's output are rotated in, or 0 when they are not. */
    int valueSize() {
        return valueSize;
    }

    /** The matrix of Q and K ({@link #matrix} of {@link #keySize()}), shared: for reading; null when they are not rotated. */
    float[] keyMatrix() {
        return keyMatrix;
    }

    /** The matrix of V and attention's output, shared likewise; null when they are not rotated. */
    float[] valueMatrix() {
        return valueMatrix;
    }

    /**
     * The orthonormal Walsh-Hadamard matrix of order {@code n} (a power of two), row-major: Sylvester's
     * construction, each block {@code [[H, H], [H, -H]]} of the one before, from {@code 1/sqrt(n)}.
     */
    static float[] matrix(int n) {
        if (n < 1 || Integer.bitCount(n) != 1) {
            throw new IllegalArgumentException("a Walsh-Hadamard matrix has an order that is a power of two, not " + n);
        }
        float[] h = new float[n * n];
        h[0] = (float) (1.0 / (float) Math.sqrt(n));
        for (int size = 1; size < n; size *= 2) {
            for (int i = 0; i < size; i++) {
                for (int j = 0; j < size; j++) {
                    float value = h[i * n + j];
                    h[(i + size) * n + j] = value;
                    h[i * n + j + size] = value;
                    h[(i + size) * n + j + size] = -value;
                }
            }
        }
        return h;
    }
}
