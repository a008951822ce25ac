package dev.panllama.quantize;

import dev.panllama.bindings.NativeCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufTensorInfo;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code panllama quantize} against the reference {@code llama-quantize} on the same input: every
 * tensor must have the same type and the same bytes, and the metadata the same keys and values.
 * The input is a random Llama 4 model with MoE and dense layers (8 layers, so the _M mixes' bumps
 * land on some layers and not others), and a dense Llama whose rows (320) no 256-block type divides.
 */
class QuantizeParityTest {

    @TempDir
    static Path temp;
    static Path moe;
    static Path odd;

    static Path vocabulary() {
        return NativeCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf");
    }

    @BeforeAll
    static void writeModels() throws IOException {
        moe = temp.resolve("moe-f16.gguf");
        RandomModelWriter.write(new RandomModelSpec("llama4", 8, 256, 4, 1, 64, 512, 4, 1, 256, 2, -1, 0, 4096,
                500000f, 1e-5f, GgmlType.F16, false, false, "llama4", 31), vocabulary(), moe);
        odd = temp.resolve("odd-f32.gguf");
        RandomModelWriter.write(new RandomModelSpec("llama", 2, 320, 5, 5, 64, 640, 0, 0, 0, 1, -1, 0, 4096,
                10000f, 1e-5f, GgmlType.F32, true, false, "llama-bpe", 32), vocabulary(), odd);
    }

    private static void reference(Path in, Path out, String type, String... flags) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(NativeCache.user().referenceBinaries(NativePin.current()).resolve("llama-quantize").toString());
        command.addAll(List.of(flags));
        command.addAll(List.of(in.toString(), out.toString(), type, "2"));
        Path log = Files.createTempFile(temp, "llama-quantize", ".log");
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertTrue(process.waitFor(10, TimeUnit.MINUTES));
        assertEquals(0, process.exitValue(), "llama-quantize failed: " + Files.readString(log));
    }

    private static void assertSameFiles(Path expected, Path actual) {
        try (GgufFile reference = GgufFile.open(expected); GgufFile ours = GgufFile.open(actual)) {
            assertEquals(reference.metadata().asMap().keySet(), ours.metadata().asMap().keySet(), "metadata keys");
            reference.metadata().asMap().forEach((key, value) ->
                    assertEquals(value, ours.metadata().find(key).orElseThrow(), "metadata " + key));
            assertEquals(reference.tensors().size(), ours.tensors().size());
            List<String> differences = new ArrayList<>();
            for (GgufTensorInfo tensor : reference.tensors()) {
                GgufTensorInfo mine = ours.tensor(tensor.name());
                if (tensor.type() != mine.type()) {
                    differences.add(tensor.name() + ": " + tensor.type() + " vs " + mine.type());
                } else if (reference.data(tensor).mismatch(ours.data(mine)) != -1) {
                    differences.add(tensor.name() + ": different bytes");
                }
            }
            assertTrue(differences.isEmpty(), differences.size() + " tensors differ: " + differences);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"Q4_0", "Q4_1", "Q4_K_S", "Q4_K_M", "IQ4_NL", "IQ4_XS", "Q5_K_M", "Q6_K", "Q8_0", "Q3_K_M", "Q2_K", "Q5_0"})
    void sameTypesBytesAndMetadataAsLlamaQuantize(String type) throws Exception {
        for (Path input : List.of(moe, odd)) {
            Path expected = temp.resolve("ref-" + type + "-" + input.getFileName());
            Path actual = temp.resolve("ours-" + type + "-" + input.getFileName());
            reference(input, expected, type);
            Quantizer.quantize(input, actual, new Quantizer.Options(FileType.of(type), false, false, null, null, 2),
                    (done, total, bytes, all) -> { });
            assertSameFiles(expected, actual);
            Files.delete(expected);
            Files.delete(actual);
        }
    }

    @Test
    void pureAndTheOutputAndEmbeddingTypesAsLlamaQuantizeTakesThem() throws Exception {
        Path expected = temp.resolve("ref-options.gguf");
        Path actual = temp.resolve("ours-options.gguf");
        reference(moe, expected, "Q4_K_M", "--pure", "--output-tensor-type", "q8_0", "--token-embedding-type", "q4_0");
        Quantizer.quantize(moe, actual, new Quantizer.Options(FileType.Q4_K_M, false, true, GgmlType.Q8_0, GgmlType.Q4_0, 2),
                (done, total, bytes, all) -> { });
        assertSameFiles(expected, actual);
    }

    @Test
    void badInputsFailCleanlyAndLeaveNothingBehind() throws Exception {
        var same = assertThrows(IllegalArgumentException.class, () -> Quantizer.quantize(moe, moe,
                new Quantizer.Options(FileType.Q4_0, false, false, null, null, 1), (a, b, c, d) -> { }));
        assertTrue(same.getMessage().contains("must not be the input"), same.getMessage());
        assertThrows(IllegalArgumentException.class, () -> FileType.of("Q9_X"));

        Path quantized = temp.resolve("q8.gguf");
        Quantizer.quantize(moe, quantized, new Quantizer.Options(FileType.Q8_0, false, false, null, null, 2), (a, b, c, d) -> { });
        Path requantized = temp.resolve("requantized.gguf");
        var requantize = assertThrows(IllegalArgumentException.class, () -> Quantizer.quantize(quantized, requantized,
                new Quantizer.Options(FileType.Q4_0, false, false, null, null, 1), (a, b, c, d) -> { }));
        assertTrue(requantize.getMessage().contains("--allow-requantize"), requantize.getMessage());
        assertFalse(Files.exists(requantized));

        Path truncated = temp.resolve("truncated.gguf");
        byte[] whole = Files.readAllBytes(moe);
        Files.write(truncated, java.util.Arrays.copyOf(whole, whole.length / 3));
        Path out = temp.resolve("from-truncated.gguf");
        assertThrows(GgufException.class, () -> Quantizer.quantize(truncated, out,
                new Quantizer.Options(FileType.Q4_0, false, false, null, null, 1), (a, b, c, d) -> { }));
        try (var files = Files.list(temp)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().contains("from-truncated")), "nothing left behind");
        }
    }
}
