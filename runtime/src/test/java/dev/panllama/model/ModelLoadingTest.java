package dev.panllama.model;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.eval.Evaluator;
import dev.panllama.ggml.GgmlType;
import dev.panllama.gguf.GgufException;
import dev.panllama.gguf.GgufFile;
import dev.panllama.gguf.GgufValue;
import dev.panllama.gguf.GgufWriter;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loading models: Llama 4's layer patterns, and files that cannot be run failing with a clear message. */
class ModelLoadingTest {

    @TempDir
    static Path temp;
    static Path scout;

    static Path vocabulary() {
        return UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf");
    }

    static RandomModelSpec small() {
        return RandomModelSpec.scoutLike(GgmlType.Q8_0, 5).withTiedOutput(true);
    }

    @BeforeAll
    static void writeModel() throws IOException {
        scout = temp.resolve("scout.gguf");
        RandomModelWriter.write(small(), vocabulary(), scout);
    }

    @Test
    void llama4LayerPatternsFollowLlamaCpp() {
        try (Model model = Model.open(scout, 2)) {
            ModelConfig config = model.config();
            assertEquals(8192, config.plan().chunkSize());
            // Layers 0-2 chunked with RoPE, layer 3 global and NoPE with the attention temperature.
            assertTrue(config.plan().isChunked(0) && config.plan().isChunked(1) && config.plan().isChunked(2));
            assertFalse(config.plan().isChunked(3));
            assertTrue(config.plan().usesRope(0) && config.plan().usesRope(2));
            assertFalse(config.plan().usesRope(3));
            assertTrue(config.temperatureTuning().isPresent());
            assertTrue(config.plan().qkNorm());
            assertEquals(1.0f, config.temperatureTuning().orElseThrow().at(100));
            assertEquals((float) (Math.log(2) * 0.1 + 1), config.temperatureTuning().orElseThrow().at(8191));
        }
    }

    /**
     * {@code attention.sliding_window = 0} makes llama.cpp abort (its last layer is NoPE without a
     * temperature floor). panllama runs such a model with RoPE and global attention on every layer.
     */
    @Test
    void noSlidingWindowMeansRopeAndGlobalAttentionEverywhere() throws IOException {
        Path file = temp.resolve("no-window.gguf");
        RandomModelWriter.write(small().withWindow(0, 0), vocabulary(), file);
        try (Model model = Model.open(file, 2); Evaluator evaluator = new Evaluator(model, 512, 64)) {
            ModelConfig config = model.config();
            assertEquals(0, config.plan().chunkSize());
            for (int layer = 0; layer < config.plan().count(); layer++) {
                assertTrue(config.plan().usesRope(layer), "layer " + layer + " uses RoPE");
                assertFalse(config.plan().isChunked(layer), "layer " + layer + " attends globally");
            }
            assertFalse(config.temperatureTuning().isPresent());
            float[][] logits = evaluator.evaluate(new int[] {128000, 9906, 1917, 0, 1115, 374, 264, 1296}, 0);
            assertEquals(8, logits.length);
            for (float[] row : logits) {
                for (float value : row) {
                    assertTrue(Float.isFinite(value));
                }
            }
        }
    }

    @Test
    void decodingTokenByTokenGivesThePromptsLogits() {
        int[] prompt = {128000, 9906, 1917, 0, 1115, 374, 264, 1296, 315, 279};
        try (Model model = Model.open(scout, 2); Evaluator evaluator = new Evaluator(model, 256, 64)) {
            float[][] batched = evaluator.evaluate(prompt, 0);
            evaluator.reset();
            for (int i = 0; i < prompt.length; i++) {
                float[] single = evaluator.evaluate(new int[] {prompt[i]}, 0)[0];
                double worst = 0, scale = 0;
                for (int v = 0; v < single.length; v++) {
                    worst = Math.max(worst, Math.abs(single[v] - batched[i][v]));
                    scale = Math.max(scale, Math.abs(batched[i][v]));
                }
                assertTrue(worst / scale < 1e-2, "position " + i + ": relative difference " + worst / scale);
            }
            assertEquals(prompt.length, evaluator.position());
        }
    }

    @Test
    void unsupportedArchitectureIsNamedWithTheSupportedOnes() throws IOException {
        Path file = temp.resolve("mamba.gguf");
        new GgufWriter().put("general.architecture", "mamba").write(file);
        var error = assertThrows(UnsupportedArchitectureException.class, () -> Model.open(file, 1));
        assertTrue(error.getMessage().contains("'mamba'"), error.getMessage());
        assertTrue(error.getMessage().contains("llama4") && error.getMessage().contains("llama"), error.getMessage());
    }

    @Test
    void tensorWhoseShapeContradictsTheHyperparametersIsRefused() throws IOException {
        Path file = temp.resolve("lying.gguf");
        try (GgufFile source = GgufFile.open(scout)) {
            new GgufWriter().putAll(source.metadata())
                    .put("llama4.embedding_length", GgufValue.ofUint32(128))
                    .write(file);
        }
        var error = assertThrows(GgufException.class, () -> Model.open(file, 1));
        assertTrue(error.getMessage().contains("missing tensor") || error.getMessage().contains("shape"), error.getMessage());
    }

    @Test
    void evaluatorRefusesTokensOutsideTheVocabularyAndAFullContext() {
        try (Model model = Model.open(scout, 1); Evaluator evaluator = new Evaluator(model, 4, 4)) {
            assertThrows(IllegalArgumentException.class, () -> evaluator.evaluate(new int[] {-1}, 0));
            assertThrows(IllegalArgumentException.class, () -> evaluator.evaluate(new int[] {200000}, 0));
            evaluator.evaluate(new int[] {1, 2, 3}, 3);
            assertThrows(IllegalStateException.class, () -> evaluator.evaluate(new int[] {1, 2}, 0));
        }
    }
}
