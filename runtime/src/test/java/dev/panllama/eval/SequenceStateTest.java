package dev.panllama.eval;

import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.Model;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A sequence saved out of one evaluator and restored into another continues as if it had never stopped:
 * the same logits, bit for bit, where the other cache has the saved cells free (whatever its size);
 * the same greedy tokens and logits within rounding where they are taken and the positions go to other
 * cells. Llama 4's chunks are 8192 tokens, so the Scout-like prompt runs past the chunked layers' 8704
 * cells ({@code 8192 + 512}) and they have been reused when it is saved. Comparisons within rounding use
 * F32 weights and caches: with an F16 cache, flash attention accumulates in F16, and these random models
 * turn that rounding into differences of tenths in the logits.
 */
class SequenceStateTest {

    private static final int CONTEXT = 9216;
    private static final int UBATCH = 512;
    private static final int LONG_PROMPT = 8800;
    private static final int SHORT_PROMPT = 300;
    private static final int STEPS = 12;

    @TempDir
    static Path temp;
    static Path scout;
    static Path dense;

    @BeforeAll
    static void writeModels() throws IOException {
        Path vocabulary = UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf");
        // Small enough that a prompt past a chunk takes seconds: 4 layers (3 chunked, 1 global), 2 heads of 32, 1 expert.
        RandomModelSpec spec = new RandomModelSpec("llama4", 4, 64, 2, 1, 32, 128, 1, 1, 64, 1, -1, 0, 16384,
                500000f, 1e-5f, GgmlType.F32, true, false, "llama4", 23);
        scout = temp.resolve("scout.gguf");
        RandomModelWriter.write(spec, vocabulary, scout);
        dense = temp.resolve("dense.gguf");
        RandomModelWriter.write(spec.asDenseLlama(), vocabulary, dense);
    }

