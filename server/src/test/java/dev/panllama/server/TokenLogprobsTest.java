package dev.panllama.server;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TokenLogprobsTest {

    private static final double EXACT = 1e-12;

    @Test
    void scoresAreTheLogSoftmaxOfTheLogits() {
        float[] logits = {1.5f, -2f, 3.25f, 0f, 3.25f};
        double normalizer = 0;
        for (float logit : logits) {
            normalizer += Math.exp(logit);
        }
        normalizer = Math.log(normalizer);
        TokenLogprobs scored = TokenLogprobs.of(logits, 1, 3);
        assertEquals(1, scored.token());
        assertEquals(-2 - normalizer, scored.logprob(), EXACT);
        // Largest first; of the two equal logits the lower id first.
        assertEquals(List.of(2, 4, 0), scored.top().stream().map(TokenLogprobs.Candidate::token).toList());
        assertEquals(3.25 - normalizer, scored.top().get(0).logprob(), EXACT);
        assertEquals(1.5 - normalizer, scored.top().get(2).logprob(), EXACT);
    }

    @Test
    void largeLogitsDoNotOverflowAndTheProbabilitiesSumToOne() {
        float[] logits = {1000f, 999f, 998f};
        TokenLogprobs scored = TokenLogprobs.of(logits, 0, 20);
        assertEquals(3, scored.top().size());
        double sum = scored.top().stream().mapToDouble(candidate -> Math.exp(candidate.logprob())).sum();
        assertEquals(1, sum, 1e-12);
        assertEquals(-Math.log(1 + Math.exp(-1) + Math.exp(-2)), scored.logprob(), 1e-12);
    }

    @Test
    void noTopTokensOrTooMany() {
        assertEquals(List.of(), TokenLogprobs.of(new float[] {1f, 2f}, 1, 0).top());
        assertThrows(IllegalArgumentException.class, () -> TokenLogprobs.of(new float[] {1f}, 0, TokenLogprobs.MAX_TOP + 1));
    }
}
