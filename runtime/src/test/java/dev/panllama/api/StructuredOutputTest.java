package dev.panllama.api;

import com.github.erosb.jsonsKema.JsonParser;
import com.github.erosb.jsonsKema.JsonValue;
import com.github.erosb.jsonsKema.PrimitiveValidationStrategy;
import com.github.erosb.jsonsKema.SchemaLoader;
import com.github.erosb.jsonsKema.ValidationFailure;
import com.github.erosb.jsonsKema.Validator;
import com.github.erosb.jsonsKema.ValidatorConfig;
import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import dev.panllama.sampling.SamplingOptions;
import dev.panllama.structured.JsonConstraint;
import dev.panllama.structured.JsonSchema;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Structured output on a random-weight model: whatever the weights prefer, every reply parses as JSON
 * and validates against its schema, as an independent parser and validator (json-sKema's) judge it,
 * for many seeds with temperature sampling and for greedy decoding.
 */
class StructuredOutputTest {

    /** A schema with bounded documents (short strings, enums, integers, few items), so every reply ends whole. */
    static final String RECORD = """
            {"type": "object",
             "properties": {
               "name": {"type": "string", "minLength": 1, "maxLength": 12},
               "age": {"type": "integer"},
               "ratio": {"type": "number"},
               "active": {"type": "boolean"},
               "colour": {"enum": ["red", "green", "blue", null]},
               "scores": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
               "pet": {"oneOf": [
                 {"type": "object", "properties": {"kind": {"const": "cat"}, "lives": {"type": "integer"}},
                  "required": ["kind", "lives"], "additionalProperties": false},
                 {"type": "object", "properties": {"kind": {"const": "dog"}, "good": {"const": true}},
                  "required": ["kind"], "additionalProperties": false}]},
               "note": {"$ref": "#/$defs/note"}
             },
             "required": ["name", "age", "active", "colour", "scores", "pet"],
             "additionalProperties": false,
             "$defs": {"note": {"anyOf": [{"type": "string", "maxLength": 6}, {"type": "null"}]}}}
            """;
    /** A smaller schema for the many seeds: an enum, an integer, a boolean, an array of enums, a short string. */
    static final String ANSWER = """
            {"type": "object",
             "properties": {
               "answer": {"enum": ["yes", "no", "maybe"]},
               "confidence": {"type": "integer"},
               "sure": {"type": "boolean"},
               "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 2},
               "why": {"type": "string", "maxLength": 5}
             },
             "required": ["answer", "confidence", "sure"],
             "additionalProperties": false}
            """;
    static final int SEEDS = 32;

    @TempDir
    static Path temp;
    static LlamaModel model;


    @BeforeAll
    static void openModel() throws IOException {
        Path file = temp.resolve("structured.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 15).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), file);
        model = LlamaModel.open(file, ModelOptions.defaults().withThreads(2).withContextLength(1024).withBatchSize(64));
    }

    @AfterAll
    static void closeModel() {
        model.close();
    }

    /** A strict validator: a string is not a number, whatever it holds. */
    static Validator validator(String schema) {
        return Validator.create(new SchemaLoader(new JsonParser(schema).parse()).load(),
                ValidatorConfig.Companion.builder().primitiveValidationStrategy(PrimitiveValidationStrategy.STRICT).build());
    }

    static void assertValid(Validator validator, Generation generation) {
        String text = generation.text();
        assertEquals(Generation.StopReason.END_OF_TURN, generation.stopReason(), "the document ended whole: " + text);
        // The parser refuses malformed JSON, trailing text and repeated property names.
        JsonValue document = new JsonParser(text).parse();
        ValidationFailure failure = validator.validate(document);
        assertNull(failure, () -> failure + " in " + text);
    }

    @Test
    void everySeedGivesADocumentThatValidates() {
        Set<String> distinct = new HashSet<>();
        try (Completion completion = model.newCompletion()) {
            distinct.addAll(sample(completion, ANSWER, 0, SEEDS));
            distinct.addAll(sample(completion, RECORD, 100, 3));
        }
        assertTrue(distinct.size() > SEEDS / 2, "seeds give different documents: " + distinct.size());
    }

    /** The documents of {@code seeds} seeds from {@code firstSeed} on, each checked. */
    static List<String> sample(Completion completion, String schemaJson, int firstSeed, int seeds) {
        Validator validator = validator(schemaJson);
        GenerationOptions options = GenerationOptions.defaults().withMaxTokens(400).withJsonSchema(schemaJson);
        List<String> documents = new ArrayList<>();
        for (int seed = firstSeed; seed < firstSeed + seeds; seed++) {
            StringBuilder streamed = new StringBuilder();
            Generation generation = completion.complete("A record as JSON:",
                    options.withSampling(SamplingOptions.defaults(seed).withTemperature(1.2f)), streamed::append);
            assertValid(validator, generation);
            assertEquals(generation.text(), streamed.toString());
            documents.add(generation.text());
        }
        return documents;
    }

    @Test
    void greedyChatRepliesValidateAndJoinTheConversation() {
        Validator schema = validator(RECORD);
        GenerationOptions greedy = GenerationOptions.defaults().withMaxTokens(400).withSampling(SamplingOptions.greedy())
                .withJsonSchema(RECORD);
        try (Chat chat = model.newChat("Answer in JSON.")) {
            Generation first = chat.send("Describe someone.", greedy);
            assertValid(schema, first);
            assertEquals(first.text(), chat.messages().getLast().content());
            Generation second = chat.send("Another one.", greedy);
            assertValid(schema, second);
        }
    }

    @Test
    void jsonObjectModeKeepsToAnObject() {
        Validator object = validator("{\"type\": \"object\"}");
        JsonSchema anyObject = JsonSchema.anyObject();
        try (Completion completion = model.newCompletion()) {
            for (int seed = 0; seed < 3; seed++) {
                Generation generation = completion.complete("{", GenerationOptions.defaults().withMaxTokens(60)
                        .withSampling(SamplingOptions.defaults(seed)).withJsonObject(), s -> { });
                // Any object is unbounded, and random weights seldom close a property name: a reply that
                // runs out of tokens must still be the start of an object.
                if (generation.stopReason() == Generation.StopReason.MAX_TOKENS) {
                    assertTrue(generation.text().startsWith("{") && anyObject.acceptsPrefix(generation.text()), generation.text());
                } else {
                    assertValid(object, generation);
                }
            }
        }
    }

    @Test
    void theEndOfTurnWaitsForAWholeDocumentAndIdsBeyondTheVocabularyAreNeverAllowed() {
        JsonConstraint constraint = JsonSchema.compile(ANSWER).constraint(model.vocabularyTrie(), model.tokenizer());
        int size = model.vocabulary().size();
        int endOfTurn = model.vocabulary().eos();
        assertFalse(constraint.allows(endOfTurn));
        assertFalse(constraint.allows(size + 3), "a padded output row");
        float[] logits = new float[size + 8];
        assertTrue(constraint.mask(logits));
        assertEquals(Float.NEGATIVE_INFINITY, logits[size + 3]);
        assertEquals(Float.NEGATIVE_INFINITY, logits[endOfTurn]);
        assertEquals(0f, logits[model.vocabulary().id("{")], "an object begins with {");
        for (int token : model.tokenizer().encode("{\"answer\":\"no\",\"sure\":true,\"confidence\":7}", false, false)) {
            assertTrue(constraint.allows(token));
            constraint.accept(token);
        }
        assertTrue(constraint.isFinished());
        assertTrue(constraint.allows(endOfTurn));
    }

    @Test
    void badSchemasAreRefusedWhenTheOptionsAreMade() {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> GenerationOptions.defaults().withJsonSchema("{\"type\": \"string\", \"format\": \"email\"}"));
        assertEquals("unsupported JSON schema keyword 'format' at #", refused.getMessage());
        assertThrows(IllegalArgumentException.class, () -> GenerationOptions.defaults().withJsonSchema("{\"type\": "));
    }
}
