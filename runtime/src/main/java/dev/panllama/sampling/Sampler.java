package dev.panllama.sampling;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Picks tokens from logits by {@link SamplingOptions}. Holds the random state and the recent tokens
 * the penalties look at, so one sampler serves one generation stream; not thread-safe.
 */
public final class Sampler {

    private final SamplingOptions options;
    private final SplittableRandom random;
    private int[] history = new int[64];
    private int historyLength;

    /** Mirostat's running bound on a token's surprise, in bits. */
    private float mu;
    /**
     * Adaptive-p's moving average of the probabilities of the tokens taken (its sum and its weight, in floats as
     * llama.cpp's), and the token it drew last with the probability it had before the transform, counted once
     * {@link #accept} takes that token.
     */
    private float adaptiveSum;
    private float adaptiveWeight;
    private int adaptiveDrawn = -1;
    private float adaptiveDrawnProbability;
    private final DryPenalty dry;

    /** A sampler whose DRY, if on, has no sequence breakers. */
    public Sampler(SamplingOptions options) {
        this(options, DryBreakers.NONE);
    }

    /** A sampler whose DRY ends repetitions at {@code breakers} ({@link DryBreakers#of}, for the model's vocabulary). */
    public Sampler(SamplingOptions options, DryBreakers breakers) {
        this.options = options;
        this.random = new SplittableRandom(options.seed());
        this.mu = 2 * options.mirostat().tau();
        this.dry = new DryPenalty(options.dry(), breakers);
        this.adaptiveSum = options.adaptiveP().target() / (1 - options.adaptiveP().decay());
        this.adaptiveWeight = 1 / (1 - options.adaptiveP().decay());
    }

    /** Records a token of the context (prompt or generated) for the repetition penalties, and for adaptive-p's average. */
    public void accept(int token) {
        if (token == adaptiveDrawn) {
            float decay = options.adaptiveP().decay();
            adaptiveSum = adaptiveDrawnProbability + decay * adaptiveSum;
            adaptiveWeight = 1 + decay * adaptiveWeight;
        }
        adaptiveDrawn = -1;
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
        // Top-n-sigma masks the logits it is given, Mirostat divides them by the temperature, and a chain in another
        // order applies the penalties and the temperature to them; the second pick starts again from them as they were.
        float[] unfiltered = options.filters().topNSigmaOn() || options.mirostat().on() || chained() ? logits.clone() : logits;
        int token = pick(logits);
        if (constraint.allows(token)) {
            return token;
        }
        if (!constraint.mask(unfiltered)) {
            return NO_TOKEN;
        }
        return pick(unfiltered);
    }

    private void applyBias(float[] logits) {
        for (Map.Entry<Integer, Float> bias : options.logitBias().entrySet()) {
            logits[bias.getKey()] += bias.getValue();
        }
    }

    /**
     * A token by the filters, in llama.cpp's order (top-n-sigma, top-k, typical, top-p, min-p, XTC), then
     * the temperature and the random draw; masked tokens (negative infinity) are never picked.
     */
    private int pick(float[] logits) {
        if (options.isGreedy() && !chained()) {
            return argmax(logits);
        }
        Weighted weighted = weighted(logits);
        int drawn = drawIndex(weighted.weights());
        if (weighted.original() != null) {
            adaptiveDrawn = weighted.tokens()[drawn];
            adaptiveDrawnProbability = (float) weighted.original()[drawn];
        }
        if (options.mirostat().on()) {
            // The surprise of what was drawn moves the bound toward the target, as llama.cpp's (in floats).
            float surprise = (float) -(Math.log((float) weighted.weights()[drawn]) / Math.log(2));
            mu -= options.mirostat().eta() * (surprise - options.mirostat().tau());
        }
        return weighted.tokens()[drawn];
    }

    /** The tokens a draw may take and their probabilities: what {@link #distribution} gives. */
    public record Distribution(int[] tokens, double[] probabilities) {
    }

