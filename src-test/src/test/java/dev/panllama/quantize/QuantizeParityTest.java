package dev.panllama.quantize;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufTensorInfo;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.reference.Reference;
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
        return UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf");
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

    private static void reference(Path in, Path out, String type, String... flags) throws IOException {
        new Reference(temp).quantize(in, out, type, flags);
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
            Quantizer.quantize(input, actual, new Quantizer.Options(FileType.of(type), false, false, null, null, 2, null, false),
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
        Quantizer.quantize(moe, actual, new Quantizer.Options(FileType.Q4_K_M, false, true, GgmlType.Q8_0, GgmlType.Q4_0, 2, null, false),
                (done, total, bytes, all) -> { });
        assertSameFiles(expected, actual);
    }

    /** An imatrix GGUF for {@code model}: random positive sums, counts per expert, one expert never seen. */
    private static Path importanceMatrix(Path model) throws IOException {
        Path file = temp.resolve("imatrix.gguf");
        java.util.Random random = new java.util.Random(5);
        dev.panllama.gguf.GgufWriter writer = new dev.panllama.gguf.GgufWriter()
                .put("imatrix.datasets", dev.panllama.gguf.GgufValue.of(dev.panllama.gguf.GgufArray.ofStrings("calibration.txt")))
                .put("imatrix.chunk_count", dev.panllama.gguf.GgufValue.ofUint32(10))
                .put("imatrix.chunk_size", dev.panllama.gguf.GgufValue.ofUint32(512));
        try (GgufFile gguf = GgufFile.open(model)) {
            for (GgufTensorInfo tensor : gguf.tensors()) {
                if (tensor.dimensions() < 2 || tensor.name().contains("norm") || tensor.name().contains("gate_inp")) {
                    continue;
                }
                int columns = (int) tensor.dim(0);
                int experts = (int) tensor.dim(2);
                float[] sums = new float[columns * experts];
                float[] counts = new float[experts];
                for (int i = 0; i < sums.length; i++) {
                    sums[i] = 1 + 100 * random.nextFloat();
                }
                for (int e = 0; e < experts; e++) {
                    counts[e] = e == experts - 1 && experts > 1 ? 0 : 10 + random.nextInt(50);
                }
                writer.tensor(tensor.name() + ".in_sum2", GgmlType.F32, new long[] {columns, experts},
                        dev.panllama.gguf.GgufWriter.TensorData.of(java.lang.foreign.MemorySegment.ofArray(sums)));
                writer.tensor(tensor.name() + ".counts", GgmlType.F32, new long[] {1, experts},
                        dev.panllama.gguf.GgufWriter.TensorData.of(java.lang.foreign.MemorySegment.ofArray(counts)));
            }
        }
        writer.write(file);
        return file;
    }

    @ParameterizedTest
    @ValueSource(strings = {"Q4_K_M", "IQ4_XS", "Q4_0"})
    void importanceMatrixAsLlamaQuantizeUsesIt(String type) throws Exception {
        Path imatrix = importanceMatrix(moe);
        Path expected = temp.resolve("ref-imatrix-" + type + ".gguf");
        Path actual = temp.resolve("ours-imatrix-" + type + ".gguf");
        reference(moe, expected, type, "--imatrix", imatrix.toString());
        Quantizer.quantize(moe, actual, new Quantizer.Options(FileType.of(type), false, false, null, null, 2, imatrix, false),
                (done, total, bytes, all) -> { });
        assertSameFiles(expected, actual);
        // ... and the matrix made a difference.
        Path plain = temp.resolve("plain-" + type + ".gguf");
        Quantizer.quantize(moe, plain, new Quantizer.Options(FileType.of(type), false, false, null, null, 2, null, false),
                (done, total, bytes, all) -> { });
        try (GgufFile weighted = GgufFile.open(actual); GgufFile unweighted = GgufFile.open(plain)) {
            GgufTensorInfo q = weighted.tensor("blk.1.attn_q.weight");
            assertTrue(weighted.data(q).mismatch(unweighted.data(unweighted.tensor(q.name()))) != -1);
        }
    }

    @Test
    void splitModelsStaySplitWithKeepSplit() throws Exception {
        // The MoE model in two parts, split where llama.cpp's gguf-split would put a boundary: after layer 3.
        Path first = temp.resolve("split-00001-of-00002.gguf");
        Path second = temp.resolve("split-00002-of-00002.gguf");
        try (GgufFile whole = GgufFile.open(moe)) {
            dev.panllama.gguf.GgufWriter one = new dev.panllama.gguf.GgufWriter().putAll(whole.metadata());
            dev.panllama.gguf.GgufWriter two = new dev.panllama.gguf.GgufWriter();
            for (dev.panllama.gguf.GgufWriter part : List.of(one, two)) {
                part.put("split.no", new dev.panllama.gguf.GgufValue(dev.panllama.gguf.GgufValueType.UINT16, part == one ? 0L : 1L))
                        .put("split.count", new dev.panllama.gguf.GgufValue(dev.panllama.gguf.GgufValueType.UINT16, 2L))
                        .put("split.tensors.count", dev.panllama.gguf.GgufValue.ofInt32(whole.tensors().size()));
            }
            for (GgufTensorInfo tensor : Quantizer.inLlamaOrder(whole.tensors(), false)) {
                boolean late = tensor.name().startsWith("blk.") && Integer.parseInt(tensor.name().split("\\.")[1]) >= 4;
                (late ? two : one).tensor(tensor.name(), tensor.type(), tensor.shape(), dev.panllama.gguf.GgufWriter.TensorData.of(whole.data(tensor)));
            }
            one.write(first);
            two.write(second);
        }
        reference(first, temp.resolve("ref-kept.gguf"), "Q4_K_M", "--keep-split");
        Quantizer.quantize(first, temp.resolve("ours-kept.gguf"), new Quantizer.Options(FileType.Q4_K_M, false, false, null, null, 2, null, true),
                (done, total, bytes, all) -> { });
        for (String part : List.of("-00001-of-00002.gguf", "-00002-of-00002.gguf")) {
            assertSameParts(temp.resolve("ref-kept" + part), temp.resolve("ours-kept" + part));
        }
    }

    /** One part of a split file each: the same metadata, tensors, types and bytes. */
    private static void assertSameParts(Path expected, Path actual) throws IOException {
        try (GgufFile reference = GgufFile.openPart(expected); GgufFile ours = GgufFile.openPart(actual)) {
            assertEquals(reference.metadata().asMap(), ours.metadata().asMap());
            assertEquals(reference.tensors().stream().map(GgufTensorInfo::name).toList(), ours.tensors().stream().map(GgufTensorInfo::name).toList());
            for (GgufTensorInfo tensor : reference.tensors()) {
                assertEquals(tensor.type(), ours.tensor(tensor.name()).type(), tensor.name());
                assertEquals(-1, reference.data(tensor).mismatch(ours.data(ours.tensor(tensor.name()))), tensor.name());
            }
        }
    }

    @Test
    void badInputsFailCleanlyAndLeaveNothingBehind() throws Exception {
        var same = assertThrows(IllegalArgumentException.class, () -> Quantizer.quantize(moe, moe,
                new Quantizer.Options(FileType.Q4_0, false, false, null, null, 1, null, false), (a, b, c, d) -> { }));
        assertTrue(same.getMessage().contains("must not be the input"), same.getMessage());
        assertThrows(IllegalArgumentException.class, () -> FileType.of("Q9_X"));

        Path quantized = temp.resolve("q8.gguf");
        Quantizer.quantize(moe, quantized, new Quantizer.Options(FileType.Q8_0, false, false, null, null, 2, null, false), (a, b, c, d) -> { });
        Path requantized = temp.resolve("requantized.gguf");
        var requantize = assertThrows(IllegalArgumentException.class, () -> Quantizer.quantize(quantized, requantized,
                new Quantizer.Options(FileType.Q4_0, false, false, null, null, 1, null, false), (a, b, c, d) -> { }));
        assertTrue(requantize.getMessage().contains("--allow-requantize"), requantize.getMessage());
        assertFalse(Files.exists(requantized));

        Path truncated = temp.resolve("truncated.gguf");
        byte[] whole = Files.readAllBytes(moe);
        Files.write(truncated, java.util.Arrays.copyOf(whole, whole.length / 3));
        Path out = temp.resolve("from-truncated.gguf");
        assertThrows(GgufException.class, () -> Quantizer.quantize(truncated, out,
                new Quantizer.Options(FileType.Q4_0, false, false, null, null, 1, null, false), (a, b, c, d) -> { }));
        try (var files = Files.list(temp)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().contains("from-truncated")), "nothing left behind");
        }
    }
}
