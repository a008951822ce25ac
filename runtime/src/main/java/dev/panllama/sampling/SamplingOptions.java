package dev.panllama.sampling;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

/**
 * How the next token is picked from the logits, with llama.cpp's defaults. Applied in llama.cpp's
 * order: logit biases, repetition penalties, {@link Dry}, top-n-sigma, top-k, typical, top-p, min-p, XTC,
 * temperature ({@link DynamicTemperature} where on), then a seeded random draw ({@link TokenFilters}
 * holds the samplers that are off by default), or in another {@link SamplerOrder}; or, with {@link Mirostat} on, logit biases,
 * temperature and Mirostat alone, as llama.cpp.
 * A temperature of 0 (or {@link #greedy()}) always takes the most likely token.
 *
 * @param repeatLastN how many recent tokens the penalties look at (0: none, -1: the whole context)
 * @param seed        the random seed; the same seed, prompt and options give the same output
 * @param logitBias   added to the logits of the tokens named (by id) before anything else, as OpenAI's
 *                    {@code logit_bias} and llama.cpp's {@code --logit-bias} are; negative infinity
 *                    bans a token
 */
public record SamplingOptions(float temperature, int topK, float topP, float minP,
                              float repeatPenalty, int repeatLastN, float frequencyPenalty, float presencePenalty,
                              long seed, Map<Integer, Float> logitBias, TokenFilters filters, Mirostat mirostat,
                              DynamicTemperature dynamicTemperature, Dry dry, SamplerOrder order, AdaptiveP adaptiveP) {

    public SamplingOptions {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("--temp must be 0 or more, not " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("--top-k must be 0 (off) or more, not " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("--top-p must be within (0, 1], not " + topP);
        }
        if (!(minP >= 0 && minP <= 1)) {
            throw new IllegalArgumentException("--min-p must be within [0, 1], not " + minP);
        }
        if (!(repeatPenalty > 0) || Float.isInfinite(repeatPenalty)) {
            throw new IllegalArgumentException("--repeat-penalty must be positive, not " + repeatPenalty);
        }
        if (repeatLastN < -1) {
            throw new IllegalArgumentException("--repeat-last-n must be -1, 0 or more, not " + repeatLastN);
        }
        if (!Float.isFinite(frequencyPenalty) || !Float.isFinite(presencePenalty)) {
            throw new IllegalArgumentException("penalties must be finite numbers");
        }
        for (Map.Entry<Integer, Float> bias : logitBias.entrySet()) {
            if (bias.getKey() < 0) {
                throw new IllegalArgumentException("a logit bias names token " + bias.getKey() + "; token ids are 0 or more");
            }
            if (bias.getValue().isNaN() || bias.getValue() == Float.POSITIVE_INFINITY) {
                throw new IllegalArgumentException("the logit bias of token " + bias.getKey() + " must be a number or -inf, not " + bias.getValue());
            }
        }
        logitBias = Map.copyOf(logitBias);
        if (filters == null || mirostat == null || dynamicTemperature == null || dry == null || order == null || adaptiveP == null) {
            throw new IllegalArgumentException("filters, mirostat, dynamic temperature, DRY, the order and adaptive-p must be given (NONE, OFF or DEFAULT)");
        }
    }

    /** Options with these logit biases and no {@link TokenFilters}. */
    public SamplingOptions(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN,
                           float frequencyPenalty, float presencePenalty, long seed, Map<Integer, Float> logitBias) {
        this(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed, logitBias,
                TokenFilters.NONE, Mirostat.OFF, DynamicTemperature.OFF, Dry.OFF, SamplerOrder.DEFAULT, AdaptiveP.OFF);
    }

    /** Options without logit biases. */
    public SamplingOptions(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN,
                           float frequencyPenalty, float presencePenalty, long seed) {
        this(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed, Map.of(),
                TokenFilters.NONE, Mirostat.OFF, DynamicTemperature.OFF, Dry.OFF, SamplerOrder.DEFAULT, AdaptiveP.OFF);
    }

    /** llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no penalties. */
    public static SamplingOptions defaults(long seed) {
        return new SamplingOptions(0.8f, 40, 0.95f, 0.05f, 1.0f, 64, 0f, 0f, seed);
    }

    /** Always the most likely token. */
    public static SamplingOptions greedy() {
        return new SamplingOptions(0f, 40, 0.95f, 0.05f, 1.0f, 64, 0f, 0f, 0);
    }

    /** Whether the most likely token is always taken: a temperature of 0 where the temperature runs. */
    public boolean isGreedy() {
        return temperature == 0f && (order.has(SamplerOrder.Stage.TEMPERATURE) || mirostat.on());
    }

    public SamplingOptions withTemperature(float value) {
        return new SamplingOptions(value, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed, logitBias, filters, mirostat, dynamicTemperature, dry, order, adaptiveP);
    }

    public SamplingOptions withSeed(long value) {
        return new SamplingOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, value, logitBias, filters, mirostat, dynamicTemperature, dry, order, adaptiveP);
    }

    public SamplingOptions withLogitBias(Map<Integer, Float> value) {
        return new SamplingOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed, value, filters, mirostat, dynamicTemperature, dry, order, adaptiveP);
    }

    public SamplingOptions withFilters(TokenFilters value) {
        return new SamplingOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed, logitBias, value, mirostat, dynamicTemperature, dry, order, adaptiveP);
    }

    public SamplingOptions withMirostat(Mirostat value) {
        return new SamplingOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed, logitBias, filters, value, dynamicTemperature, dry, order, adaptiveP);
    }

    public SamplingOptions withDynamicTemperature(DynamicTemperature value) {
        return new SamplingOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed, logitBias, filters, mirostat, value, dry, order, adaptiveP);
    }

    public SamplingOptions withDry(Dry value) {
        return new SamplingOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed, logitBias, filters, mirostat, dynamicTemperature, value, order, adaptiveP);
    }

    public SamplingOptions withOrder(SamplerOrder value) {
        return new SamplingOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed, logitBias, filters, mirostat, dynamicTemperature, dry, value, adaptiveP);
    }

    public SamplingOptions withAdaptiveP(AdaptiveP value) {
        return new SamplingOptions(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed, logitBias, filters, mirostat, dynamicTemperature, dry, order, value);
    }

    /** These options with {@code tokens} banned (a bias of negative infinity), the other biases kept. */
    public SamplingOptions banning(Collection<Integer> tokens) {
        Map<Integer, Float> biases = new HashMap<>(logitBias);
        tokens.forEach(token -> biases.put(token, Float.NEGATIVE_INFINITY));
        return withLogitBias(biases);
    }
}
