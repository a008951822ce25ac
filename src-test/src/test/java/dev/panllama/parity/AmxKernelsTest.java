package dev.panllama.parity;

import dev.panllama.bindings.NativeLibraries;
import dev.panllama.eval.Evaluator;
import dev.panllama.ggml.BackendDevice;
import dev.panllama.ggml.BufferType;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.Model;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.placement.Offload;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * ggml's AMX kernels, which panllama's builds fix (scripts/lib.sh, {@code fix_source}): unfixed, they
 * crash with SIGILL on every Xeon with AMX. On such a CPU the CPU device offers the AMX buffer type,
 * panllama keeps the weights it can multiply there, and a model computes with them what it computes
 * with its weights in plain memory; the jar carries the CPU variant that has them. (The other parity
 * tests compare with the reference llama.cpp, which on such a CPU keeps the same weights in AMX memory.)
 */
class AmxKernelsTest {

    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final int THREADS = 2;
    /** Several rows (the tile kernels), then one decode step (ggml's one-row path). */
    private static final int[] PROMPT = {128000, 791, 36567, 315, 4606, 2997, 279, 432, 40014, 11, 279, 6690, 1091, 323, 279, 26981};
    private static final int NEXT = 2360;

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

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"Q4_0", "Q8_0", "Q4_K"})
    void weightsInAmxMemoryComputeWhatTheyComputeInPlainMemory(String typeName) throws IOException {
        assumeTrue(cpuHasAmx(), "this CPU has no AMX");
        GgmlType type = GgmlType.valueOf(typeName);
        RandomModelSpec spec = ModelParityTest.retype(RandomModelSpec.scoutLike(GgmlType.F32, 61).withLayers(2), type, 61).asDenseLlama();
        Path model = temp.resolve("dense-" + type + ".gguf");
        RandomModelWriter.write(spec, TokenizerParityTest.vocabulary("ggml-vocab-llama-bpe.gguf"), model);

        float[][] amx = logits(model, Offload.all(), true);
        float[][] plain = logits(model, Offload.all().withOverrides(Offload.TensorOverride.parse(".*=CPU")), false);
        for (int row = 0; row < amx.length; row++) {
            double largest = 0, difference = 0;
            for (int v = 0; v < amx[row].length; v++) {
                largest = Math.max(largest, Math.abs(plain[row][v]));
                difference = Math.max(difference, Math.abs(plain[row][v] - amx[row][v]));
            }
            // Both quantize the activations alike and sum exact integer products; only the order of the
            // float sums over blocks differs.
            assertTrue(difference <= 1e-4 * largest, type + " row " + row + ": logits differ by " + difference + " of " + largest);
        }
    }

    /** The prompt's logits, then one decode step's, with the weights where {@code offload} puts them. */
    private static float[][] logits(Path path, Offload offload, boolean inAmx) {
        try (Model model = Model.open(path, THREADS, true, fraction -> { }, List.of(), offload);
             Evaluator evaluator = new Evaluator(model, 256, 512)) {
            long amxBytes = model.weights().bytesByBuffer().getOrDefault(BackendDevice.AMX_BUFFER_TYPE, 0L);
            assertEquals(inAmx, amxBytes > 0, "weights by buffer type: " + model.weights().bytesByBuffer());
            float[][] prompt = evaluator.evaluate(PROMPT, 0);
            float[][] all = new float[prompt.length + 1][];
            System.arraycopy(prompt, 0, all, 0, prompt.length);
            all[prompt.length] = evaluator.evaluate(new int[] {NEXT}, 0)[0];
            return all;
        }
    }
}
