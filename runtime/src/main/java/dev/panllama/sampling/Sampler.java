package dev.panllama.sampling;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Picks tokens from logits by {@link SamplingOptions}. Holds the random state and the recent tokens
 * the penalties look at, so one sampler serves one generation stream; not thread-safe.
 */
public final class Sampler {

    private final SamplingOptions options;
    private final SplittableRandom random;
    private int[] history = new int[64];
    private int historyLength;

    public Sampler(SamplingOptions options) {
        this.options = options;
        this.random = new SplittableRandom(options.seed());
    }

    /** Records a token of the context (prompt or generated) for the repetition penalties. */
    public void accept(int token) {
        if (historyLength == history.length) {
            history = Arrays.copyOf(history, history.length * 2);
        }
        history[historyLength++] = token;
    }

    /** Returned by {@link #sample(float[], TokenConstraint)} when the constraint allows no token. */
    public static final int NO_TOKEN = -1;

    /** The next token for {@code logits} (which it may change). */
    public int sample(float[] logits) {
        applyBias(logits);
        applyPenalties(logits);
        return pick(logits);
    }

    /**
     * The next token that {@code constraint} allows, or {@link #NO_TOKEN}. As llama.cpp's grammar
     * sampling does: a token is picked first, and only when the constraint refuses it are all the
     * refused tokens masked and a token picked again, since checking one token is far cheaper than
     * checking the vocabulary.
     */
    public int sample(float[] logits, TokenConstraint constraint) {
        applyBias(logits);
        applyPenalties(logits);
        int token = pick(logits);
        if (constraint.allows(token)) {
            return token;
        }
        if (!constraint.mask(logits)) {
            return NO_TOKEN;
        }
        return pick(logits);
    }

    private void applyBias(float[] logits) {
        for (Map.Entry<Integer, Float> bias : options.logitBias().entrySet()) {
            logits[bias.getKey()] += bias.getValue();
        }
    }

    /** A token by the filters and the random draw; masked tokens (negative infinity) are never picked. */
    private int pick(float[] logits) {
        if (options.isGreedy()) {
            return argmax(logits);
        }
        int[] order = candidates(logits);
        int kept = order.length;
        // Probabilities of the top-k survivors (softmax at temperature 1, as llama.cpp's filters use).
        // Without a top-k every token survives it, though only those min-p can keep were sorted.
        double max = logits[order[0]];
        double sum = 0;
        if (options.topK() > 0 && options.topK() < logits.length) {
            for (int token : order) {
                sum += Math.exp(logits[token] - max);
            }
        } else {
            for (float logit : logits) {
                sum += Math.exp(logit - max);
            }
        }
        double[] probabilities = new double[kept];
        for (int i = 0; i < kept; i++) {
            probabilities[i] = Math.exp(logits[order[i]] - max);
        }
        if (options.topP() < 1) {
            double cumulative = 0;
            for (int i = 0; i < kept; i++) {
                cumulative += probabilities[i] / sum;
                if (cumulative >= options.topP()) {
                    kept = i + 1;
                    break;
                }
            }
        }
        if (options.minP() > 0) {
            double threshold = options.minP() * probabilities[0];
            int i = 1;
            while (i < kept && probabilities[i] >= threshold) {
                i++;
            }
            kept = i;
        }
        double[] weights = new double[kept];
        double total = 0;
        for (int i = 0; i < kept; i++) {
            weights[i] = Math.exp((logits[order[i]] - max) / options.temperature());
            total += weights[i];
        }
        double draw = random.nextDouble() * total;
        int lastPossible = 0;
        for (int i = 0; i < kept; i++) {
            if (weights[i] == 0) {
                continue;
            }
            lastPossible = i;
            draw -= weights[i];
            if (draw <= 0) {
                return order[i];
            }
        }
        // Rounding left a sliver of the draw: the last token that had a chance.
        return order[lastPossible];
    }

    private void applyPenalties(float[] logits) {
        boolean repeat = options.repeatPenalty() != 1f;
        boolean frequency = options.frequencyPenalty() != 0f || options.presencePenalty() != 0f;
        if ((!repeat && !frequency) || options.repeatLastN() == 0) {
            return;
        }
        int window = options.repeatLastN() < 0 ? historyLength : Math.min(options.repeatLastN(), historyLength);
        Map<Integer, Integer> counts = new HashMap<>();
        for (int i = historyLength - window; i < historyLength; i++) {
            counts.merge(history[i], 1, Integer::sum);
        }
        counts.forEach((token, count) -> {
            if (token < 0 || token >= logits.length) {
                return;
            }
            if (repeat) {
                logits[token] = logits[token] > 0 ? logits[token] / options.repeatPenalty() : logits[token] * options.repeatPenalty();
            }
            logits[token] -= count * options.frequencyPenalty() + options.presencePenalty();
        });
    }

    /**
     * Token ids by descending logit, ties by id: the top-k, or without a top-k every token that min-p
     * could keep (all of them without min-p). Min-p keeps a token whose probability is at least min-p
     * times the largest, that is whose logit is at least the largest plus log(min-p); the tokens below
     * that, with a margin for rounding, can be left unsorted, and a 128k vocabulary is then not sorted
     * for every token.
     */
    private int[] candidates(float[] logits) {
        int k = options.topK() > 0 ? Math.min(options.topK(), logits.length) : logits.length;
        if (k == logits.length) {
            float floor = Float.NEGATIVE_INFINITY;
            if (options.minP() > 0) {
                floor = (float) (logits[argmax(logits)] + Math.log(options.minP()) - 1e-3);
            }
            return sortedFrom(logits, floor);
        }
        // A bounded selection: keep the k best in a small sorted array.
        int[] best = new int[k];
        int size = 0;
        for (int token = 0; token < logits.length; token++) {
            float value = logits[token];
            if (size == k && value <= logits[best[k - 1]]) {
                continue;
            }
            int at = size == k ? k - 1 : size++;
            while (at > 0 && logits[best[at - 1]] < value) {
                best[at] = best[at - 1];
                at--;
            }
            best[at] = token;
        }
        return best;
    }

    /**
     * The ids of the logits at or above {@code floor} (all of them for negative infinity), by descending
     * logit, ties by id: each packed with its logit into a long whose natural order is that order, and
     * the longs sorted, not boxed ids through a comparator.
     */
    private static int[] sortedFrom(float[] logits, float floor) {
        long[] keys = new long[logits.length];
        int count = 0;
        for (int token = 0; token < logits.length; token++) {
            float value = logits[token];
            if (value >= floor || floor == Float.NEGATIVE_INFINITY) {
                // Float bits made to order as the floats do, then inverted for descending order.
                int bits = Float.floatToIntBits(value);
                bits ^= (bits >> 31) & 0x7fffffff;
                keys[count++] = ((long) ~bits << 32) | token;
            }
        }
        Arrays.sort(keys, 0, count);
        int[] order = new int[count];
        for (int i = 0; i < count; i++) {
            order[i] = (int) keys[i];
        }
        return order;
    }

    static int argmax(float[] logits) {
        int best = 0;
        // The best value in a local, not re-read through its index: a third faster over a 128k vocabulary.
        float bestValue = logits[0];
        for (int i = 1; i < logits.length; i++) {
            float value = logits[i];
            if (value > bestValue) {
                best = i;
                bestValue = value;
            }
        }
        return best;
    }
}
