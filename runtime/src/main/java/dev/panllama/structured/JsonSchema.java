package dev.panllama.structured;

import dev.panllama.json.JsonReader;
import dev.panllama.tokenizer.Tokenizer;

/**
 * What structured output must look like: a JSON schema compiled for constrained sampling, or any JSON
 * object. Immutable and safe to share; each generation takes its own {@link #constraint}.
 *
 * <p>The document is the JSON value alone, with no whitespace before or after it; between its
 * tokens nothing, one space, or a line break and an indent of up to 20 ({@link Whitespace}); numbers
 * have at most 15 digits before the point, 15 after it and 2 in the exponent. See
 * {@link SchemaCompiler} for the keywords taken.
 */
public final class JsonSchema implements StructuredOutput {

    private final Shape shape;
    private final String description;

    private JsonSchema(Shape shape, String description) {
        this.shape = shape;
        this.description = description;
    }

    /**
     * Compiles a JSON schema given as JSON text.
     *
     * @throws IllegalArgumentException when the text is not JSON, or the schema uses what is not supported
     *                                  (the message names the keyword and where it is)
     */
    public static JsonSchema compile(String schemaJson) {
        Object schema;
        try {
            schema = JsonReader.parse(schemaJson);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("the JSON schema is not valid JSON: " + e.getMessage(), e);
        }
        return new JsonSchema(SchemaCompiler.compile(schema), "JSON schema " + schemaJson);
    }

    /** Any JSON object (OpenAI's {@code response_format} {@code json_object}). */
    public static JsonSchema anyObject() {
        return new JsonSchema(Shape.anyObject(), "any JSON object");
    }

    @Override
    public JsonConstraint constraint(VocabularyTrie trie, Tokenizer tokenizer) {
        return new JsonConstraint(matcher(), trie, tokenizer.vocabulary());
    }

    /** Whether {@code json} is a whole document this schema's constrained output could produce. */
    public boolean accepts(String json) {
        return matcher().accepts(json);
    }

    /** Whether {@code text} is the start of (or all of) a document this schema's constrained output could produce. */
    public boolean acceptsPrefix(String text) {
        return !matcher().feed(text).isDead();
    }

    JsonPrefixMatcher matcher() {
        return JsonPrefixMatcher.start(shape);
    }

    @Override
    public String toString() {
        return description;
    }
}
