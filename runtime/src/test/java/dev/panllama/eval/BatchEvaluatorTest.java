package dev.panllama.eval;

import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.eval.BatchEvaluator.SequenceTokens;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.GraphOutput;
import dev.panllama.model.Model;
import dev.panllama.placement.FitOptions;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The batch evaluator's sequences: opening, removing, the context they share, what each one holds and
 * what a call that cannot run leaves; the router scores it lets a test observe. (Its logits are compared with libllama's in src-test's
 * {@code BatchParityTest}.)
 */
class BatchEvaluatorTest {

    @TempDir
    static Path temp;
    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = temp.resolve("scout.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 11).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), model);
    }

    private static int[] tokens(int first, int count) {
        int[] tokens = new int[count];
        for (int i = 0; i < count; i++) {
            tokens[i] = first + i;
        }
        return tokens;
    }

    /**
     * The embeddings' rows are the hidden states the output head reads: each, multiplied by the head's
     * matrix (an F32 model's tied embeddings), gives the logits of the same token, for every prompt row.
     */
    @Test
    void embeddingsAreWhatTheOutputHeadReads() throws IOException {
        Path f32 = temp.resolve("scout-f32.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.F32, 12).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), f32);
        try (Model m = Model.open(f32, 2);
             BatchEvaluator logits = new BatchEvaluator(m, 64, 16, 1, KvCacheTypes.of(GgmlType.F32));
             BatchEvaluator embeddings = new BatchEvaluator(m, 64, 16, 1, KvCacheTypes.of(GgmlType.F32), FitOptions.KV_ALL, GraphOutput.EMBEDDINGS)) {
            logits.open(0);
            embeddings.open(0);
            int[] prompt = tokens(200, 12);
            float[][] expected = logits.evaluate(List.of(new SequenceTokens(0, prompt, 0))).getFirst();
            float[][] hidden = embeddings.evaluate(List.of(new SequenceTokens(0, prompt, 0))).getFirst();
            int n = m.config().dims().embedding();
            assertEquals(n, hidden[0].length);
            float[] head = m.weights().output().readFloats();   // [n_vocab][n_embd]
            for (int row = 0; row < prompt.length; row++) {
                double largest = 0;
                double worst = 0;
                for (int v = 0; v < expected[row].length; v++) {
                    double dot = 0;
                    for (int i = 0; i < n; i++) {
                        dot += (double) head[v * n + i] * hidden[row][i];
                    }
                    largest = Math.max(largest, Math.abs(expected[row][v]));
                    worst = Math.max(worst, Math.abs(dot - expected[row][v]));
                }
                assertTrue(worst <= 1e-4 * largest, "row " + row + ": " + worst + " of " + largest);
            }
        }
    }

    @Test
    void sequencesShareTheContextAndARemovedOneGivesItsRoomBack() {
        try (Model m = Model.open(model, 2); BatchEvaluator evaluator = new BatchEvaluator(m, 64, 16, 3, KvCacheTypes.F16)) {
            evaluator.open(0);
            evaluator.open(2);
            List<float[][]> logits = evaluator.evaluate(List.of(
                    new SequenceTokens(2, tokens(100, 20), 18), new SequenceTokens(0, tokens(10, 10), 0)));
            assertEquals(2, logits.get(0).length, "rows of the first entry: its tokens 18 and 19");
            assertEquals(10, logits.get(1).length);
            assertEquals(20, evaluator.position(2));
            assertEquals(10, evaluator.position(0));
            assertEquals(34, evaluator.room(), "the context is the sequences' together");
            evaluator.remove(2);
            assertFalse(evaluator.isOpen(2));
            assertEquals(54, evaluator.room());
            var notOpen = assertThrows(IllegalStateException.class,
                    () -> evaluator.evaluate(List.of(new SequenceTokens(2, tokens(1, 1), 0))));
            assertTrue(notOpen.getMessage().contains("not open"), notOpen.getMessage());
            evaluator.open(2);
            assertEquals(0, evaluator.position(2), "a reopened id starts empty");
        }
    }

    @Test
    void aCallThatCannotRunChangesNothing() {
        try (Model m = Model.open(model, 2); BatchEvaluator evaluator = new BatchEvaluator(m, 64, 16, 2, KvCacheTypes.F16)) {
            evaluator.open(0);
            evaluator.open(1);
            evaluator.evaluate(List.of(new SequenceTokens(0, tokens(10, 30), 29)));
            assertThrows(IllegalStateException.class, () -> evaluator.evaluate(List.of(
                    new SequenceTokens(0, tokens(40, 20), 19), new SequenceTokens(1, tokens(60, 20), 19))));
            assertThrows(IllegalArgumentException.class, () -> evaluator.evaluate(List.of(
                    new SequenceTokens(1, tokens(60, 2), 1), new SequenceTokens(1, tokens(70, 2), 1))));
            assertThrows(IllegalArgumentException.class, () -> evaluator.evaluate(List.of(
                    new SequenceTokens(1, tokens(60, 2), 1), new SequenceTokens(0, new int[] {-1}, 0))));
            assertEquals(30, evaluator.position(0));
            assertEquals(0, evaluator.position(1));
            assertEquals(34, evaluator.room());
            assertThrows(IllegalArgumentException.class, () -> evaluator.open(2), "ids are 0 and 1");
            assertThrows(IllegalStateException.class, () -> evaluator.open(1), "already open");
        }
    }

    @Test
    void eachSequenceKeepsWhatANewPromptSharesWithItOnly() {
        try (Model m = Model.open(model, 2); BatchEvaluator evaluator = new BatchEvaluator(m, 64, 16, 2, KvCacheTypes.F16)) {
            evaluator.open(0);
            evaluator.open(1);
            evaluator.evaluate(List.of(new SequenceTokens(0, new int[] {10, 11, 12, 13}, 3),
                    new SequenceTokens(1, new int[] {10, 11, 50}, 2)));
            assertEquals(2, evaluator.keepCommonPrefix(1, new int[] {10, 11, 12, 13}));
            assertEquals(4, evaluator.position(0), "the other sequence is untouched");
            assertEquals(4, evaluator.keepCommonPrefix(0, new int[] {10, 11, 12, 13, 14}));
            assertEquals(58, evaluator.room());
        }
    }

    @Test
    void routerScoresOfEveryTokenAndLayerCanBeObservedWithoutChangingTheLogits() {
        List<SequenceTokens> call = List.of(new SequenceTokens(0, tokens(10, 5), 4), new SequenceTokens(1, tokens(30, 3), 2));
        try (Model m = Model.open(model, 2); BatchEvaluator plain = new BatchEvaluator(m, 64, 16, 2, KvCacheTypes.F16);
             BatchEvaluator observed = new BatchEvaluator(m, 64, 16, 2, KvCacheTypes.F16)) {
            for (BatchEvaluator evaluator : List.of(plain, observed)) {
                evaluator.open(0);
                evaluator.open(1);
            }
            List<BatchEvaluator.RouterScores> seen = new ArrayList<>();
            observed.observeRouters(seen::add);
            List<float[][]> expected = plain.evaluate(call);
            List<float[][]> actual = observed.evaluate(call);
            for (int entry = 0; entry < call.size(); entry++) {
                for (int row = 0; row < expected.get(entry).length; row++) {
                    assertArrayEquals(expected.get(entry)[row], actual.get(entry)[row], "entry " + entry + ", row " + row);
                }
            }
            int layers = m.config().dims().layers();
            // Every layer is a mixture of experts: all 8 tokens in each but the last, whose experts see
            // only the 2 rows whose logits are computed.
            assertEquals(8 * (layers - 1) + 2, seen.size());
            for (BatchEvaluator.RouterScores scores : seen) {
                assertEquals(m.config().experts().count(), scores.scores().length);
                int[] context = scores.context();
                int[] expectedContext = scores.sequence() == 0 ? tokens(10, context.length) : tokens(30, context.length);
                assertArrayEquals(expectedContext, context, "the tokens of sequence " + scores.sequence() + " up to the scored one");
                if (scores.layer() == layers - 1) {
                    assertEquals(scores.sequence() == 0 ? 5 : 3, context.length, "the last layer scores the last tokens only");
                }
            }

            IllegalStateException thrown = new IllegalStateException("the observer failed");
            observed.observeRouters(scores -> {
                throw thrown;
            });
            assertSame(thrown, assertThrows(IllegalStateException.class,
                    () -> observed.evaluate(List.of(new SequenceTokens(0, tokens(15, 1), 0)))), "thrown by evaluate, not lost in ggml");
            observed.observeRouters(null);
            seen.clear();
            observed.evaluate(List.of(new SequenceTokens(1, tokens(33, 1), 0)));
            assertTrue(seen.isEmpty(), "nothing observed once stopped");
        }
    }
}
