package dev.panllama.server;

import java.util.ArrayList;
import java.util.List;

/**
 * A generated token's log probability and the most likely tokens at its step, as OpenAI's
 * {@code logprobs} report them. The distribution is the model's own, the softmax of the raw logits,
 * before temperature, penalties or a schema change them (as llama-server reports it by default), so
 * that a token sampled at any temperature is scored the same.
 *
 * @param token   the generated token
 * @param logprob its natural log probability
 * @param top     the most likely tokens, most likely first (the lower id first among equals)
 */
record TokenLogprobs(int token, double logprob, List<Candidate> top) {

    /** The most top-ranked tokens a request may ask for (OpenAI's limit for {@code top_logprobs}). */
    static final int MAX_TOP = 20;

    record Candidate(int token, double logprob) {
    }

    TokenLogprobs {
        top = List.copyOf(top);
    }

    /** Scores {@code token} under the softmax of {@code logits}, with the {@code topCount} most likely tokens. */
    static TokenLogprobs of(float[] logits, int token, int topCount) {
        if (topCount < 0 || topCount > MAX_TOP) {
            throw new IllegalArgumentException("the top tokens are 0 to " + MAX_TOP + ", not " + topCount);
        }
        // log sum exp, shifted by the largest logit so that no term overflows.
        float max = Float.NEGATIVE_INFINITY;
        for (float logit : logits) {
            max = Math.max(max, logit);
        }
        double sum = 0;
        for (float logit : logits) {
            sum += Math.exp((double) logit - max);
        }
        double logNormalizer = max + Math.log(sum);
        List<Candidate> top = new ArrayList<>(topCount);
        for (int id : topIds(logits, topCount)) {
            top.add(new Candidate(id, logits[id] - logNormalizer));
        }
        return new TokenLogprobs(token, logits[token] - logNormalizer, top);
    }

    /** The ids of the {@code count} largest logits, largest first, the lower id first among equals. */
    private static int[] topIds(float[] logits, int count) {
        int[] ids = new int[Math.min(count, logits.length)];
        int held = 0;
        for (int id = 0; id < logits.length; id++) {
            if (held == ids.length && (held == 0 || logits[id] <= logits[ids[held - 1]])) {
                continue;
            }
            // Insertion into the short sorted list: a later id goes after an equal logit.
            int at = held == ids.length ? held - 1 : held++;
            while (at > 0 && logits[ids[at - 1]] < logits[id]) {
                ids[at] = ids[at - 1];
                at--;
            }
            ids[at] = id;
        }
        return ids;
    }
}
