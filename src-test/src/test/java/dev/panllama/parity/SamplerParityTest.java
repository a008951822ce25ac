package dev.panllama.parity;

import dev.panllama.reference.Reference;
import dev.panllama.gguf.GgufFile;
import dev.panllama.reference.Reference.Distribution;
import dev.panllama.reference.Reference.DryStep;
import dev.panllama.reference.Reference.FilterChain;
import dev.panllama.reference.Reference.MirostatStep;
import dev.panllama.reference.Reference.OrderedChain;
import dev.panllama.sampling.AdaptiveP;
import dev.panllama.sampling.Dry;
import dev.panllama.sampling.DryBreakers;
import dev.panllama.sampling.DynamicTemperature;
import dev.panllama.sampling.Mirostat;
import dev.panllama.sampling.Sampler;
import dev.panllama.sampling.SamplerOrder;
import dev.panllama.sampling.SamplingOptions;
import dev.panllama.sampling.TokenFilters;
import dev.panllama.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * panllama's sampler leaves the random draw the same tokens, with the same probabilities, as llama.cpp's
 * sampler chain of the pin (top-n-sigma, top-k, typical, top-p, min-p, XTC, then the temperature, dynamic or
 * not, in llama.cpp's order), for logits of several shapes and each sampler alone and together. The draw itself
 * is each side's own (different random generators); what must agree is what it draws from. XTC runs at
 * probability 1, so that it always acts.
 * <p>
 * Left out on purpose: top-n-sigma masking more tokens than top-k then keeps, followed by typical sampling.
 * llama.cpp's top-k then keeps masked tokens (any of them: their logits tie at negative infinity), and its
 * typical sampler sums the entropy over them as 0 times log 0, which is NaN in C, so that the tokens it keeps
 * follow from no order at all; panllama counts a zero probability as no entropy.
 */
class SamplerParityTest {

    @TempDir
    Path temp;

    private static final float OFF_SIGMA = -1f;
    /** A probability no draw takes in practice, and below float's normal range in the reference. */
    private static final double NEGLIGIBLE = 1e-30;
    private static final List<FilterChain> CHAINS = List.of(
            new FilterChain(OFF_SIGMA, 40, 1f, 0.95f, 0.05f, 0f, 0.1f),      // llama.cpp's defaults
            new FilterChain(OFF_SIGMA, 0, 1f, 0.9f, 0.02f, 0f, 0.1f),        // no top-k: the whole vocabulary
            new FilterChain(OFF_SIGMA, 0, 1f, 0.5f, 0f, 0f, 0.1f),
            new FilterChain(OFF_SIGMA, 40, 0.5f, 1f, 0f, 0f, 0.1f),          // typical alone after top-k
            new FilterChain(OFF_SIGMA, 0, 0.7f, 0.95f, 0.05f, 0f, 0.1f),     // typical over every token, then the rest
            new FilterChain(OFF_SIGMA, 100, 0.9f, 0.8f, 0.1f, 0f, 0.1f),
            new FilterChain(1f, 0, 1f, 1f, 0f, 0f, 0.1f),                   // top-n-sigma alone
            new FilterChain(2.5f, 40, 1f, 0.95f, 0.05f, 0f, 0.1f),
            new FilterChain(OFF_SIGMA, 40, 1f, 1f, 0f, 1f, 0.1f),            // XTC alone after top-k
            new FilterChain(OFF_SIGMA, 0, 1f, 0.95f, 0.05f, 1f, 0.02f),
            new FilterChain(4f, 5, 0.8f, 0.9f, 0.01f, 1f, 0.05f),            // everything
            new FilterChain(1.5f, 60, 1f, 0.9f, 0.01f, 1f, 0.05f),           // top-n-sigma keeping fewer than top-k
            new FilterChain(OFF_SIGMA, 40, 1f, 0.95f, 0.05f, 0f, 0.1f, 0.7f, 0f, 1f),     // a temperature
            new FilterChain(OFF_SIGMA, 40, 1f, 0.95f, 0.05f, 0f, 0.1f, 1f, 0.5f, 1f),     // dynamic temperature
            new FilterChain(OFF_SIGMA, 0, 1f, 0.9f, 0.02f, 0f, 0.1f, 0.8f, 0.7f, 2f),
            new FilterChain(OFF_SIGMA, 40, 1f, 1f, 0f, 0f, 0.1f, 0.3f, 0.5f, 0.5f));     // its coldest end at 0

    @Test
    void theDrawTakesFromWhatLlamaCppsTakesFrom() throws IOException {
        SplittableRandom values = new SplittableRandom(7);
        List<String> failures = new ArrayList<>();
        int compared = 0;
        for (int shape = 0; shape < 6; shape++) {
            float[] logits = logits(values, 3000, shape);
            List<Distribution> expected = new Reference(temp).distributions(logits, CHAINS);
            for (int c = 0; c < CHAINS.size(); c++) {
                compared++;
                compare("shape " + shape + ", " + CHAINS.get(c), expected.get(c), new Sampler(options(CHAINS.get(c))).distribution(logits.clone()),
                        failures);
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + compared + " differ:\n" + String.join("\n", failures));
    }

    /**
     * In another order ({@code --samplers}), each sampler runs over what the ones before it left, and only those
     * named run: the temperature before top-p changes what top-p keeps, a chain without the temperature draws at
     * temperature 1, and an empty one from every token.
     */
    @Test
    void samplersInAnotherOrderLeaveWhatLlamaCppsLeave() throws IOException {
        FilterChain all = new FilterChain(3f, 40, 0.8f, 0.9f, 0.02f, 1f, 0.05f, 0.7f, 0f, 1f);
        FilterChain dynamic = new FilterChain(OFF_SIGMA, 60, 1f, 0.9f, 0.05f, 0f, 0.1f, 1f, 0.6f, 1.5f);
        List<OrderedChain> chains = List.of(
                new OrderedChain(all, List.of("temperature", "top_k", "top_p", "min_p")),
                new OrderedChain(all, List.of("top_p", "top_k")),
                new OrderedChain(all, List.of("min_p", "typ_p", "xtc", "top_n_sigma", "temperature")),
                new OrderedChain(all, List.of("top_k", "temperature")),
                new OrderedChain(all, List.of("xtc", "top_k", "temperature", "temperature")),
                new OrderedChain(all, List.of("top_n_sigma", "top_p", "temperature", "top_k")),
                new OrderedChain(all, List.of()),
                new OrderedChain(dynamic, List.of("temperature", "top_k", "top_p")),
                new OrderedChain(dynamic, List.of("top_k", "min_p", "temperature")),
                new OrderedChain(new FilterChain(OFF_SIGMA, 40, 1f, 0.95f, 0.05f, 0f, 0.1f, 0f, 0f, 1f), List.of("top_k", "temperature", "top_p")),
                // Adaptive-p's first draw (its average still at the target), last wherever it stands.
                new OrderedChain(all, List.of("adaptive_p", "top_k", "min_p", "temperature"), 0.3f, 0.9f),
                new OrderedChain(dynamic, List.of("top_k", "temperature", "adaptive_p"), 0.05f, 0.5f),
                new OrderedChain(all, List.of("top_k", "adaptive_p"), -1f, 0.9f));
        SplittableRandom values = new SplittableRandom(11);
        List<String> failures = new ArrayList<>();
        int compared = 0;
        for (int shape = 0; shape < 6; shape++) {
            float[] logits = logits(values, 3000, shape);
            List<Distribution> expected = new Reference(temp).distributions(logits, chains);
            for (int c = 0; c < chains.size(); c++) {
                compared++;
                SamplingOptions options = options(chains.get(c).chain()).withOrder(SamplerOrder.ofNames(chains.get(c).order()))
                        .withAdaptiveP(new AdaptiveP(chains.get(c).adaptiveTarget(), chains.get(c).adaptiveDecay()));
                compare("shape " + shape + ", " + chains.get(c), expected.get(c), new Sampler(options).distribution(logits.clone()), failures);
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + compared + " differ:\n" + String.join("\n", failures));
    }

    /**
     * Adds to {@code failures} where the two distributions hold other tokens or other probabilities. Tokens below
     * {@link #NEGLIGIBLE} probability on either side are not compared: a logit so far below the rest (as after a
     * strong DRY penalty) underflows to 0 in the reference's float and not in panllama's double, or the other way.
     */
    private static void compare(String what, Distribution reference, Sampler.Distribution actual, List<String> failures) {
        Map<Integer, Double> ours = new HashMap<>();
        for (int i = 0; i < actual.tokens().length; i++) {
            if (actual.probabilities()[i] >= NEGLIGIBLE) {
                ours.put(actual.tokens()[i], actual.probabilities()[i]);
            }
        }
        int drawable = 0;
        for (int i = 0; i < reference.tokens().length; i++) {
            double expected = reference.probabilities()[i];
            if (expected < NEGLIGIBLE) {
                continue;
            }
            drawable++;
            Double p = ours.get(reference.tokens()[i]);
            if (p == null) {
                failures.add(what + ": token " + reference.tokens()[i] + " is left by the reference only");
                return;
            }
            if (Math.abs(p - expected) > 1e-6 + 1e-4 * expected) {
                failures.add(what + ": token " + reference.tokens()[i] + " has probability " + expected + " in the reference, " + p + " here");
                return;
            }
        }
        if (drawable != ours.size()) {
            failures.add(what + ": reference keeps " + drawable + " tokens, panllama " + ours.size());
        }
    }

    /**
     * Mirostat's first step (the bound at twice the target) draws from the tokens llama.cpp's draws from, for both
     * versions, several targets and temperatures. Later steps follow each side's own draws.
     */
    @Test
    void mirostatsFirstStepDrawsFromTheTokensLlamaCppsDoes() throws IOException {
        SplittableRandom values = new SplittableRandom(8);
        List<MirostatStep> steps = List.of(new MirostatStep(2, 5f, 0.1f, 0.8f), new MirostatStep(2, 3f, 0.1f, 1f),
                new MirostatStep(2, 8f, 0.1f, 1.5f), new MirostatStep(1, 5f, 0.1f, 0.8f), new MirostatStep(1, 3f, 0.1f, 1f),
                new MirostatStep(1, 8f, 0.1f, 1.2f));
        List<String> failures = new ArrayList<>();
        for (int shape = 0; shape < 6; shape++) {
            float[] logits = logits(values, 3000, shape);
            List<Distribution> expected = new Reference(temp).distributions(logits, steps);
            for (int s = 0; s < steps.size(); s++) {
                MirostatStep step = steps.get(s);
                SamplingOptions options = new SamplingOptions(step.temperature(), 40, 0.95f, 0.05f, 1f, 64, 0f, 0f, 1)
                        .withMirostat(new Mirostat(step.version(), step.tau(), step.eta()));
                compare("shape " + shape + ", " + step, expected.get(s), new Sampler(options).distribution(logits.clone()), failures);
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " differ:\n" + String.join("\n", failures));
    }

    /**
     * DRY takes off the logits what llama.cpp's takes off, over the Llama 3 vocabulary, after contexts that repeat
     * themselves across sequence breakers and not, with llama.cpp's breakers, none, and one of several tokens.
     */
    @Test
    void dryPenalizesWhatLlamaCppsPenalizes() throws IOException {
        Path vocabulary = TokenizerParityTest.vocabulary("ggml-vocab-llama-bpe.gguf");
        Tokenizer tokenizer;
        try (GgufFile file = GgufFile.open(vocabulary)) {
            tokenizer = Tokenizer.of(file.metadata());
        }
        List<DryStep> steps = List.of(new DryStep(0.8f, 1.75f, 2, 64, Dry.DEFAULT_BREAKERS),
                new DryStep(1.5f, 2f, 1, 128, Dry.DEFAULT_BREAKERS), new DryStep(0.8f, 1.75f, 2, 64, List.of()),
                new DryStep(0.8f, 1.75f, 3, 32, List.of("\n", "the cat")));
        List<String> contexts = List.of(
                "The cat sat on the mat. The cat sat on the mat. The cat sat on the",
                "Name: Alice\nAge: 30\nName: Bob\nAge: 41\nName: Carol\nAge: 29\nName: Alice\nAge:",
                "I went to the market, and the cat went to the market, and the cat went to the market, and the cat went to the");
        SplittableRandom values = new SplittableRandom(9);
        List<String> failures = new ArrayList<>();
        int penalized = 0;
        for (String context : contexts) {
            int[] history = tokenizer.encode(context, false, false);
            float[] logits = new float[tokenizer.vocabulary().size()];
            for (int i = 0; i < logits.length; i++) {
                logits[i] = (float) values.nextGaussian() * 2;
            }
            List<Distribution> expected = new Reference(temp).distributions(logits, steps, vocabulary, history);
            for (int s = 0; s < steps.size(); s++) {
                DryStep step = steps.get(s);
                SamplingOptions options = new SamplingOptions(1f, 0, 1f, 0f, 1f, 64, 0f, 0f, 1)
                        .withDry(new Dry(step.multiplier(), step.base(), step.allowedLength(), step.penaltyLastN(), step.breakers()));
                Sampler sampler = new Sampler(options, DryBreakers.of(step.breakers(), tokenizer));
                for (int token : history) {
                    sampler.accept(token);
                }
                float[] penalizedLogits = logits.clone();
                compare("'" + context + "', " + step, expected.get(s), sampler.distribution(penalizedLogits), failures);
                for (int i = 0; i < logits.length; i++) {
                    penalized += penalizedLogits[i] != logits[i] ? 1 : 0;
                }
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " differ:\n" + String.join("\n", failures));
        assertTrue(penalized > 0, "DRY penalized nothing: the comparison would show nothing");
    }

    /**
     * Logits a model might give: a flat spread (many plausible tokens), a peaked one (a few tokens hold most of
     * the probability, so that XTC and typical sampling have something to take), or a spread with a long tail.
     */
    private static float[] logits(SplittableRandom values, int vocabulary, int shape) {
        float[] logits = new float[vocabulary];
        for (int i = 0; i < vocabulary; i++) {
            logits[i] = (float) (values.nextGaussian() * (shape % 3 == 0 ? 1.0 : 2.5));
        }
        if (shape % 3 != 2) {
            for (int i = 0; i < 5; i++) {
                logits[values.nextInt(vocabulary)] += shape % 3 == 1 ? 12f - 1.5f * i : 6f;
            }
        }
        return logits;
    }

    private static SamplingOptions options(FilterChain chain) {
        return new SamplingOptions(chain.temperature(), chain.topK(), chain.topP(), chain.minP(), 1f, 64, 0f, 0f, 1)
                .withFilters(new TokenFilters(chain.typicalP(), chain.topNSigma(), chain.xtcProbability(), chain.xtcThreshold()))
                .withDynamicTemperature(new DynamicTemperature(chain.dynatempRange(), chain.dynatempExponent()));
    }
}
