package dev.panllama.parity;

import dev.panllama.eval.Evaluator;
import dev.panllama.eval.KvCacheTypes;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.Model;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.reference.Reference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Keys and values of different types, as llama.cpp's {@code -ctk} and {@code -ctv} give them, flash
 * attention reading each in its own type: panllama's logits against libllama's with the same
 * {@code type_k} and {@code type_v}, over a prompt of several micro-batches and greedy decode steps, within
 * the suite's quantized tolerances (median relative error 1e-2, top-1 agreement 90%). So that a cache that
 * ignored one of the types cannot pass, the logits must also be closer to libllama's with the same types
 * than to libllama's with an F16 cache; and since libllama rotates a quantized cache's heads by
 * Walsh-Hadamard matrices before rounding them, closer to it than to libllama with the rotation turned off.
 */
class KvCacheTypesParityTest {

    private static final int THREADS = 2;
    private static final int UBATCH = 64;
    private static final int CONTEXT = 1024;
    private static final int STEPS = 8;

    @TempDir
    static Path work;
    private static Reference reference;
    private static Path model;
    private static int[] prompt;

    @BeforeAll
    static void setUp() throws IOException {
        reference = new Reference(work);
        // F32 weights: the cache is the only thing rounded.
        model = ModelParityTest.write(work, new ModelParityTest.Case("cache-types", RandomModelSpec.scoutLike(GgmlType.F32, 31), UBATCH));
        prompt = ModelParityTest.sameTokens(reference, model, SampleText.prose(5, 160));
        assertTrue(prompt.length > 3 * UBATCH, "the prompt has only " + prompt.length + " tokens");
    }

    @ParameterizedTest(name = "-ctk {0} -ctv {1}")
    @CsvSource({"Q8_0, F16", "F16, Q8_0", "Q4_0, Q8_0"})
    void keysAndValuesOfDifferentTypesMatchLibllamaWithTheSameTypes(GgmlType keys, GgmlType values) throws IOException {
        Reference.Settings settings = new Reference.Settings(UBATCH, THREADS, CONTEXT).withCacheTypes(keys, values);
        int[] greedy = new int[STEPS];
        float[][] actual = new float[prompt.length + STEPS][];
        try (Model m = ModelParityTest.open(model); Evaluator evaluator = new Evaluator(m, CONTEXT, UBATCH, KvCacheTypes.of(keys, values))) {
            float[][] rows = evaluator.evaluate(prompt, 0);
            System.arraycopy(rows, 0, actual, 0, rows.length);
            for (int step = 0; step < STEPS; step++) {
                greedy[step] = ModelParityTest.argmax(actual[prompt.length + step - 1]);
                actual[prompt.length + step] = evaluator.evaluate(new int[] {greedy[step]}, 0)[0];
            }
        }
        // The prompt and the greedy steps teacher-forced: every row after a token panllama chose.
        int[] tokens = Arrays.copyOf(prompt, prompt.length + STEPS);
        System.arraycopy(greedy, 0, tokens, prompt.length, STEPS);
        float[][] expected = reference.logits(model, tokens, 0, settings, 128256);
        int[] expectedGreedy = reference.greedy(model, prompt, STEPS, settings);
        float[][] f16Cache = reference.logits(model, tokens, 0, new Reference.Settings(UBATCH, THREADS, CONTEXT), 128256);
        float[][] unrotated = reference.logits(model, tokens, 0, settings.withoutHeadRotation(), 128256);

        ModelParityTest.Comparison sameTypes = ModelParityTest.Comparison.of(expected, actual);
        ModelParityTest.Comparison otherTypes = ModelParityTest.Comparison.of(f16Cache, actual);
        ModelParityTest.Comparison withoutRotation = ModelParityTest.Comparison.of(unrotated, actual);
        int agreeing = 0;
        while (agreeing < STEPS && greedy[agreeing] == expectedGreedy[agreeing]) {
            agreeing++;
        }
        String name = "-ctk " + keys + " -ctv " + values;
        System.out.printf("parity %s, %d positions: median %.2e, max %.2e, top-1 agrees %.1f%%, greedy agrees %d of %d steps; "
                        + "against libllama's F16 cache: median %.2e, max %.2e; against libllama's unrotated heads: median %.2e, max %.2e%n",
                name, expected.length, sameTypes.median(), sameTypes.max(), 100 * sameTypes.top1Agreement(), agreeing, STEPS,
                otherTypes.median(), otherTypes.max(), withoutRotation.median(), withoutRotation.max());
        sameTypes.assertWithin(1e-2, 0.90, name);
        assertTrue(sameTypes.median() < otherTypes.median(), name + ": the logits are no closer to libllama's with the same cache types ("
                + sameTypes.median() + ") than to its F16 cache's (" + otherTypes.median() + ")");
        // libllama rotates a quantized cache's heads (keys' or values', whichever is quantized); so must panllama.
        assertTrue(sameTypes.max() < withoutRotation.max(), name + ": the logits are no closer to libllama's with its heads rotated ("
                + sameTypes.max() + ") than without (" + withoutRotation.max() + ")");
    }
}
