package dev.panllama.eval;

import dev.panllama.ggml.GgmlType;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class HeadRotationTest {

    @Test
    void theMatrixIsOrthonormalSymmetricAndItsOwnInverse() {
        for (int n : new int[] {1, 2, 64, 128, 256}) {
            float[] h = HeadRotation.matrix(n);
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    assertEquals(h[i * n + j], h[j * n + i], "H is symmetric at " + i + ", " + j);
                    assertEquals(1 / Math.sqrt(n), Math.abs(h[i * n + j]), 1e-7, "every entry is +-1/sqrt(n)");
                    double product = 0;
                    for (int k = 0; k < n; k++) {
                        product += (double) h[i * n + k] * h[k * n + j];
                    }
                    assertEquals(i == j ? 1 : 0, product, 1e-6, "H·H at " + i + ", " + j + " of order " + n);
                }
            }
        }
    }

    @Test
    void sylvestersConstructionKeepsTheFirstRowPositiveAndAlternatesTheSecond() {
        float[] h = HeadRotation.matrix(8);
        float entry = (float) (1 / Math.sqrt(8));
        for (int j = 0; j < 8; j++) {
            assertEquals(entry, h[j]);
            assertEquals(j % 2 == 0 ? entry : -entry, h[8 + j]);
        }
        assertThrows(IllegalArgumentException.class, () -> HeadRotation.matrix(96));
    }

    @Test
    void quantizedKeysRotateByTheHeadsLargestPowerOfTwoAndValuesBy64AsLlamaCppDecides() {
        assertSizes(128, 64, HeadRotation.of(KvCacheTypes.of(GgmlType.Q8_0), 128));
        assertSizes(64, 64, HeadRotation.of(KvCacheTypes.of(GgmlType.Q4_0), 192));
        assertSizes(256, 0, HeadRotation.of(KvCacheTypes.of(GgmlType.Q8_0, GgmlType.F16), 256));
        assertSizes(0, 64, HeadRotation.of(KvCacheTypes.of(GgmlType.F16, GgmlType.Q4_0), 64));
        assertSizes(0, 0, HeadRotation.of(KvCacheTypes.F16, 128));
        assertSizes(0, 0, HeadRotation.of(KvCacheTypes.of(GgmlType.F32), 128));
        // Heads not a multiple of 64 never rotate.
        assertSizes(0, 0, HeadRotation.of(KvCacheTypes.of(GgmlType.Q8_0), 80));
        // A quantized host tier under an F16 device tier: both tiers hold rotated rows.
        assertSizes(128, 64, HeadRotation.of(KvCacheTypes.F16.withHostTier(GgmlType.Q8_0), 128));
    }

    private static void assertSizes(int keySize, int valueSize, HeadRotation rotation) {
        assertEquals(keySize, rotation.keySize(), "the run Q and K are rotated in");
        assertEquals(valueSize, rotation.valueSize(), "the run V is rotated in");
        assertArrayEquals(keySize == 0 ? null : HeadRotation.matrix(keySize), rotation.keyMatrix());
        assertArrayEquals(valueSize == 0 ? null : HeadRotation.matrix(valueSize), rotation.valueMatrix());
    }
}