    /**
     * What the next draw from {@code logits} (which it may change) takes from: the tokens with a chance, after
     * the biases, the penalties and the filters, and their probabilities at the temperature (Mirostat's
     * tokens at its current bound; for greedy options the most likely token alone). Takes a random number
     * from this sampler's stream where XTC is on, as a step's sampling would; draws nothing.
     */
    public Distribution distribution(float[] logits) {
        applyBias(logits);
        applyPenalties(logits);
        if (options.isGreedy() && !chained()) {
            return new Distribution(new int[] {argmax(logits)}, new double[] {1});
        }
        Weighted weighted = weighted(logits);
        double[] weights = weighted.weights();
        double total = Arrays.stream(weights).sum();
        int[] tokens = IntStream.range(0, weights.length).filter(i -> weights[i] > 0).map(i -> weighted.tokens()[i]).toArray();
        double[] probabilities = Arrays.stream(weights).filter(w -> w > 0).map(w -> w / total).toArray();
        return new Distribution(tokens, probabilities);
    }

    /**
     * The first {@code weights.length} of {@code tokens} and their relative chances (Mirostat's: probabilities);
     * for adaptive-p, {@code original} holds their probabilities before its transform (else null).
     */
    private record Weighted(int[] tokens, double[] weights, double[] original) {
        Weighted(int[] tokens, double[] weights) {
            this(tokens, weights, null);
        }
    }

    /** The tokens a draw takes from, after the filters or Mirostat's truncation, and their chances. */
    private Weighted weighted(float[] logits) {
        if (options.mirostat().on()) {
            int[] kept = mirostatCandidates(logits);
            return new Weighted(kept, softmax(logits, kept, kept.length, false));
        }
        if (chained()) {
            return chain(logits);
        }
        int[] order = candidates(logits);
        return new Weighted(order, weights(logits, order, filter(logits, order)));
    }

    /**
     * Whether the samplers run in an order other than llama.cpp's default ({@link SamplerOrder}): one by one
     * as {@link #chain} runs them, each over what the ones before left, rather than by the shortcuts the
     * default order allows. Mirostat ignores the order.
     */
    private boolean chained() {
        return !options.order().isDefault() && !options.mirostat().on();
    }

    /**
     * The samplers of {@link SamplingOptions#order()}, in that order, each over the candidates the ones before
     * left (at first every token, by id), as llama.cpp's sampler chain runs them: the penalties and DRY change
     * the logits, top-n-sigma masks them, top-k, typical, top-p, min-p and XTC narrow the candidates, and the
     * temperature divides their logits (at 0: the most likely alone). The draw's weights are then the
     * candidates' probabilities as the logits stand.
     */
    private Weighted chain(float[] logits) {
        TokenFilters filters = options.filters();
        int[] order = IntStream.range(0, logits.length).toArray();
        int kept = order.length;
        boolean sorted = false;
        for (SamplerOrder.Stage stage : options.order().stages()) {
            switch (stage) {
                case PENALTIES -> {
                    applyRepetitionPenalties(logits);
                    sorted = false;
                }
                case DRY -> {
                    dry.apply(logits, history, historyLength);
                    sorted = false;
                }
                case TOP_N_SIGMA -> {
                    if (filters.topNSigmaOn()) {
                        maskBeyondSigmas(logits, order, kept, filters.topNSigma());
                        sorted = false;
                    }
                }
                case TOP_K -> {
                    if (options.topK() > 0) {
                        if (kept == logits.length && !sorted && options.topK() < kept) {
                            // Every token is a candidate: a bounded selection rather than a sort of the vocabulary.
                            order = best(logits, options.topK());
                        } else {
                            sortByLogit(logits, order, kept);
                        }
                        kept = Math.min(options.topK(), kept);
                        sorted = true;
                    }
                }
                case TYPICAL_P -> {
                    if (filters.typical()) {
                        kept = keepTypical(logits, order, kept, filters.typicalP());
                        sorted = false;
                    }
                }
                case TOP_P -> {
                    if (options.topP() < 1) {
                        if (!sorted) {
                            sortByLogit(logits, order, kept);
                            sorted = true;
                        }
                        kept = keepTopP(logits, order, kept, false);
                    }
                }
                case MIN_P -> {
                    if (options.minP() > 0) {
                        kept = keepMinP(logits, order, kept);
                    }
                }
                case XTC -> {
                    if (filters.xtc() && kept >= 2 && random.nextDouble() <= filters.xtcProbability()) {
                        if (!sorted) {
                            sortByLogit(logits, order, kept);
                            sorted = true;
                        }
                        kept = excludeTopChoices(logits, order, kept, filters.xtcThreshold());
                    }
                }
                case TEMPERATURE -> applyTemperature(logits, order, kept);
                case ADAPTIVE_P -> {
                    // It draws, so it comes last wherever it stands, as in llama.cpp: below.
                }
            }
        }
        int[] tokens = Arrays.copyOf(order, kept);
        if (options.order().has(SamplerOrder.Stage.ADAPTIVE_P) && options.adaptiveP().targets()) {
            return adaptive(logits, tokens);
        }
        return new Weighted(tokens, softmax(logits, tokens, kept, false));
    }

