package dev.panllama.api;

import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Embeddings' pooling and normalization, read through the model's causal attention: a text's token
 * rows are the last-token embeddings of its prefixes, so its mean is their mean and its first token's
 * is the beginning-of-text token's alone; texts embedded together equal texts embedded alone. (The rows
 * are the hidden states the output head reads: {@code BatchEvaluatorTest}; the vectors equal llama.cpp's:
 * src-test's {@code EmbeddingParityTest}.)
 */
class EmbedderTest {

    @TempDir
    static Path temp;
    static LlamaModel model;

    @BeforeAll
    static void openModel() throws IOException {
        Path file = temp.resolve("scout.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.F32, 21).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), file);
        model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(128));
    }

    @AfterAll
    static void closeModel() {
        model.close();
    }

    private static int[] prefix(int[] tokens, int length) {
        return Arrays.copyOf(tokens, length);
    }

    @Test
    void meanAndFirstTokenPoolingFollowFromTheLastTokens() {
        int[] tokens = model.tokenizer().encode("The cat sat on the mat, quietly.", true, true);
        try (Embedder last = model.newEmbedder(Embedder.Pooling.LAST, 4);
             Embedder mean = model.newEmbedder(Embedder.Pooling.MEAN, 4);
             Embedder first = model.newEmbedder(Embedder.Pooling.CLS, 4)) {
            int n = last.dimensions();
            double[] sum = new double[n];
            for (int length = 1; length <= tokens.length; length++) {
                float[] row = last.embedTokens(List.of(prefix(tokens, length)), -1).getFirst();
                for (int i = 0; i < n; i++) {
                    sum[i] += row[i];
                }
            }
            float[] pooled = mean.embedTokens(List.of(tokens), -1).getFirst();
            for (int i = 0; i < n; i++) {
                assertEquals(sum[i] / tokens.length, pooled[i], 1e-4 * (1 + Math.abs(pooled[i])), "dimension " + i);
            }
            assertArrayEquals(last.embedTokens(List.of(prefix(tokens, 1)), -1).getFirst(), first.embedTokens(List.of(tokens), -1).getFirst(),
                    1e-5f, "the first token's row, which sees nothing after it");
        }
    }

    @Test
    void textsTogetherEqualTextsAloneAndNormalizationIsLlamaCpps() {
        List<String> texts = List.of("Hello there", "A longer sentence about the weather in Paris today", "x", "Hello there");
        try (Embedder embedder = model.newEmbedder(Embedder.Pooling.MEAN, 2)) {
            List<float[]> together = embedder.embed(texts, Embedder.EUCLIDEAN);
            assertEquals(texts.size(), together.size());
            for (int t = 0; t < texts.size(); t++) {
                assertArrayEquals(embedder.embed(texts.get(t)), together.get(t), 1e-5f, "text " + t);
                double length = 0;
                for (float x : together.get(t)) {
                    length += x * x;
                }
                assertEquals(1, Math.sqrt(length), 1e-5);
            }
            assertArrayEquals(together.get(0), together.get(3), 1e-6f, "the same text twice");
            assertFalse(Arrays.equals(together.get(0), together.get(1)));

            float[] raw = embedder.embed(List.of(texts.get(1)), -1).getFirst();
            float[] taxicab = embedder.embed(List.of(texts.get(1)), 1).getFirst();
            float[] int16 = embedder.embed(List.of(texts.get(1)), 0).getFirst();
            double abs = 0;
            float max = 0;
            for (int i = 0; i < raw.length; i++) {
                abs += Math.abs(taxicab[i]);
                max = Math.max(max, Math.abs(int16[i]));
                assertEquals(Math.signum(raw[i]), Math.signum(int16[i]));
            }
            assertEquals(1, abs, 1e-5);
            assertEquals(32760, max, 1e-2);
        }
    }

    /**
     * Texts longer than a micro-batch go in pieces, their rows pooled as they come: a model of 8-token micro-batches
     * gives what one evaluating each text in one micro-batch gives, for every pooling, within what other batch
     * sizes change in the last bits of the products.
     */
    @Test
    void longTextsInPiecesPoolAsWhole() throws IOException {
        List<String> texts = List.of("The quick brown fox jumps over the lazy dog while the cat watches from the warm window sill",
                "Short one", "Another sentence that is a little longer than a micro-batch of eight tokens, surely");
        try (LlamaModel small = LlamaModel.open(temp.resolve("scout.gguf"),
                ModelOptions.defaults().withThreads(2).withContextLength(128).withBatchSize(8))) {
            for (Embedder.Pooling pooling : Embedder.Pooling.values()) {
                try (Embedder whole = model.newEmbedder(pooling, 3); Embedder pieces = small.newEmbedder(pooling, 3)) {
                    List<float[]> expected = whole.embed(texts, -1);
                    List<float[]> actual = pieces.embed(texts, -1);
                    for (int t = 0; t < texts.size(); t++) {
                        float largest = 0;
                        for (float x : expected.get(t)) {
                            largest = Math.max(largest, Math.abs(x));
                        }
                        assertArrayEquals(expected.get(t), actual.get(t), 1e-4f * largest, pooling + " text " + t);
                    }
                }
            }
        }
    }

    @Test
    void whatCannotBeEmbeddedIsRefused() {
        try (Embedder embedder = model.newEmbedder(Embedder.Pooling.LAST, 1)) {
            assertThrows(IllegalArgumentException.class, () -> embedder.embedTokens(List.of(new int[0]), 2));
            assertThrows(IllegalArgumentException.class, () -> embedder.embedTokens(List.of(new int[200]), 2));
            assertThrows(IllegalArgumentException.class, () -> embedder.embed(List.of("a"), -2));
            assertTrue(embedder.embed("still works").length > 0);
        }
        assertEquals(Embedder.Pooling.LAST, Embedder.Pooling.of("last"));
        assertThrows(IllegalArgumentException.class, () -> Embedder.Pooling.of("rank"));
    }
}
