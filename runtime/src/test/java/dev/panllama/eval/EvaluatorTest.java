package dev.panllama.eval;

import dev.panllama.bindings.UserCache;
import dev.panllama.bindings.NativePin;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.Model;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The evaluator's sequence: what it holds, what a new prompt can reuse, and its lifetime inside the model's. */
class EvaluatorTest {

    @TempDir
    static Path temp;
    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = temp.resolve("scout.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 11).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), model);
    }

    @Test
    void positionAndRoomFollowTheTokensEvaluated() {
        try (Model m = Model.open(model, 2); Evaluator evaluator = new Evaluator(m, 64, 16)) {
            evaluator.evaluate(new int[] {1, 2, 3, 4, 5}, 4);
            assertEquals(5, evaluator.position());
            assertEquals(59, evaluator.room());
            evaluator.keep(2);
            assertEquals(2, evaluator.position());
            assertEquals(62, evaluator.room());
        }
    }

    @Test
    void aPromptReusesTheStartItSharesWithTheSequence() {
        try (Model m = Model.open(model, 2); Evaluator evaluator = new Evaluator(m, 64, 16)) {
            float[] fresh = evaluator.evaluate(new int[] {10, 11, 12, 13}, 3)[0];
            assertEquals(2, evaluator.keepOrSharePrefix(new int[] {10, 11, 99, 13}));
            assertEquals(2, evaluator.position());
            float[] again = evaluator.evaluate(new int[] {12, 13}, 1)[0];
            assertArrayEquals(fresh, again, 1e-5f, "the kept prefix gives the logits a fresh run gives");
            assertEquals(0, evaluator.keepOrSharePrefix(new int[] {7}));
        }
    }

    /**
     * A decoding loop that passes one array each step gets each step's logits in it, the same as the
     * rows {@code evaluate} makes, and a batch's rows given arrays of the wrong count or size are refused
     * before anything changes.
     */
    @Test
    void decodingIntoTheCallersArrayGivesTheLogitsEvaluateGives() {
        int[] steps = {21, 22, 23};
        try (Model m = Model.open(model, 2); Evaluator reused = new Evaluator(m, 64, 16); Evaluator fresh = new Evaluator(m, 64, 16)) {
            reused.evaluate(new int[] {10, 11, 12}, 2);
            fresh.evaluate(new int[] {10, 11, 12}, 2);
            float[] logits = new float[m.config().dims().vocabSize()];
            for (int token : steps) {
                assertSame(logits, reused.evaluateNext(token, logits));
                assertArrayEquals(fresh.evaluate(new int[] {token}, 0)[0], logits, "step after " + token);
            }
            var tooShort = assertThrows(IllegalArgumentException.class, () -> reused.evaluateNext(24, new float[10]));
            assertTrue(tooShort.getMessage().contains("floats"), tooShort.getMessage());
            assertEquals(6, reused.position(), "a refused step changes nothing");
        }
        try (Model m = Model.open(model, 2); BatchEvaluator batch = new BatchEvaluator(m, 64, 16, 1, KvCacheTypes.F16)) {
            batch.open(0);
            var rows = assertThrows(IllegalArgumentException.class, () -> batch.evaluate(
                    java.util.List.of(new BatchEvaluator.SequenceTokens(0, new int[] {1, 2}, 0)), java.util.List.<float[][]>of(new float[1][])));
            assertTrue(rows.getMessage().contains("wants 2 rows"), rows.getMessage());
            assertEquals(0, batch.position(0));
        }
    }

