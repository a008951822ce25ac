package dev.panllama.api;

import dev.panllama.sampling.SamplingOptions;

import java.util.List;

/**
 * When generation stops and how tokens are picked.
 *
 * @param maxTokens   the most tokens to generate; -1 for no limit but the context
 * @param stopStrings generation stops before the first of these appears in the text
 */
public record GenerationOptions(int maxTokens, List<String> stopStrings, SamplingOptions sampling) {

    public GenerationOptions {
        if (maxTokens < -1) {
            throw new IllegalArgumentException("-n must be -1 (no limit) or more, not " + maxTokens);
        }
        stopStrings = List.copyOf(stopStrings);
        for (String stop : stopStrings) {
            if (stop.isEmpty()) {
                throw new IllegalArgumentException("a stop string cannot be empty");
            }
        }
    }

    public static GenerationOptions defaults() {
        return new GenerationOptions(-1, List.of(), SamplingOptions.defaults(System.nanoTime()));
    }

    public GenerationOptions withMaxTokens(int value) {
        return new GenerationOptions(value, stopStrings, sampling);
    }

    public GenerationOptions withStopStrings(List<String> value) {
        return new GenerationOptions(maxTokens, value, sampling);
    }

    public GenerationOptions withSampling(SamplingOptions value) {
        return new GenerationOptions(maxTokens, stopStrings, value);
    }
}
