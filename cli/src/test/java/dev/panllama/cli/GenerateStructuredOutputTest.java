package dev.panllama.cli;

import dev.panllama.bindings.NativePin;
import dev.panllama.bindings.UserCache;
import dev.panllama.ggml.GgmlType;
import dev.panllama.json.JsonReader;
import dev.panllama.model.demo.RandomModelSpec;
import dev.panllama.model.demo.RandomModelWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code panllama generate --json-schema FILE} and {@code --json-object} on a random-weight model, and their bad input. */
class GenerateStructuredOutputTest {

    @TempDir
    static Path temp;
    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = temp.resolve("structured.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 4).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), model);
    }

    @Test
    void theOutputIsADocumentOfTheSchema() throws IOException {
        Path schema = Files.writeString(temp.resolve("answer.json"), """
                {"type": "object", "additionalProperties": false, "required": ["answer", "sure"],
                 "properties": {"answer": {"enum": ["yes", "no"]}, "sure": {"type": "boolean"},
                                "why": {"type": "string", "maxLength": 10}}}
                """);
        for (String seed : List.of("1", "2", "3")) {
            CommandRun result = CommandRun.of("generate", "-m", model.toString(), "-p", "Is it?", "-n", "200", "-t", "2", "-c", "512",
                    "-s", seed, "--json-schema", schema.toString(), "--json");
            assertEquals(0, result.exitCode(), result.err());
            @SuppressWarnings("unchecked")
            Map<String, Object> output = (Map<String, Object>) JsonReader.parse(result.out());
            assertEquals("end_of_turn", output.get("stop_reason"), result.out());
            Map<?, ?> document = assertInstanceOf(Map.class, JsonReader.parse((String) output.get("text")));
            assertTrue(List.of("yes", "no").contains(document.get("answer")), result.out());
            assertInstanceOf(Boolean.class, document.get("sure"));
        }
        CommandRun object = CommandRun.of("generate", "-m", model.toString(), "-p", "{", "-n", "40", "-t", "2", "-c", "512", "--greedy", "--json-object");
        assertEquals(0, object.exitCode(), object.err());
        assertTrue(object.out().startsWith("{"), object.out());
    }

    @Test
    void aMissingOrUnsupportedSchemaGetsOneLineAndExitTwo() throws IOException {
        assertRefused(CommandRun.of("generate", "-m", model.toString(), "-p", "x", "--json-schema", temp.resolve("absent.json").toString()),
                "absent.json: no such file");
        Path pattern = Files.writeString(temp.resolve("pattern.json"), "{\"type\": \"string\", \"pattern\": \"^[a-z]+$\"}");
        assertRefused(CommandRun.of("generate", "-m", model.toString(), "-p", "x", "--json-schema", pattern.toString()),
                "pattern.json: unsupported JSON schema keyword 'pattern' at #");
        Path broken = Files.writeString(temp.resolve("broken.json"), "{\"type\": \"object\",");
        assertRefused(CommandRun.of("generate", "-m", model.toString(), "-p", "x", "--json-schema", broken.toString()),
                "broken.json: the JSON schema is not valid JSON");
        assertRefused(CommandRun.of("generate", "-m", model.toString(), "-p", "x", "--json-schema", broken.toString(), "--json-object"),
                "not both");
    }

    private static void assertRefused(CommandRun result, String message) {
        assertEquals(2, result.exitCode(), result.err());
        assertTrue(result.err().startsWith("panllama: ") && result.err().contains(message), result.err());
        assertEquals(1, result.err().strip().lines().count(), result.err());
        assertFalse(result.err().contains("\tat "), result.err());
    }
}