    /**
     * Two layers, both chunked with RoPE: no layer reads the attention temperature or the global
     * layers' cells and mask, so the graph has no such inputs.
     */
    @Test
    void stepTimesCountMicroBatchesAndTheirComputeAndRebuilds() {
        try (Model m = Model.open(model, 2); Evaluator evaluator = new Evaluator(m, 64, 16)) {
            assertEquals(StepTimes.NONE, evaluator.stepTimes());
            evaluator.evaluate(new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, 19);   // 16 + 4
            StepTimes prompt = evaluator.stepTimes();
            assertEquals(2, prompt.steps());
            assertTrue(prompt.graphBuildNanos() > 0, "the first micro-batch builds a graph");
            // 16 tokens, then 4: two shapes, two graphs built.
            assertEquals(2, prompt.graphsComputed());
            assertEquals(2, prompt.graphsBuilt());
            assertTrue(prompt.computeNanos() > 0 && prompt.computeNanos() < prompt.totalNanos());

            evaluator.forgetStepTimes();
            evaluator.evaluate(new int[] {21}, 0);
            evaluator.evaluate(new int[] {22}, 0);
            StepTimes decode = evaluator.stepTimes();
            assertEquals(2, decode.steps());
            // The first decode step builds the one-token graph, the second reuses it.
            assertEquals(2, decode.graphsComputed());
            assertEquals(1, decode.graphsBuilt());
            assertEquals(0.5, decode.graphsBuiltPerStep(), 1e-12);
            assertTrue(decode.graphBuildNanos() < decode.totalNanos() - decode.computeNanos(),
                    "graph building is part of the host time");
            assertTrue(decode.hostFraction() > 0 && decode.hostFraction() < 1, "host fraction " + decode.hostFraction());
            assertEquals(decode.hostNanos() / 2.0, decode.hostNanosPerStep(), 1e-9);
        }
    }

    @Test
    void aModelWithoutNopeLayersEvaluates() throws IOException {
        Path twoLayers = temp.resolve("two-layers.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 12).withLayers(2),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), twoLayers);
        try (Model m = Model.open(twoLayers, 2); Evaluator evaluator = new Evaluator(m, 64, 16)) {
            assertTrue(m.config().plan().usesRope(0) && m.config().plan().usesRope(1));
            float[] logits = evaluator.evaluate(new int[] {1, 2, 3}, 2)[0];
            assertTrue(Float.isFinite(logits[0]));
        }
    }

    /** Two evaluators of one model used from two threads at once compute what each computes alone. */
    @Test
    void evaluatorsOfOneModelOnTwoThreadsComputeAsAlone() throws Exception {
        int[][] prompts = {{1, 2, 3, 4, 5, 6, 7, 8}, {9, 10, 11, 12, 13}};
        try (Model m = Model.open(model, 2)) {
            float[][][] alone = new float[2][][];
            for (int i = 0; i < 2; i++) {
                try (Evaluator evaluator = new Evaluator(m, 64, 4)) {
                    alone[i] = evaluator.evaluate(prompts[i], 0);
                }
            }
            try (var threads = java.util.concurrent.Executors.newFixedThreadPool(2)) {
                var results = new java.util.ArrayList<java.util.concurrent.Future<float[][]>>();
                for (int round = 0; round < 10; round++) {
                    for (int[] prompt : prompts) {
                        results.add(threads.submit(() -> {
                            try (Evaluator evaluator = new Evaluator(m, 64, 4)) {
                                return evaluator.evaluate(prompt, 0);
                            }
                        }));
                    }
                }
                for (int r = 0; r < results.size(); r++) {
                    float[][] logits = results.get(r).get();
                    for (int row = 0; row < logits.length; row++) {
                        assertArrayEquals(alone[r % 2][row], logits[row], 1e-4f, "round " + r + ", row " + row);
                    }
                }
            }
        }
    }

    /** A reused graph must not reach ggml once the model's backends and weights are gone. */
    @Test
    void anEvaluatorUsedAfterItsModelIsClosedThrows() {
        Model m = Model.open(model, 2);
        try (Evaluator evaluator = new Evaluator(m, 64, 16)) {
            evaluator.evaluate(new int[] {1}, 0);
            m.close();
            var error = assertThrows(IllegalStateException.class, () -> evaluator.evaluate(new int[] {2}, 0));
            assertTrue(error.getMessage().contains("closed"), error.getMessage());
        } finally {
            m.close();
        }
    }
}
