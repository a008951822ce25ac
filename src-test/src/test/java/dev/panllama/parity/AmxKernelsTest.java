package dev.panllama.parity;

import dev.panllama.bindings.NativeLibraries;
import dev.panllama.ggml.Backend;
import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.BufferType;
import dev.panllama.ggml.ComputeGraph;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Quantization;
import dev.panllama.ggml.Tensor;
import dev.panllama.model.Model;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.placement.Offload;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * ggml's AMX kernels, which panllama's builds fix (scripts/lib.sh, {@code fix_source}): unfixed, they
 * crash with SIGILL on every Xeon with AMX. On such a CPU the CPU device offers the AMX buffer type,
 * panllama keeps the weights it multiplies fastest there (unless told {@code --no-repack}; K-quants
 * not), and a product with them there is the product with them in plain memory; the jar carries the
 * CPU variant that has them. (The other parity tests compare with the reference llama.cpp, which on
 * such a CPU keeps the same weights in AMX memory.)
 */
class AmxKernelsTest {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final int THREADS = 2;

    @TempDir
    static Path temp;

    /** Whether this CPU has AMX's 8-bit tiles and AVX512-VNNI, which ggml's AMX buffer type requires. */
    private static boolean cpuHasAmx() throws IOException {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        if (!Files.isReadable(cpuinfo)) {
            return false;
        }
        String flags = Files.readAllLines(cpuinfo).stream().filter(line -> line.startsWith("flags")).findFirst().orElse("");
        return List.of(flags.split("\\s+")).containsAll(List.of("amx_int8", "amx_tile", "avx512_vnni"));
    }

    @Test
    void theCpuOffersTheAmxBufferTypeExactlyWhereTheCpuHasAmx() throws IOException {
        assumeTrue(NativeLibraries.platform().endsWith("x86_64"), "AMX is an x86-64 extension");
        List<String> usable = BackendDevice.cpu().usableExtraBufferTypes().stream().map(BufferType::name).toList();
        assertEquals(cpuHasAmx(), usable.contains(BackendDevice.AMX_BUFFER_TYPE), "extra buffer types panllama uses: " + usable);
    }

    @Test
    void theJarCarriesTheCpuVariantWithAmx() throws IOException {
        assumeTrue(NativeLibraries.platform().endsWith("x86_64"), "AMX is an x86-64 extension");
        Path jar = ROOT.resolve("cli/target/dist/panllama.jar");
        assertTrue(Files.isRegularFile(jar), jar + " is missing: build it with scripts/package");
        String variant = "native/" + NativeLibraries.platform() + "/libggml-cpu-sapphirerapids.so";
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            assertNotNull(zip.getEntry(variant), jar + " lacks " + variant);
        }
    }

    /**
     * One matrix product, the weights quantized to {@code type} and kept in AMX memory, against the
     * same product with them in plain CPU memory: rows of activations enough for the tile kernels (8
     * and 33, as a batch of sequences and a prompt take them) and one (ggml's one-row AMX path). Both
     * quantize the activations alike and sum exact integer products; only the order of the float sums
     * over blocks differs. Tiles configured empty crash; configured wrong, or weights laid out wrong,
     * they give sums off by their own size.
     */
    @ParameterizedTest(name = "{0}, {1} rows")
    @CsvSource({"Q4_0, 1", "Q4_0, 8", "Q4_0, 33", "Q8_0, 1", "Q8_0, 8", "Q8_0, 33", "IQ4_XS, 1", "IQ4_XS, 8", "IQ4_XS, 33"})
    void aProductWithWeightsInAmxMemoryIsTheProductWithThemInPlainMemory(String typeName, int rows) throws IOException {
        assumeTrue(cpuHasAmx(), "this CPU has no AMX");
        GgmlType type = GgmlType.valueOf(typeName);
        int k = 512, n = 256;
        Random random = new Random(rows * 31L + type.ordinal());
        float[] weights = new float[k * n];
        float[] activations = new float[k * rows];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = (float) random.nextGaussian();
        }
        for (int i = 0; i < activations.length; i++) {
            activations[i] = (float) random.nextGaussian();
        }
        BufferType amx = BackendDevice.cpu().usableExtraBufferTypes().stream()
                .filter(buffer -> buffer.name().equals(BackendDevice.AMX_BUFFER_TYPE)).findFirst().orElseThrow();
        float[] inAmx = product(amx, type, weights, activations, k, n, rows);
        float[] inPlainMemory = product(BackendDevice.cpu().bufferType(), type, weights, activations, k, n, rows);
        double largest = 0, difference = 0;
        for (int i = 0; i < inAmx.length; i++) {
            largest = Math.max(largest, Math.abs(inPlainMemory[i]));
            difference = Math.max(difference, Math.abs(inPlainMemory[i] - inAmx[i]));
        }
        assertTrue(difference <= 1e-5 * largest, type + ", " + rows + " rows: products differ by " + difference + " of " + largest);
    }

    private static float[] product(BufferType weightMemory, GgmlType type, float[] weights, float[] activations, int k, int n, int rows) {
        try (Arena arena = Arena.ofConfined();
             Backend cpu = Backend.cpu(THREADS);
             GgmlContext weightContext = GgmlContext.create(1);
             GgmlContext compute = GgmlContext.create(8)) {
            Tensor weight = weightContext.newTensor(type, k, n);
            weightContext.allocate(weightMemory);
            MemorySegment quantized = arena.allocate(type.rowBytes(k) * n);
            Quantization.quantize(type, arena.allocateFrom(ValueLayout.JAVA_FLOAT, weights), n, k, quantized);
            weight.write(quantized);
            Tensor input = compute.newTensor(GgmlType.F32, k, rows);
            Tensor out = compute.mulMat(weight, input);
            ComputeGraph graph = compute.graph(out);
            compute.allocate(cpu);
            input.write(activations);
            cpu.compute(graph);
            return out.readFloats();
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"Q4_0", "Q8_0"})
    void aModelsWeightsGoToAmxMemoryUnlessRepackingIsOff(String typeName) throws IOException {
        assumeTrue(cpuHasAmx(), "this CPU has no AMX");
        Path model = denseModel(GgmlType.valueOf(typeName));
        assertTrue(bytesInAmx(model, Offload.all()) > 0, "no weights in AMX memory");
        assertEquals(0, bytesInAmx(model, Offload.all().withRepack(false)), "weights in AMX memory with --no-repack");
    }

    /** panllama's amx-k-quants change (scripts/lib.sh): ggml's AMX kernels are slower for K-quants at one row. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"Q4_K", "Q6_K"})
    void kQuantWeightsStayOutOfAmxMemory(String typeName) throws IOException {
        assumeTrue(cpuHasAmx(), "this CPU has no AMX");
        assertEquals(0, bytesInAmx(denseModel(GgmlType.valueOf(typeName)), Offload.all()), typeName + " weights in AMX memory");
    }

    private static Path denseModel(GgmlType type) throws IOException {
        RandomModelSpec spec = ModelParityTest.retype(RandomModelSpec.scoutLike(GgmlType.F32, 61).withLayers(2), type, 61).asDenseLlama();
        Path model = temp.resolve("dense-" + type + ".gguf");
        RandomModelWriter.write(spec, TokenizerParityTest.vocabulary("ggml-vocab-llama-bpe.gguf"), model);
        return model;
    }

    private static long bytesInAmx(Path path, Offload offload) {
        try (Model model = Model.open(path, THREADS, true, fraction -> { }, List.of(), offload)) {
            return model.weights().bytesByBuffer().getOrDefault(BackendDevice.AMX_BUFFER_TYPE, 0L);
        }
    }
}