    private static int[] prompt(int length) {
        int[] tokens = new int[length];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = 100 + (i * 37) % 5000;
        }
        return tokens;
    }

    /** The logits of each greedy step after {@code logits}, the argmax fed back each time. */
    private static List<float[]> greedy(Evaluator evaluator, float[] logits) {
        List<float[]> steps = new ArrayList<>();
        for (int i = 0; i < STEPS; i++) {
            logits = evaluator.evaluate(new int[] {argmax(logits)}, 0)[0];
            steps.add(logits);
        }
        return steps;
    }

    private static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }

    private static void assertSameLogits(List<float[]> expected, List<float[]> actual) {
        for (int i = 0; i < STEPS; i++) {
            assertArrayEquals(expected.get(i), actual.get(i), "step " + i);
        }
    }

    private static void assertSameTokensWithinRounding(List<float[]> expected, List<float[]> actual) {
        for (int i = 0; i < STEPS; i++) {
            assertEquals(argmax(expected.get(i)), argmax(actual.get(i)), "greedy token of step " + i);
            assertArrayEquals(expected.get(i), actual.get(i), 1e-4f, "step " + i);
        }
    }

    @Test
    void aScoutSequenceWhoseChunkedCellsWereReusedContinuesAfterItsRestore() {
        int[] prompt = prompt(LONG_PROMPT);
        try (Model model = Model.open(scout, 2);
             Evaluator uninterrupted = new Evaluator(model, CONTEXT, UBATCH, KvCacheTypes.of(GgmlType.F32));
             Evaluator sameSize = new Evaluator(model, CONTEXT, UBATCH, KvCacheTypes.of(GgmlType.F32));
             Evaluator fewerChunkedCells = new Evaluator(model, CONTEXT, 64, KvCacheTypes.of(GgmlType.F32))) {
            float[] last = uninterrupted.evaluate(prompt, prompt.length - 1)[0];
            SequenceState state = uninterrupted.save();
            assertEquals(8704, state.chunked().cellCount());
            assertTrue(state.chunked().positions()[0] > 0, "the chunked layers' oldest positions were overwritten");
            List<float[]> expected = greedy(uninterrupted, last);

            sameSize.evaluate(new int[] {5, 6, 7}, 2);   // whatever it held is replaced
            sameSize.restore(state);
            assertEquals(LONG_PROMPT, sameSize.position());
            assertArrayEquals(prompt, sameSize.tokens());
            assertSameLogits(expected, greedy(sameSize, last));

            // 8448 chunked cells ({@code 8192 + 64}): the newest positions go to the first cells, in order.
            fewerChunkedCells.restore(state);
            assertEquals(LONG_PROMPT, fewerChunkedCells.position());
            assertSameTokensWithinRounding(expected, greedy(fewerChunkedCells, last));
        }
    }

    @Test
    void aDenseSequenceContinuesAfterItsRestoreIntoALargerContextWithTheSameLogits() {
        int[] prompt = prompt(SHORT_PROMPT);
        try (Model model = Model.open(dense, 2);
             Evaluator uninterrupted = new Evaluator(model, 1024, 64);
             Evaluator larger = new Evaluator(model, 2048, 64)) {
            float[] last = uninterrupted.evaluate(prompt, prompt.length - 1)[0];
            SequenceState state = uninterrupted.save();
            List<float[]> expected = greedy(uninterrupted, last);
            larger.restore(state);
            assertSameLogits(expected, greedy(larger, last));
        }
    }

    /** Another sequence holds the saved cells: the restored one takes the next free ones. */
    @Test
    void aSequenceRestoredBesideAnotherContinuesWithTheSameGreedyTokens() {
        int[] prompt = prompt(SHORT_PROMPT);
        try (Model model = Model.open(dense, 2);
             Evaluator uninterrupted = new Evaluator(model, 1024, 64, KvCacheTypes.of(GgmlType.F32));
             BatchEvaluator shared = new BatchEvaluator(model, 1024, 64, 2, KvCacheTypes.of(GgmlType.F32))) {
            float[] last = uninterrupted.evaluate(prompt, prompt.length - 1)[0];
            SequenceState state = uninterrupted.save();
            List<float[]> expected = greedy(uninterrupted, last);
            shared.open(0);
            shared.open(1);
            shared.evaluate(List.of(new BatchEvaluator.SequenceTokens(0, new int[] {9, 8, 7, 6, 5}, 4)));
            shared.restore(1, state);
            assertEquals(SHORT_PROMPT, shared.position(1));
            assertEquals(5, shared.position(0));
            List<float[]> actual = new ArrayList<>();
            float[] logits = last;
            for (int i = 0; i < STEPS; i++) {
                logits = shared.evaluate(List.of(new BatchEvaluator.SequenceTokens(1, new int[] {argmax(logits)}, 0))).getFirst()[0];
                actual.add(logits);
            }
            assertSameTokensWithinRounding(expected, actual);
        }
    }

    @Test
    void aContextTooSmallOrACacheOfAnotherTypeRefusesTheState() {
        try (Model model = Model.open(dense, 2);
             Evaluator source = new Evaluator(model, 1024, 64);
             Evaluator small = new Evaluator(model, 256, 64);
             Evaluator f32 = new Evaluator(model, 1024, 64, KvCacheTypes.of(GgmlType.F32))) {
            source.evaluate(prompt(SHORT_PROMPT), SHORT_PROMPT - 1);
            SequenceState state = source.save();
            var tooSmall = assertThrows(IllegalArgumentException.class, () -> small.restore(state));
            assertTrue(tooSmall.getMessage().contains("300 tokens"), tooSmall.getMessage());
            assertEquals(0, small.position());
            var otherType = assertThrows(IllegalArgumentException.class, () -> f32.restore(state));
            assertEquals("its KV cache is K f16, V f16, this one is K f32, V f32 (--cache-type f16 restores it)", otherType.getMessage());
        }
    }

    /**
     * Keys and values of different types (Q8_0 keys, F16 values; flash attention reads each in its own):
     * the state holds both types and comes back into a cache of the same ones with the same logits, while
     * a cache whose keys or values are of another type refuses it, naming the options that take it.
     */
    @Test
    void keysAndValuesOfDifferentTypesComeBackIntoACacheOfTheSameTypesOnly() {
        KvCacheTypes mixed = KvCacheTypes.of(GgmlType.Q8_0, GgmlType.F16);
        int[] prompt = prompt(SHORT_PROMPT);
        try (Model model = Model.open(dense, 2);
             Evaluator uninterrupted = new Evaluator(model, 1024, 64, mixed);
             Evaluator same = new Evaluator(model, 1024, 64, mixed);
             Evaluator swapped = new Evaluator(model, 1024, 64, KvCacheTypes.of(GgmlType.F16, GgmlType.Q8_0))) {
            float[] last = uninterrupted.evaluate(prompt, prompt.length - 1)[0];
            SequenceState state = uninterrupted.save();
            assertEquals(mixed, state.types());
            // 300 rows per layer: keys of 34-byte Q8_0 rows (32 elements), values of 64-byte F16 rows.
            assertEquals(SHORT_PROMPT * GgmlType.Q8_0.rowBytes(32), state.keys()[0].length);
            assertEquals(SHORT_PROMPT * GgmlType.F16.rowBytes(32), state.values()[0].length);
            List<float[]> expected = greedy(uninterrupted, last);
            same.restore(state);
            assertSameLogits(expected, greedy(same, last));

            var refused = assertThrows(IllegalArgumentException.class, () -> swapped.restore(state));
            assertEquals("its KV cache is K q8_0, V f16, this one is K f16, V q8_0 (-ctk q8_0 -ctv f16 restores it)", refused.getMessage());
            assertEquals(0, swapped.position());
        }
    }
}
