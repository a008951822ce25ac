package dev.panllama.sampling;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {

    private static float[] logits() {
        return new float[] {1f, 5f, 3f, 4.9f, -2f, 0f};
    }

    @Test
    void greedyTakesTheLargest() {
        assertEquals(1, new Sampler(SamplingOptions.greedy()).sample(logits()));
    }

    @Test
    void greedyTakesTheFirstOfEqualLargestAndNeverANegativeInfinity() {
        assertEquals(2, new Sampler(SamplingOptions.greedy()).sample(new float[] {1f, 2f, 7f, 7f, 3f, 7f}));
        float[] masked = {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY, -50f, Float.NEGATIVE_INFINITY};
        assertEquals(2, new Sampler(SamplingOptions.greedy()).sample(masked));
    }

    @Test
    void topKOfOneIsGreedyWhateverTheTemperature() {
        SamplingOptions options = new SamplingOptions(5f, 1, 1f, 0f, 1f, 64, 0f, 0f, 9);
        Sampler sampler = new Sampler(options);
        for (int i = 0; i < 50; i++) {
            assertEquals(1, sampler.sample(logits()));
        }
    }

    @Test
    void sameSeedSameDraws() {
        SamplingOptions options = SamplingOptions.defaults(1234).withTemperature(2f);
        Sampler a = new Sampler(options);
        Sampler b = new Sampler(options);
        for (int i = 0; i < 100; i++) {
            assertEquals(a.sample(logits()), b.sample(logits()));
        }
    }

    @Test
    void minPDropsUnlikelyTokens() {
        // With min-p 0.5 only tokens with at least half the top probability survive: ids 1 and 3.
        SamplingOptions options = new SamplingOptions(1f, 0, 1f, 0.5f, 1f, 64, 0f, 0f, 5);
        Sampler sampler = new Sampler(options);
        for (int i = 0; i < 200; i++) {
            int token = sampler.sample(logits());
            assertTrue(token == 1 || token == 3, "sampled " + token);
        }
    }

    @Test
    void repetitionPenaltyTurnsAwayFromRecentTokens() {
        SamplingOptions options = new SamplingOptions(0f, 40, 0.95f, 0.05f, 2f, 64, 0f, 0f, 0);
        Sampler sampler = new Sampler(options);
        sampler.accept(1);
        assertEquals(3, sampler.sample(logits()), "token 1's logit 5 halves to 2.5, below token 3's 4.9");
    }

    /**
     * Without a top-k the sampler sorts only the tokens min-p could keep; its draws must be those of the
     * plain algorithm that sorts the whole vocabulary, for the same seed, with min-p and top-p on or off.
     */
    @Test
    void withoutATopKTheDrawsAreThoseOfSortingTheWholeVocabulary() {
        java.util.SplittableRandom values = new java.util.SplittableRandom(42);
        float[] logits = new float[5000];
        for (int i = 0; i < logits.length; i++) {
            // Coarse values, so that many logits tie and the order of ties matters.
            logits[i] = Math.round(values.nextDouble(-12, 12) * 4) / 4f;
        }
        for (SamplingOptions options : java.util.List.of(
                new SamplingOptions(0.8f, 0, 0.95f, 0.05f, 1f, 64, 0f, 0f, 1),
                new SamplingOptions(1.5f, 0, 1f, 0.3f, 1f, 64, 0f, 0f, 2),
                new SamplingOptions(1f, 0, 0.5f, 0f, 1f, 64, 0f, 0f, 3),
                new SamplingOptions(2f, 0, 1f, 0f, 1f, 64, 0f, 0f, 4),
                new SamplingOptions(1f, 6000, 0.9f, 0.01f, 1f, 64, 0f, 0f, 5))) {
            Sampler sampler = new Sampler(options);
            java.util.SplittableRandom reference = new java.util.SplittableRandom(options.seed());
            for (int draw = 0; draw < 300; draw++) {
                assertEquals(sortingEverything(logits, options, reference), sampler.sample(logits.clone()), "draw " + draw + " with " + options);
            }
        }
    }

    /** The filters and the draw over the whole vocabulary sorted by descending logit (a stable sort: ties by id). */
    private static int sortingEverything(float[] logits, SamplingOptions options, java.util.SplittableRandom random) {
        Integer[] order = new Integer[logits.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        int kept = options.topK() > 0 ? Math.min(options.topK(), order.length) : order.length;
        double max = logits[order[0]];
        double[] p = new double[kept];
        double sum = 0;
        for (int i = 0; i < kept; i++) {
            p[i] = Math.exp(logits[order[i]] - max);
            sum += p[i];
        }
        if (options.topP() < 1) {
            double cumulative = 0;
            for (int i = 0; i < kept; i++) {
                cumulative += p[i] / sum;
                if (cumulative >= options.topP()) {
                    kept = i + 1;
                    break;
                }
            }
        }
        if (options.minP() > 0) {
            int i = 1;
            while (i < kept && p[i] >= options.minP() * p[0]) {
                i++;
            }
            kept = i;
        }
        double[] w = new double[kept];
        double total = 0;
        for (int i = 0; i < kept; i++) {
            w[i] = Math.exp((logits[order[i]] - max) / options.temperature());
            total += w[i];
        }
        double draw = random.nextDouble() * total;
        for (int i = 0; i < kept; i++) {
            draw -= w[i];
            if (draw <= 0) {
                return order[i];
            }
        }
        return order[kept - 1];
    }

    @Test
    void optionsNameTheBadValue() {
        var error = assertThrows(IllegalArgumentException.class, () -> new SamplingOptions(0.8f, 40, 1.5f, 0.05f, 1f, 64, 0, 0, 0));
        assertTrue(error.getMessage().contains("--top-p"), error.getMessage());
        for (var bad : java.util.Map.of("--typical", (org.junit.jupiter.api.function.Executable) () -> new TokenFilters(1.5f, -1f, 0f, 0.1f),
                "--top-nsigma", () -> new TokenFilters(1f, Float.NaN, 0f, 0.1f),
                "--xtc-probability", () -> new TokenFilters(1f, -1f, -0.1f, 0.1f),
                "--xtc-threshold", () -> new TokenFilters(1f, -1f, 0.5f, 2f),
                "--mirostat", () -> new Mirostat(3, 5f, 0.1f),
                "--dry-penalty-last-n", () -> new Dry(0.8f, 1.75f, 2, -2, Dry.DEFAULT_BREAKERS)).entrySet()) {
            var filterError = assertThrows(IllegalArgumentException.class, bad.getValue());
            assertTrue(filterError.getMessage().contains(bad.getKey()), filterError.getMessage());
        }
    }

    /**
     * Mirostat steers the surprise of what it draws: with a lower target it draws likelier tokens, in both
     * versions; and, as llama.cpp's chain, it takes no penalties.
     */
    @Test
    void mirostatDrawsLikelierTokensForALowerTargetAndTakesNoPenalties() {
        float[] logits = new float[1000];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) -Math.log(i + 1.0) * 1.1f;   // Zipf-like, as text is
        }
        double norm = 0;
        for (float logit : logits) {
            norm += Math.exp(logit);
        }
        for (int version = 1; version <= 2; version++) {
            double[] meanSurprise = new double[2];
            float[] targets = {2f, 7f};
            for (int t = 0; t < 2; t++) {
                Sampler sampler = new Sampler(SamplingOptions.defaults(5).withMirostat(new Mirostat(version, targets[t], 0.1f)));
                double sum = 0;
                for (int draw = 0; draw < 2000; draw++) {
                    int token = sampler.sample(logits.clone());
                    sum += -Math.log(Math.exp(logits[token]) / norm) / Math.log(2);
                }
                meanSurprise[t] = sum / 2000;
            }
            assertTrue(meanSurprise[0] + 1 < meanSurprise[1], "version " + version + ": " + java.util.Arrays.toString(meanSurprise));
        }
        SamplingOptions mirostat = SamplingOptions.defaults(6).withMirostat(new Mirostat(2, 5f, 0.1f));
        Sampler plain = new Sampler(mirostat);
        Sampler penalized = new Sampler(new SamplingOptions(0.8f, 40, 0.95f, 0.05f, 1.5f, 64, 0.5f, 0.5f, 6).withMirostat(mirostat.mirostat()));
        for (int draw = 0; draw < 100; draw++) {
            int token = plain.sample(logits.clone());
            assertEquals(token, penalized.sample(logits.clone()), "draw " + draw);
            plain.accept(token);
            penalized.accept(token);
        }
    }

    /**
     * DRY takes off the logit of the token that would extend a repetition longer than allowed, by
     * multiplier * base^(length - allowed), and only that one.
     */
    @Test
    void dryPenalizesTheTokenThatWouldExtendARepetition() {
        SamplingOptions options = new SamplingOptions(1f, 0, 1f, 0f, 1f, 64, 0f, 0f, 1).withDry(new Dry(0.5f, 2f, 2, 64, java.util.List.of()));
        Sampler sampler = new Sampler(options);
        for (int token : new int[] {7, 1, 2, 3, 1, 2, 3, 1, 2}) {
            sampler.accept(token);
        }
        float[] logits = new float[10];
        Sampler.Distribution distribution = sampler.distribution(logits);
        // "1 2" ends the context and came before "3" twice, the longest time after "1 2 3 1 2" (5 tokens): 0.5 * 2^(5 - 2).
        assertEquals(-4f, logits[3], 1e-6);
        for (int token = 0; token < logits.length; token++) {
            if (token != 3) {
                assertEquals(0f, logits[token], "token " + token);
            }
        }
        assertEquals(10, distribution.tokens().length);
    }

    /** Filters at their neutral values leave the draws as they were without them. */
    @Test
    void filtersAtTheirNeutralValuesChangeNothing() {
        java.util.SplittableRandom values = new java.util.SplittableRandom(11);
        float[] logits = new float[2000];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) values.nextGaussian() * 2;
        }
        SamplingOptions plain = new SamplingOptions(1f, 0, 0.9f, 0.02f, 1f, 64, 0f, 0f, 9);
        Sampler without = new Sampler(plain);
        // XTC above a threshold of 0.5 does nothing and draws no random number, as llama.cpp's.
        Sampler neutral = new Sampler(plain.withFilters(new TokenFilters(1f, 0f, 1f, 0.6f)));
        for (int draw = 0; draw < 200; draw++) {
            assertEquals(without.sample(logits.clone()), neutral.sample(logits.clone()), "draw " + draw);
        }
    }

    /** Allows the tokens in a set and counts how often the whole vocabulary was masked. */
    private static final class AllowedSet implements TokenConstraint {
        final java.util.Set<Integer> allowed;
        int masks;

        AllowedSet(Integer... tokens) {
            allowed = java.util.Set.of(tokens);
        }

        @Override
        public boolean allows(int token) {
            return allowed.contains(token);
        }

        @Override
        public boolean mask(float[] logits) {
            masks++;
            for (int token = 0; token < logits.length; token++) {
                if (!allowed.contains(token)) {
                    logits[token] = Float.NEGATIVE_INFINITY;
                }
            }
            return !allowed.isEmpty();
        }
    }

    @Test
    void aConstraintIsNeverBrokenAndMasksOnlyWhenTheFirstPickIsRefused() {
        for (SamplingOptions options : java.util.List.of(SamplingOptions.greedy(), SamplingOptions.defaults(3).withTemperature(3f),
                new SamplingOptions(1.5f, 2, 0.5f, 0.2f, 1.3f, 64, 0.5f, 0.5f, 11))) {
            Sampler sampler = new Sampler(options);
            // Tokens 4 and 5 are the two least likely: a filter that kept only the top would drop them.
            AllowedSet constraint = new AllowedSet(4, 5);
            for (int i = 0; i < 200; i++) {
                int token = sampler.sample(logits(), constraint);
                assertTrue(token == 4 || token == 5, "sampled " + token + " with " + options);
                sampler.accept(token);
            }
            assertEquals(200, constraint.masks);
        }
        AllowedSet likely = new AllowedSet(1, 3);
        Sampler sampler = new Sampler(SamplingOptions.defaults(8));
        for (int i = 0; i < 100; i++) {
            int token = sampler.sample(logits(), likely);
            assertTrue(token == 1 || token == 3);
        }
        assertTrue(likely.masks < 20, "the first pick was refused " + likely.masks + " times in 100");
    }

    @Test
    void aConstraintThatAllowsNothingGivesNoToken() {
        assertEquals(Sampler.NO_TOKEN, new Sampler(SamplingOptions.defaults(1)).sample(logits(), new AllowedSet()));
    }

    @Test
    void aLogitBiasIsAddedBeforeThePenaltiesAsLlamaCppOrdersThem() {
        SamplingOptions options = new SamplingOptions(0f, 40, 0.95f, 0.05f, 2f, 64, 0f, 0f, 0, Map.of(1, 3f));
        Sampler sampler = new Sampler(options);
        sampler.accept(1);
        // Bias first: (5 + 3) / 2 = 4, below token 3's 4.9. The penalty first would give 5 / 2 + 3 = 5.5.
        assertEquals(3, sampler.sample(logits()));
        assertEquals(3, new Sampler(SamplingOptions.greedy().withLogitBias(Map.of(3, 0.2f))).sample(logits()));
    }

    @Test
    void aBannedTokenIsNeverDrawn() {
        SamplingOptions options = SamplingOptions.defaults(7).withTemperature(1.5f).withLogitBias(Map.of(1, Float.NEGATIVE_INFINITY));
        Sampler sampler = new Sampler(options);
        java.util.Set<Integer> drawn = new java.util.HashSet<>();
        for (int i = 0; i < 500; i++) {
            drawn.add(sampler.sample(logits()));
        }
        assertTrue(drawn.contains(3) && !drawn.contains(1), drawn.toString());
        assertEquals(3, new Sampler(SamplingOptions.greedy().withLogitBias(Map.of(1, Float.NEGATIVE_INFINITY))).sample(logits()));
    }

    @Test
    void aBiasMustBeANumberOrMinusInfinityForATokenId() {
        SamplingOptions greedy = SamplingOptions.greedy();
        assertThrows(IllegalArgumentException.class, () -> greedy.withLogitBias(Map.of(1, Float.NaN)));
        assertThrows(IllegalArgumentException.class, () -> greedy.withLogitBias(Map.of(1, Float.POSITIVE_INFINITY)));
        assertThrows(IllegalArgumentException.class, () -> greedy.withLogitBias(Map.of(-1, 1f)));
    }

    /**
     * Adaptive-p steers what it takes toward its target: over a fixed distribution whose likeliest token has
     * probability 0.6, the tokens taken average about the target's probability, where the plain draw averages far
     * above it; and the average moves only by tokens it drew itself.
     */
    @Test
    void adaptivePTakesTokensAveragingAboutItsTarget() {
        float[] logits = {(float) Math.log(0.6), (float) Math.log(0.25), (float) Math.log(0.1), (float) Math.log(0.05)};
        double[] probability = {0.6, 0.25, 0.1, 0.05};
        SamplingOptions base = SamplingOptions.defaults(5).withOrder(SamplerOrder.ofNames(java.util.List.of("adaptive_p")));
        Sampler adaptive = new Sampler(base.withAdaptiveP(new AdaptiveP(0.2f, 0.9f)));
        Sampler plain = new Sampler(base);
        double adaptiveSum = 0;
        double plainSum = 0;
        int steps = 4000;
        for (int i = 0; i < steps; i++) {
            int token = adaptive.sample(logits.clone());
            adaptive.accept(token);
            adaptiveSum += probability[token];
            int other = plain.sample(logits.clone());
            plain.accept(other);
            plainSum += probability[other];
        }
        assertEquals(0.2, adaptiveSum / steps, 0.04, "the average probability of the tokens adaptive-p took");
        assertTrue(plainSum / steps > 0.4, "the plain draw: " + plainSum / steps);
        // Tokens it did not draw (a prompt's) leave its average alone: the next draw's chances are the same.
        Sampler fresh = new Sampler(base.withAdaptiveP(new AdaptiveP(0.2f, 0.9f)).withSeed(9));
        Sampler.Distribution before = fresh.distribution(logits.clone());
        fresh.accept(3);
        fresh.accept(0);
        assertEquals(before.probabilities()[0], fresh.distribution(logits.clone()).probabilities()[0], 1e-12);
    }
}
