package dev.panllama.convert;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.eval.KvCacheTypes;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufMetadata;
import dev.panllama.gguf.GgufTensorInfo;
import dev.panllama.eval.Evaluator;
import dev.panllama.model.Model;
import dev.panllama.parity.SampleText;
import dev.panllama.quantize.FileType;
import dev.panllama.reference.Reference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code panllama convert} on synthetic Hugging Face checkpoints: the reference llama.cpp, run on the
 * converted GGUF, must give the logits of {@link HfForwardPass}, an independent double-precision
 * forward pass over the checkpoint's own layout, within 1e-4 relative (max |difference| / max |logit|
 * per position, every position). F32 output, and the reference runs with an F32 KV cache and without
 * flash attention (its CPU kernel rounds through F16), so that only float rounding separates them. panllama's own runtime must agree the same way, the tokenizer must
 * come out as the vocabulary it was made from, and a quantized conversion must be, byte for byte, what
 * llama-quantize makes of the converted file.
 */
class ConvertParityTest {

    private static final double LIMIT = 1e-4;
    private static Path work;
    private static Reference reference;

    @BeforeAll
    static void setUp() throws IOException {
        work = Files.createTempDirectory("panllama-convert");
        reference = new Reference(work);
    }

    @AfterAll
    static void cleanUp() throws IOException {
        try (Stream<Path> files = Files.walk(work)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    static Path vocabulary() {
        return UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf");
    }

    /** Scout-like: BF16 in two shards, MoE on every second layer, a NoPE layer, llama3 RoPE scaling, a vision tower. */
    static HfCheckpoint.Spec llama4() {
        return new HfCheckpoint.Spec(true, 4, 64, 4, 2, 16, 96, 4, 1, 48, 2, "BF16", 2, true, false, 41);
    }

    /** Llama 3.2-like: F16 in one file, grouped-query attention, tied embeddings, llama3 RoPE scaling. */
    static HfCheckpoint.Spec llama3() {
        return new HfCheckpoint.Spec(false, 2, 64, 4, 2, 16, 128, 0, 0, 0, 1, "F16", 1, true, true, 42);
    }

    @Test
    void llama4ConversionKeepsTheModel() throws IOException {
        List<String> notices = checkConversion("llama4", llama4());
        assertTrue(notices.stream().anyMatch(n -> n.contains("vision tower (2 tensors)")), "notices: " + notices);
    }

    @Test
    void llama3ConversionKeepsTheModel() throws IOException {
        checkConversion("llama3", llama3());
    }

    private List<String> checkConversion(String name, HfCheckpoint.Spec spec) throws IOException {
        Path directory = work.resolve(name);
        HfCheckpoint checkpoint = HfCheckpoint.write(spec, vocabulary(), directory);
        Path gguf = work.resolve(name + "-f32.gguf");
        List<String> notices = new ArrayList<>();
        Converter.convert(directory, gguf, new Converter.Options(FileType.F32, 2), (a, b, c, d) -> { }, notices::add);

        assertTokenizerIsTheVocabulary(gguf, spec.llama4() ? "llama4" : "llama-bpe");
        int[] tokens = reference.tokenize(gguf, SampleText.prose(3, 24));
        double[][] expected = new HfForwardPass(checkpoint).logits(tokens);
        float[][] fromReference = reference.logits(gguf, tokens, 0, new Reference.Settings(512, 2, 4096, true), checkpoint.vocabSize);
        float[][] fromPanllama;
        try (Model model = Model.open(gguf, 2); Evaluator evaluator = new Evaluator(model, 4096, 512, KvCacheTypes.of(GgmlType.F32))) {
            fromPanllama = evaluator.evaluate(tokens, 0);
        }
        double referenceError = maxRelativeError(expected, fromReference);
        double panllamaError = maxRelativeError(expected, fromPanllama);
        System.out.printf("convert %-7s %d positions: reference vs Hugging Face layout max %.2e, panllama vs it max %.2e%n",
                name, tokens.length, referenceError, panllamaError);
        assertTrue(referenceError <= LIMIT, name + ": the reference's logits differ from the checkpoint's by " + referenceError);
        assertTrue(panllamaError <= LIMIT, name + ": panllama's logits differ from the checkpoint's by " + panllamaError);
        return notices;
    }

    /** A planted layout mistake (Llama 3's Q/K rows not reordered) must show far above the limit. */
    @Test
    void aLayoutMistakeIsCaught() throws IOException {
        Path directory = work.resolve("llama3-plain-config");
        HfCheckpoint checkpoint = HfCheckpoint.write(llama3(), vocabulary(), directory);
        // Swap the two halves of every head's Q rows of layer 0 in the weights the forward pass reads:
        // the same damage a converter that skipped (or doubled) the RoPE reordering would do.
        Path gguf = work.resolve("llama3-mistake.gguf");
        Converter.convert(directory, gguf, new Converter.Options(FileType.F32, 2), (a, b, c, d) -> { }, n -> { });
        int[] tokens = reference.tokenize(gguf, SampleText.prose(5, 16));
        float[] q = checkpoint.weights.get("model.layers.0.self_attn.q_proj.weight");
        int rows = 16, rowLength = 64;
        for (int head = 0; head < 4; head++) {
            for (int r = 0; r < rows / 2; r++) {
                for (int i = 0; i < rowLength; i++) {
                    int a = ((head * rows) + r) * rowLength + i, b = ((head * rows) + r + rows / 2) * rowLength + i;
                    float t = q[a];
                    q[a] = q[b];
                    q[b] = t;
                }
            }
        }
        double error = maxRelativeError(new HfForwardPass(checkpoint).logits(tokens),
                reference.logits(gguf, tokens, 0, new Reference.Settings(512, 2, 4096, true), checkpoint.vocabSize));
        System.out.printf("convert planted Q-layout mistake: max %.2e%n", error);
        assertTrue(error > 100 * LIMIT, "a wrong Q layout went unnoticed: " + error);
    }

    @Test
    void aQuantizedConversionIsWhatLlamaQuantizeMakesOfTheConvertedFile() throws IOException {
        Path directory = work.resolve("llama4-q");
        HfCheckpoint.write(llama4(), vocabulary(), directory);
        Path converted = work.resolve("llama4-auto.gguf");
        Converter.Summary auto = Converter.convert(directory, converted, new Converter.Options(null, 2), (a, b, c, d) -> { }, n -> { });
        assertEquals(FileType.BF16, auto.type(), "a BF16 checkpoint converts to BF16 by default");
        for (String type : List.of("Q4_K_M", "Q4_0")) {
            Path ours = work.resolve("llama4-" + type + ".gguf");
            Converter.convert(directory, ours, new Converter.Options(FileType.of(type), 2), (a, b, c, d) -> { }, n -> { });
            Path theirs = work.resolve("llama4-" + type + "-reference.gguf");
            reference.quantize(converted, theirs, type);
            try (GgufFile expected = GgufFile.open(theirs); GgufFile actual = GgufFile.open(ours)) {
                assertEquals(names(expected), names(actual), type + ": tensor names");
                for (GgufTensorInfo tensor : expected.tensors()) {
                    GgufTensorInfo mine = actual.findTensor(tensor.name()).orElseThrow();
                    assertEquals(tensor.type(), mine.type(), type + ": type of " + tensor.name());
                    assertArrayEquals(tensor.shape(), mine.shape(), type + ": shape of " + tensor.name());
                    assertTrue(expected.data(tensor).mismatch(actual.data(mine)) < 0, type + ": bytes of " + tensor.name());
                }
                assertEquals(expected.metadata().getInt("general.file_type"), actual.metadata().getInt("general.file_type"));
            }
        }
    }

    private static List<String> names(GgufFile file) {
        return file.tensors().stream().map(GgufTensorInfo::name).sorted().toList();
    }

    private static void assertTokenizerIsTheVocabulary(Path gguf, String preTokenizer) throws IOException {
        try (GgufFile converted = GgufFile.open(gguf); GgufFile vocab = GgufFile.open(vocabulary())) {
            GgufMetadata ours = converted.metadata(), theirs = vocab.metadata();
            for (String key : List.of("tokenizer.ggml.tokens", "tokenizer.ggml.merges")) {
                assertArrayEquals(theirs.getArray(key).strings(), ours.getArray(key).strings(), key);
            }
            assertArrayEquals(theirs.getArray("tokenizer.ggml.token_type").ints(), ours.getArray("tokenizer.ggml.token_type").ints());
            assertEquals("gpt2", ours.getString("tokenizer.ggml.model"));
            assertEquals(preTokenizer, ours.getString("tokenizer.ggml.pre"));
            assertEquals(theirs.getInt("tokenizer.ggml.bos_token_id"), ours.getInt("tokenizer.ggml.bos_token_id"));
            assertEquals(theirs.getInt("tokenizer.ggml.eos_token_id"), ours.getInt("tokenizer.ggml.eos_token_id"));
            assertEquals(Boolean.TRUE, ours.findBool("tokenizer.ggml.add_bos_token").orElse(null));
            assertTrue(ours.getString("tokenizer.chat_template").contains("<|start_header_id|>"));
        }
    }

    private static double maxRelativeError(double[][] expected, float[][] actual) {
        assertEquals(expected.length, actual.length, "positions");
        double worst = 0;
        for (int p = 0; p < expected.length; p++) {
            double maxDiff = 0, maxLogit = 0;
            for (int v = 0; v < expected[p].length; v++) {
                maxDiff = Math.max(maxDiff, Math.abs(expected[p][v] - actual[p][v]));
                maxLogit = Math.max(maxLogit, Math.abs(expected[p][v]));
            }
            worst = Math.max(worst, maxDiff / maxLogit);
        }
        return worst;
    }
}