    /**
     * Adaptive-p's weights for {@code tokens}: each token's probability {@code p} (as the logits stand) turned into
     * a logit by its distance from a target, {@code 5 - 10 d² / (1 + d)} with {@code d = |p - target| / 0.3}
     * (masked tokens stay masked), the target moved away from the recent average: twice the target less the
     * average, within [0, 1]. llama.cpp's transform, in its floats.
     */
    private Weighted adaptive(float[] logits, int[] tokens) {
        double[] probabilities = softmax(logits, tokens, tokens.length, false);
        float target = Math.clamp(options.adaptiveP().target(), 0f, 1f);
        float adapted = Math.clamp(adaptiveWeight == 0 ? target : 2 * target - adaptiveSum / adaptiveWeight, 0f, 1f);
        float[] transformed = new float[tokens.length];
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < tokens.length; i++) {
            if (logits[tokens[i]] == Float.NEGATIVE_INFINITY) {
                transformed[i] = Float.NEGATIVE_INFINITY;
                continue;
            }
            float distance = Math.abs(((float) probabilities[i] - adapted) * (1f / 0.3f));
            transformed[i] = 5f - 10f * distance * distance / (1f + distance);
            max = Math.max(max, transformed[i]);
        }
        double[] weights = new double[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            weights[i] = Math.exp(transformed[i] - max);
        }
        return new Weighted(tokens, weights, probabilities);
    }

    /**
     * The temperature as a sampler of the chain: the logits of {@code order[0..kept)} divided by it (or by the
     * dynamic temperature their entropy gives); at 0 or less every candidate but the most likely masked.
     */
    private void applyTemperature(float[] logits, int[] order, int kept) {
        double temperature = temperature(logits, order, kept);
        if (temperature > 0) {
            for (int i = 0; i < kept; i++) {
                logits[order[i]] = (float) (logits[order[i]] / temperature);
            }
            return;
        }
        int best = -1;
        for (int i = 0; i < kept; i++) {
            if (best < 0 || logits[order[i]] > logits[best]) {
                best = order[i];
            }
        }
        for (int i = 0; i < kept; i++) {
            if (order[i] != best) {
                logits[order[i]] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    /**
     * Narrows {@code order}, the {@link #candidates} by descending logit, to the tokens the filters keep and
     * returns how many: top-n-sigma (already applied to {@code logits}), typical, top-p, min-p, XTC.
     */
    private int filter(float[] logits, int[] order) {
        TokenFilters filters = options.filters();
        int kept = order.length;
        // Without a top-k the candidates are still every token; candidates() may have left out, unsorted,
        // those that min-p will drop, but top-p's probabilities are still over all of them.
        boolean tailLeftOut = kept < logits.length && !(options.topK() > 0 && options.topK() < logits.length);
        boolean sorted = true;
        if (filters.typical()) {
            kept = keepTypical(logits, order, kept, filters.typicalP());
            sorted = false;
        }
        if (options.topP() < 1) {
            if (!sorted) {
                sortByLogit(logits, order, kept);
                sorted = true;
            }
            kept = keepTopP(logits, order, kept, tailLeftOut);
        }
        if (options.minP() > 0) {
            kept = keepMinP(logits, order, kept);
        }
        if (filters.xtc() && kept >= 2 && random.nextDouble() <= filters.xtcProbability()) {
            if (!sorted) {
                sortByLogit(logits, order, kept);
            }
            kept = excludeTopChoices(logits, order, kept, filters.xtcThreshold());
        }
        return kept;
    }

    /**
     * The relative chances of {@code order[0..kept)} at the temperature, or at the dynamic temperature its
     * candidates' entropy gives (a dynamic temperature of 0 or less: the most likely alone, as llama.cpp).
     */
    private double[] weights(float[] logits, int[] order, int kept) {
        float max = maxLogit(logits, order, kept);
        double temperature = temperature(logits, order, kept);
        double[] weights = new double[kept];
        for (int i = 0; i < kept; i++) {
            weights[i] = temperature > 0 ? Math.exp((logits[order[i]] - max) / temperature) : logits[order[i]] == max ? 1 : 0;
        }
        return weights;
    }

    /** The temperature for {@code order[0..kept)}: the fixed one, or the dynamic one their entropy gives. */
    private double temperature(float[] logits, int[] order, int kept) {
        DynamicTemperature dynamic = options.dynamicTemperature();
        if (!dynamic.on() || kept <= 1) {
            return options.temperature();
        }
        double entropy = entropy(softmax(logits, order, kept, false));
        double coldest = Math.max(0, options.temperature() - dynamic.range());
        double hottest = options.temperature() + dynamic.range();
        return coldest + (hottest - coldest) * Math.pow(entropy / Math.log(kept), dynamic.exponent());
    }

    /** An index drawn by {@code weights} (not all zero) from this sampler's random stream. */
    private int drawIndex(double[] weights) {
        double total = 0;
        for (double weight : weights) {
            total += weight;
        }
        double draw = random.nextDouble() * total;
        int lastPossible = 0;
        for (int i = 0; i < weights.length; i++) {
            if (weights[i] == 0) {
                continue;
            }
            lastPossible = i;
            draw -= weights[i];
            if (draw <= 0) {
                return i;
            }
        }
        // Rounding left a sliver of the draw: the last index that had a chance.
        return lastPossible;
    }

    /**
     * The tokens Mirostat draws from at the current bound, by descending logit, after dividing {@code logits}
     * by the temperature: version 2 keeps those whose surprise ({@code -log2 p}) is at most {@code mu} (the most
     * likely token at least); version 1 the top k, k from the Zipf exponent estimated over the
     * {@value Mirostat#ZIPF_SAMPLE} most likely tokens and from {@code mu}.
     */
    private int[] mirostatCandidates(float[] logits) {
        for (int token = 0; token < logits.length; token++) {
            logits[token] /= options.temperature();
        }
        float max = logits[argmax(logits)];
        double sum = 0;
        for (float logit : logits) {
            sum += Math.exp(logit - max);
        }
        if (options.mirostat().version() == 2) {
            // p >= 2^-mu where p = exp(l - max) / sum: the tokens above that logit, with a margin for rounding, sorted.
            float floor = (float) (max + Math.log(sum) - mu * Math.log(2) - 1e-3);
            int[] sorted = sortedFrom(logits, floor);
            int kept = 0;
            while (kept < sorted.length && -(Math.log((float) (Math.exp(logits[sorted[kept]] - max) / sum)) / Math.log(2)) <= mu) {
                kept++;
            }
            return Arrays.copyOf(sorted, Math.max(kept, 1));
        }
        int sample = Math.min(Mirostat.ZIPF_SAMPLE, logits.length);
        int[] top = sample < logits.length ? best(logits, sample) : sortedFrom(logits, Float.NEGATIVE_INFINITY);
        double sumTB = 0;
        double sumTT = 0;
        for (int i = 0; i < sample - 1; i++) {
            double t = Math.log((i + 2) / (double) (i + 1));
            double b = logits[top[i]] - logits[top[i + 1]];
            sumTB += t * b;
            sumTT += t * t;
        }
        double zipf = sumTB / sumTT;
        double epsilon = zipf - 1;
        double k = Math.pow(epsilon * Math.pow(2, mu) / (1 - Math.pow(logits.length, -epsilon)), 1 / zipf);
        int kept = Double.isFinite(k) ? (int) Math.max(1, Math.min(k, logits.length)) : logits.length;
        return kept < logits.length ? best(logits, kept) : sortedFrom(logits, Float.NEGATIVE_INFINITY);
    }

    /**
     * Top-n-sigma over {@code order[0..kept)}: every logit below the largest minus {@code n} standard
     * deviations of the finite ones masked.
     */
    private static void maskBeyondSigmas(float[] logits, int[] order, int kept, float n) {
        if (kept < 2) {
            return;
        }
        float max = logits[order[0]];
        double sum = 0;
        int finite = 0;
        for (int i = 0; i < kept; i++) {
            float logit = logits[order[i]];
            if (logit != Float.NEGATIVE_INFINITY) {
                max = Math.max(max, logit);
                sum += logit;
                finite++;
            }
        }
        double mean = finite > 0 ? sum / finite : 0;
        double squares = 0;
        for (int i = 0; i < kept; i++) {
            float logit = logits[order[i]];
            if (logit != Float.NEGATIVE_INFINITY) {
                squares += (logit - mean) * (logit - mean);
            }
        }
        float floor = max - n * (float) Math.sqrt(finite > 0 ? squares / finite : 0);
        for (int i = 0; i < kept; i++) {
            if (logits[order[i]] < floor) {
                logits[order[i]] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    /**
     * Locally typical sampling: the candidates by how close their surprise ({@code -log p}) is to the
     * distribution's entropy, as many as make up more than {@code typicalP} of the probability. Leaves
     * {@code order} in that order, not by logit.
     */
    private static int keepTypical(float[] logits, int[] order, int kept, float typicalP) {
        double[] probabilities = softmax(logits, order, kept, false);
        double entropy = entropy(probabilities);
        long[] keys = new long[kept];
        for (int i = 0; i < kept; i++) {
            // Non-negative floats order as their bits do; the position breaks ties.
            float shifted = (float) Math.abs(-Math.log(probabilities[i]) - entropy);
            keys[i] = ((long) Float.floatToIntBits(Float.isNaN(shifted) ? Float.POSITIVE_INFINITY : shifted) << 32) | i;
        }
        Arrays.sort(keys);
        double cumulative = 0;
        int last = kept;
        for (int i = 0; i < kept; i++) {
            cumulative += probabilities[(int) keys[i]];
            if (cumulative > typicalP) {
                last = i + 1;
                break;
            }
        }
        int[] typical = new int[last];
        for (int i = 0; i < last; i++) {
            typical[i] = order[(int) keys[i]];
        }
        System.arraycopy(typical, 0, order, 0, last);
        return last;
    }

    /** Top-p over candidates sorted by logit: the fewest whose probability adds up to {@code topP}. */
    private int keepTopP(float[] logits, int[] order, int kept, boolean tailLeftOut) {
        double[] probabilities = softmax(logits, order, kept, tailLeftOut);
        double cumulative = 0;
        for (int i = 0; i < kept; i++) {
            cumulative += probabilities[i];
            if (cumulative >= options.topP()) {
                return i + 1;
            }
        }
        return kept;
    }

    /** Min-p: the candidates whose probability is at least min-p times the largest, in the order they are. */
    private int keepMinP(float[] logits, int[] order, int kept) {
        float minLogit = maxLogit(logits, order, kept) + (float) Math.log(options.minP());
        int passed = 0;
        for (int i = 0; i < kept; i++) {
            if (logits[order[i]] >= minLogit) {
                order[passed++] = order[i];
            }
        }
        return passed;
    }

    /** XTC over candidates sorted by logit: all those at or above {@code threshold} probability but the last of them left out. */
    private static int excludeTopChoices(float[] logits, int[] order, int kept, float threshold) {
        double[] probabilities = softmax(logits, order, kept, false);
        int lastAbove = 0;
        while (lastAbove + 1 < kept && probabilities[lastAbove + 1] >= threshold) {
            lastAbove++;
        }
        if (lastAbove == 0) {
            return kept;
        }
        System.arraycopy(order, lastAbove, order, 0, kept - lastAbove);
        return kept - lastAbove;
    }

    /**
     * The probabilities of {@code order[0..kept)} at temperature 1, over those candidates or, with
     * {@code overAll}, over every token (the candidates then being a part of them).
     */
    private static double[] softmax(float[] logits, int[] order, int kept, boolean overAll) {
        float max = maxLogit(logits, order, kept);
        double sum = 0;
        double[] probabilities = new double[kept];
        for (int i = 0; i < kept; i++) {
            probabilities[i] = Math.exp(logits[order[i]] - max);
            sum += probabilities[i];
        }
        if (overAll) {
            sum = 0;
            for (float logit : logits) {
                sum += Math.exp(logit - max);
            }
        }
        for (int i = 0; i < kept; i++) {
            probabilities[i] /= sum;
        }
        return probabilities;
    }

    /** The entropy of {@code probabilities} in nats, a token of probability 0 adding none (not 0 * log 0). */
    private static double entropy(double[] probabilities) {
        double entropy = 0;
        for (double p : probabilities) {
            if (p > 0) {
                entropy -= p * Math.log(p);
            }
        }
        return entropy;
    }

    private static float maxLogit(float[] logits, int[] order, int kept) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < kept; i++) {
            max = Math.max(max, logits[order[i]]);
        }
        return max;
    }

    /** {@code order[0..kept)} sorted by descending logit, ties by id. */
    private static void sortByLogit(float[] logits, int[] order, int kept) {
        long[] keys = new long[kept];
        for (int i = 0; i < kept; i++) {
            keys[i] = orderKey(logits[order[i]], order[i]);
        }
        Arrays.sort(keys);
        for (int i = 0; i < kept; i++) {
            order[i] = (int) keys[i];
        }
    }

    /**
     * The repetition penalties, then DRY: none with Mirostat, whose chain in llama.cpp has only the biases and
     * the temperature before it, nor in another order, whose {@link #chain} runs them in their places.
     */
    private void applyPenalties(float[] logits) {
        if (options.mirostat().on() || chained()) {
            return;
        }
        applyRepetitionPenalties(logits);
        dry.apply(logits, history, historyLength);
    }

    private void applyRepetitionPenalties(float[] logits) {
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
     * Token ids by descending logit, ties by id, after top-n-sigma (which masks {@code logits}): the
     * top-k, or without a top-k every token that min-p could keep (all of them without min-p, or with
     * typical sampling, which may drop the most likely token before min-p looks). Min-p keeps a token whose
     * probability is at least min-p times the largest, that is whose logit is at least the largest plus
     * log(min-p); the tokens below that, with a margin for rounding, can be left unsorted, and a 128k
     * vocabulary is then not sorted for every token.
     */
    private int[] candidates(float[] logits) {
        if (options.filters().topNSigmaOn()) {
            maskBeyondSigmas(logits, IntStream.range(0, logits.length).toArray(), logits.length, options.filters().topNSigma());
        }
        int k = options.topK() > 0 ? Math.min(options.topK(), logits.length) : logits.length;
        if (k == logits.length) {
            float floor = Float.NEGATIVE_INFINITY;
            if (options.minP() > 0 && !options.filters().typical()) {
                floor = (float) (logits[argmax(logits)] + Math.log(options.minP()) - 1e-3);
            }
            return sortedFrom(logits, floor);
        }
        return best(logits, k);
    }

    /** The {@code k} (fewer than all) tokens of largest logit, by descending logit, ties by id: a bounded selection in a small sorted array. */
    private static int[] best(float[] logits, int k) {
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
                keys[count++] = orderKey(value, token);
            }
        }
        Arrays.sort(keys, 0, count);
        int[] order = new int[count];
        for (int i = 0; i < count; i++) {
            order[i] = (int) keys[i];
        }
        return order;
    }

    /** A token and its logit packed so that the longs' natural order is by descending logit, ties by id. */
    private static long orderKey(float logit, int token) {
        // Float bits made to order as the floats do, then inverted for descending order.
        int bits = Float.floatToIntBits(logit);
        bits ^= (bits >> 31) & 0x7fffffff;
        return ((long) ~bits << 32) | token;
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
