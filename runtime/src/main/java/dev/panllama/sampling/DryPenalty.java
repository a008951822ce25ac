package dev.panllama.sampling;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * llama.cpp's DRY penalty over a sampler's context: the longest repetition of the context's end that each
 * token would extend (found backwards with the Z-algorithm over the last tokens, cut at the latest sequence
 * breaker), and for those longer than the allowed length, the penalty taken off the token's logit.
 */
final class DryPenalty {

    private final Dry dry;
    private final DryBreakers breakers;

    DryPenalty(Dry dry, DryBreakers breakers) {
        this.dry = dry;
        this.breakers = breakers;
    }

    /** Takes the penalties off {@code logits} for the context {@code history[0..historyLength)}. */
    void apply(float[] logits, int[] history, int historyLength) {
        if (!dry.on()) {
            return;
        }
        Context context = new Context(history, historyLength);
        int lastN = dry.penaltyLastN() < 0 ? historyLength : Math.min(dry.penaltyLastN(), historyLength);
        if (lastN <= dry.allowedLength()) {
            return;
        }
        // The repetition may not reach back past the latest complete breaker.
        int limit = lastN;
        for (int i = 0; i < lastN && limit == lastN; i++) {
            List<int[]> tails = breakers.tails(context.recent(i));
            if (tails == null) {
                continue;
            }
            int longest = -1;
            for (int[] tail : tails) {
                if (tail.length > longest && tail.length <= i && tailMatches(context, tail, i)) {
                    longest = tail.length;
                }
            }
            if (longest >= 0) {
                limit = i - longest;
            }
        }
        if (limit < dry.allowedLength()) {
            return;
        }
        // repeats[last - k]: how many of the most recent tokens also end k tokens earlier (the Z-algorithm, backwards).
        int[] repeats = new int[lastN];
        int last = lastN - 1;
        int left = 0;
        int right = 0;
        for (int k = 1; k < lastN; k++) {
            if (k > right) {
                int n = 0;
                while (n + k < lastN && context.recent(n) == context.recent(n + k)) {
                    n++;
                }
                repeats[last - k] = Math.min(n, limit);
                if (n > 0) {
                    left = k;
                    right = k + n - 1;
                }
            } else if (repeats[last - (k - left)] < right - k + 1) {
                repeats[last - k] = Math.min(repeats[last - (k - left)], limit);
            } else {
                int i = right + 1;
                while (i < lastN && context.recent(i) == context.recent(i - k)) {
                    i++;
                }
                repeats[last - k] = Math.min(i - k, limit);
                left = k;
                right = i - 1;
            }
        }
        // The token after each long enough repetition would extend it: the longest such for each token.
        Map<Integer, Integer> longest = new HashMap<>();
        for (int i = 0; i < lastN - 1; i++) {
            if (repeats[i] >= dry.allowedLength()) {
                longest.merge(context.recent(lastN - 2 - i), repeats[i], Math::max);
            }
        }
        // Past this exponent the penalty would overflow a float (llama.cpp's bound).
        int maxExponent = dry.base() > 1.000001f ? (int) (88.7228391f / (float) Math.log(dry.base())) : 0;
        longest.forEach((token, length) -> {
            if (token >= 0 && token < logits.length && !breakers.isWholeBreaker(token)) {
                int exponent = length - dry.allowedLength();
                if (maxExponent > 0 && exponent > maxExponent) {
                    exponent = maxExponent;
                }
                logits[token] -= dry.multiplier() * (float) Math.pow(dry.base(), exponent);
            }
        });
    }

    /** The sampler's context: its first {@code length} tokens. */
    private record Context(int[] tokens, int length) {
        /** The token {@code back} places before the last (0: the last). */
        int recent(int back) {
            return tokens[length - 1 - back];
        }
    }

    /** Whether the tokens before the one {@code back} places from the end are {@code tail}, nearest first. */
    private static boolean tailMatches(Context context, int[] tail, int back) {
        for (int offset = 0; offset < tail.length; offset++) {
            if (tail[offset] != context.recent(back - offset - 1)) {
                return false;
            }
        }
        return true;
    }
}
