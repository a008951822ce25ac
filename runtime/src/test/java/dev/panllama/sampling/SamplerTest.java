package dev.panllama.sampling;

import org.junit.jupiter.api.Test;

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

    @Test
    void optionsNameTheBadValue() {
        var error = assertThrows(IllegalArgumentException.class, () -> new SamplingOptions(0.8f, 40, 1.5f, 0.05f, 1f, 64, 0, 0, 0));
        assertTrue(error.getMessage().contains("--top-p"), error.getMessage());
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
}
