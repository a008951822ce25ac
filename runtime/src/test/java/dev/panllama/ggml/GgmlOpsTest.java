package dev.panllama.ggml;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Small ggml graphs built through the bindings and run on the CPU backend, each compared with the same
 * computation written in plain Java (double precision).
 */
class GgmlOpsTest {

    private static Backend cpu;

    @BeforeAll
    static void openBackend() {
        cpu = Backend.cpu(2);
    }

    @AfterAll
    static void closeBackend() {
        cpu.close();
    }

    private static float[] random(Random random, int n) {
        float[] values = new float[n];
        for (int i = 0; i < n; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return values;
    }

    /** ggml's mul_mat: out[j][i] = sum_k a[i][k] * b[j][k], for a [k, m] and b [k, n] (row-major in k). */
    private static double[] referenceMulMat(float[] a, float[] b, int k, int m, int n) {
        double[] out = new double[m * n];
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                double sum = 0;
                for (int p = 0; p < k; p++) {
                    sum += (double) a[i * k + p] * b[j * k + p];
                }
                out[j * m + i] = sum;
            }
        }
        return out;
    }

    private static void assertClose(double[] expected, float[] actual, double tolerance) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            double error = Math.abs(expected[i] - actual[i]);
            assertTrue(error <= tolerance * Math.max(1, Math.abs(expected[i])),
                    "element " + i + ": expected " + expected[i] + ", got " + actual[i]);
        }
    }

    @Test
    void matrixProduct() {
        int k = 64, m = 24, n = 7;
        Random random = new Random(1);
        float[] a = random(random, k * m);
        float[] b = random(random, k * n);
        try (GgmlContext ctx = GgmlContext.create(8)) {
            Tensor ta = ctx.newTensor(GgmlType.F32, k, m).name("a");
            Tensor tb = ctx.newTensor(GgmlType.F32, k, n).name("b");
            Tensor out = ctx.mulMat(ta, tb).name("out");
            ComputeGraph graph = ctx.graph(out);
            ctx.allocate(cpu);
            ta.write(a);
            tb.write(b);
            cpu.compute(graph);
            assertEquals(m, out.ne(0));
            assertEquals(n, out.ne(1));
            assertClose(referenceMulMat(a, b, k, m, n), out.readFloats(), 1e-4);
        }
    }

    @Test
    void addBroadcastsARowOverAMatrix() {
        int cols = 13, rows = 5;
        Random random = new Random(2);
        float[] a = random(random, cols * rows);
        float[] bias = random(random, cols);
        double[] expected = new double[cols * rows];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                expected[r * cols + c] = (double) a[r * cols + c] + bias[c];
            }
        }
        try (GgmlContext ctx = GgmlContext.create(8)) {
            Tensor ta = ctx.newTensor(GgmlType.F32, cols, rows);
            Tensor tb = ctx.newTensor(GgmlType.F32, cols);
            Tensor out = ctx.add(ta, tb);
            ComputeGraph graph = ctx.graph(out);
            ctx.allocate(cpu);
            ta.write(a);
            tb.write(bias);
            cpu.compute(graph);
            assertClose(expected, out.readFloats(), 1e-6);
        }
    }

    @Test
    void softMaxAlongRows() {
        int cols = 33, rows = 4;
        float[] x = random(new Random(3), cols * rows);
        double[] expected = new double[cols * rows];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int c = 0; c < cols; c++) {
                max = Math.max(max, x[r * cols + c]);
            }
            for (int c = 0; c < cols; c++) {
                sum += Math.exp(x[r * cols + c] - max);
            }
            for (int c = 0; c < cols; c++) {
                expected[r * cols + c] = Math.exp(x[r * cols + c] - max) / sum;
            }
        }
        try (GgmlContext ctx = GgmlContext.create(4)) {
            Tensor tx = ctx.newTensor(GgmlType.F32, cols, rows);
            Tensor out = ctx.softMax(tx);
            ComputeGraph graph = ctx.graph(out);
            ctx.allocate(cpu);
            tx.write(x);
            cpu.compute(graph);
            assertClose(expected, out.readFloats(), 1e-5);
        }
    }

    @Test
    void rmsNormAlongRows() {
        int cols = 48, rows = 3;
        float eps = 1e-5f;
        float[] x = random(new Random(4), cols * rows);
        double[] expected = new double[cols * rows];
        for (int r = 0; r < rows; r++) {
            double meanSquare = 0;
            for (int c = 0; c < cols; c++) {
                meanSquare += (double) x[r * cols + c] * x[r * cols + c];
            }
            double scale = 1 / Math.sqrt(meanSquare / cols + eps);
            for (int c = 0; c < cols; c++) {
                expected[r * cols + c] = x[r * cols + c] * scale;
            }
        }
        try (GgmlContext ctx = GgmlContext.create(4)) {
            Tensor tx = ctx.newTensor(GgmlType.F32, cols, rows);
            Tensor out = ctx.rmsNorm(tx, eps);
            ComputeGraph graph = ctx.graph(out);
            ctx.allocate(cpu);
            tx.write(x);
            cpu.compute(graph);
            assertClose(expected, out.readFloats(), 1e-5);
        }
    }

    /** Dequantizes Q4_0 as its format defines it: per 32 weights an F16 scale d, then 16 bytes of nibbles. */
    private static float[] dequantizeQ4_0(MemorySegment blocks, int count) {
        float[] out = new float[count];
        for (int block = 0; block < count / 32; block++) {
            long base = block * 18L;
            float d = Float.float16ToFloat(blocks.get(ValueLayout.JAVA_SHORT_UNALIGNED, base));
            for (int j = 0; j < 16; j++) {
                int packed = blocks.get(ValueLayout.JAVA_BYTE, base + 2 + j) & 0xFF;
                out[block * 32 + j] = ((packed & 0x0F) - 8) * d;
                out[block * 32 + j + 16] = ((packed >>> 4) - 8) * d;
            }
        }
        return out;
    }

    @Test
    void matrixProductWithQ4_0WeightsQuantizedByGgml() {
        int k = 256, m = 16, n = 5;
        Random random = new Random(5);
        float[] weights = random(random, k * m);
        float[] input = random(random, k * n);
        try (Arena arena = Arena.ofConfined(); GgmlContext ctx = GgmlContext.create(8)) {
            MemorySegment source = arena.allocateFrom(ValueLayout.JAVA_FLOAT, weights);
            MemorySegment quantized = arena.allocate(m * GgmlType.Q4_0.rowBytes(k));
            assertEquals(quantized.byteSize(), Quantization.quantize(GgmlType.Q4_0, source, m, k, quantized));

            // The quantized weights are close to the originals (4 bits: within a step of the block's scale) ...
            float[] dequantized = dequantizeQ4_0(quantized, k * m);
            double worst = 0;
            for (int i = 0; i < weights.length; i++) {
                worst = Math.max(worst, Math.abs(weights[i] - dequantized[i]));
            }
            assertTrue(worst < 0.5, "Q4_0 round trip error " + worst);

            // ... and ggml's Q4_0 product equals the product with those weights, up to the Q8_0
            // rounding ggml applies to the activations.
            Tensor tw = ctx.newTensor(GgmlType.Q4_0, k, m);
            Tensor tx = ctx.newTensor(GgmlType.F32, k, n);
            Tensor out = ctx.mulMat(tw, tx);
            ComputeGraph graph = ctx.graph(out);
            ctx.allocate(cpu);
            tw.write(quantized);
            tx.write(input);
            cpu.compute(graph);
            double[] expected = referenceMulMat(dequantized, input, k, m, n);
            float[] actual = out.readFloats();
            double scale = 0;
            for (double e : expected) {
                scale = Math.max(scale, Math.abs(e));
            }
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], actual[i], 0.02 * scale, "element " + i);
            }
        }
    }

    /**
     * What attention does to a Q8_0 host tier under an F16 device tier: Q8_0 to F32 to F16, each a cast the
     * CPU computes. The F16 rows are the F32 values within Q8_0's step (the block's largest value / 127) and
     * F16's rounding; a quantized type straight to F16, which ggml's CPU backend claims and then aborts on,
     * is refused.
     */
    @Test
    void castConvertsQ8_0ThroughF32ToF16() {
        int width = 128, rows = 6;
        Random random = new Random(9);
        float[] values = random(random, width * rows);
        try (Arena arena = Arena.ofConfined(); GgmlContext ctx = GgmlContext.create(8)) {
            MemorySegment quantized = arena.allocate(rows * GgmlType.Q8_0.rowBytes(width));
            Quantization.quantize(GgmlType.Q8_0, arena.allocateFrom(ValueLayout.JAVA_FLOAT, values), rows, width, quantized);
            Tensor q8 = ctx.newTensor(GgmlType.Q8_0, width, rows);
            var refused = assertThrows(IllegalArgumentException.class, () -> ctx.cast(q8, GgmlType.F16));
            assertEquals("cannot convert Q8_0 to F16 directly: convert it to F32 first", refused.getMessage());
            Tensor f16 = ctx.cast(ctx.cast(q8, GgmlType.F32), GgmlType.F16);
            assertEquals(GgmlType.F16, f16.type());
            Tensor out = ctx.cast(f16, GgmlType.F32);
            ComputeGraph graph = ctx.graph(out);
            ctx.allocate(cpu);
            q8.write(quantized);
            cpu.compute(graph);
            float[] actual = out.readFloats();
            for (int block = 0; block < values.length / 32; block++) {
                double largest = 0;
                for (int i = block * 32; i < block * 32 + 32; i++) {
                    largest = Math.max(largest, Math.abs(values[i]));
                }
                for (int i = block * 32; i < block * 32 + 32; i++) {
                    assertEquals(values[i], actual[i], largest / 127 + Math.abs(values[i]) / 1024, "element " + i);
                }
            }
        }
    }

    @Test
    void mismatchedShapesAreRefusedBeforeReachingGgml() {
        try (GgmlContext ctx = GgmlContext.create(4)) {
            Tensor a = ctx.newTensor(GgmlType.F32, 8, 3);
            Tensor b = ctx.newTensor(GgmlType.F32, 9, 3);
            assertThrows(IllegalArgumentException.class, () -> ctx.mulMat(a, b));
            assertThrows(IllegalArgumentException.class, () -> ctx.add(a, ctx.newTensor(GgmlType.F32, 3)));
            assertThrows(IllegalArgumentException.class, () -> ctx.newTensor(GgmlType.Q4_0, 31, 2));
        }
    }

    @Test
    void fullContextRefusesAnotherTensorAndASecondGraph() {
        try (GgmlContext ctx = GgmlContext.create(2)) {
            Tensor a = ctx.newTensor(GgmlType.F32, 4);
            Tensor b = ctx.softMax(a);
            assertThrows(IllegalStateException.class, () -> ctx.rmsNorm(b, 1e-5f));
            ctx.graph(b);
            assertThrows(IllegalStateException.class, () -> ctx.graph(b));
        }
    }

    @Test
    void tensorsRefuseUseAfterTheirContextCloses() {
        GgmlContext ctx = GgmlContext.create(4);
        Tensor a = ctx.newTensor(GgmlType.F32, 4);
        ctx.close();
        assertThrows(IllegalStateException.class, a::elementCount);
        assertThrows(IllegalStateException.class, () -> a.write(new float[4]));
    }

    @Test
    void opsRefuseAClosedContextOrOperand() {
        GgmlContext weights = GgmlContext.create(2);
        Tensor w = weights.newTensor(GgmlType.F32, 4);
        try (GgmlContext ctx = GgmlContext.create(4)) {
            Tensor a = ctx.newTensor(GgmlType.F32, 4);
            weights.close();
            assertThrows(IllegalStateException.class, () -> ctx.add(a, w));
            assertThrows(IllegalStateException.class, () -> ctx.softMax(w));
            ctx.close();
            assertThrows(IllegalStateException.class, () -> ctx.newTensor(GgmlType.F32, 4));
            assertThrows(IllegalStateException.class, () -> ctx.softMax(a));
        }
    }

    @Test
    void reshapeRefusesDimensionsThatAreNotPositive() {
        try (GgmlContext ctx = GgmlContext.create(2)) {
            Tensor a = ctx.newTensor(GgmlType.F32, 4);
            assertThrows(IllegalArgumentException.class, () -> ctx.reshape(a, -1, -4));
            assertThrows(IllegalArgumentException.class, () -> ctx.reshape(a, 4, 1, 1, 1, 1));
            assertEquals(2, ctx.reshape(a, 2, 2).ne(1));
        }
    }

    @Test
    void dataNeedsAnAllocatedContext() {
        try (GgmlContext ctx = GgmlContext.create(4)) {
            Tensor a = ctx.newTensor(GgmlType.F32, 4);
            assertThrows(IllegalStateException.class, () -> a.write(new float[] {1, 2, 3, 4}));
        }
    }

    @Test
    void typeNumbersAndBlockSizesAreGgmls() {
        for (GgmlType type : GgmlType.values()) {
            assertEquals(type.blockSize(), dev.panllama.bindings.ggml.Ggml.ggml_blck_size(type.id()), type.name());
            assertEquals(type.blockBytes(), dev.panllama.bindings.ggml.Ggml.ggml_type_size(type.id()), type.name());
            String ggmlName = dev.panllama.bindings.ggml.Ggml.ggml_type_name(type.id()).reinterpret(64).getString(0);
            assertEquals(type.name().toLowerCase(java.util.Locale.ROOT), ggmlName.toLowerCase(java.util.Locale.ROOT));
        }
    }

    @Test
    void cpuDeviceReportsItsFeatures() {
        BackendDevice device = BackendDevice.cpu();
        assertEquals(BackendDevice.Kind.CPU, device.kind());
        assertTrue(device.memoryTotal() > 0);
        assertEquals("CPU", device.backendName());
        assertTrue(!device.features().isEmpty(), "the CPU backend lists its features");
    }
}
