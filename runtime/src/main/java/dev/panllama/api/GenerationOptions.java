package dev.panllama.api;

import dev.panllama.sampling.ReasoningBudget;
import dev.panllama.sampling.SamplingOptions;
import dev.panllama.structured.Grammar;
import dev.panllama.structured.JsonSchema;
import dev.panllama.structured.StructuredOutput;

import java.util.List;

/**
 * When generation stops and how tokens are picked.
 *
 * @param maxTokens   the most tokens to generate; -1 for no limit but the context
 * @param stopStrings generation stops before the first of these appears in the text
 * @param structure   structured output: the text must be a JSON document of this schema or a text of this
 *                    grammar, and generation stops once it is whole and nothing may follow (null: free text).
 *                    It can end incomplete only by the token limit, a stop string, the context, cancelling
 *                    or {@link Generation.StopReason#NO_VALID_TOKEN}.
 * @param reasoningBudget how long a reasoning block may run before its end is forced (null: as long as the model reasons)
 */
public record GenerationOptions(int maxTokens, List<String> stopStrings, SamplingOptions sampling, StructuredOutput structure,
                                ReasoningBudget reasoningBudget) {

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

    /** Free text, reasoning unbounded. */
    public GenerationOptions(int maxTokens, List<String> stopStrings, SamplingOptions sampling) {
        this(maxTokens, stopStrings, sampling, null, null);
    }

    public static GenerationOptions defaults() {
        return new GenerationOptions(-1, List.of(), SamplingOptions.defaults(System.nanoTime()));
    }

    public GenerationOptions withMaxTokens(int value) {
        return new GenerationOptions(value, stopStrings, sampling, structure, reasoningBudget);
    }

    public GenerationOptions withStopStrings(List<String> value) {
        return new GenerationOptions(maxTokens, value, sampling, structure, reasoningBudget);
    }

    public GenerationOptions withSampling(SamplingOptions value) {
        return new GenerationOptions(maxTokens, stopStrings, value, structure, reasoningBudget);
    }

    /**
     * Structured output: a JSON document that the JSON schema {@code schemaJson} accepts (OpenAI's
     * {@code response_format} {@code json_schema}).
     *
     * @throws IllegalArgumentException when the schema is not JSON or uses what is not supported;
     *                                  the message names the keyword and where it is
     */
    public GenerationOptions withJsonSchema(String schemaJson) {
        return withJsonSchema(JsonSchema.compile(schemaJson));
    }

    /** Structured output: a JSON document of {@code schema}, or free text for null. */
    public GenerationOptions withJsonSchema(JsonSchema schema) {
        return withStructure(schema);
    }

    /**
     * Structured output: a text of the GBNF grammar {@code gbnf} (llama.cpp's {@code --grammar}), from its
     * {@code root} rule.
     *
     * @throws IllegalArgumentException when the text is not a grammar panllama can match; the message says where
     */
    public GenerationOptions withGrammar(String gbnf) {
        return withStructure(Grammar.parse(gbnf));
    }

    /** Structured output of {@code structure}, or free text for null. */
    public GenerationOptions withStructure(StructuredOutput structure) {
        return new GenerationOptions(maxTokens, stopStrings, sampling, structure, reasoningBudget);
    }

    /** Reasoning held to {@code budget}, or unbounded for null. */
    public GenerationOptions withReasoningBudget(ReasoningBudget budget) {
        return new GenerationOptions(maxTokens, stopStrings, sampling, structure, budget);
    }

    /** Structured output: any JSON object (OpenAI's {@code response_format} {@code json_object}). */
    public GenerationOptions withJsonObject() {
        return withJsonSchema(JsonSchema.anyObject());
    }
}
