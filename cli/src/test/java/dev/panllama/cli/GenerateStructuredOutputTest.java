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

/**
 * {@code panllama generate --json-schema FILE}, {@code --json-object}, {@code --grammar} and {@code --grammar-file} on a
 * random-weight model, and their bad input.
 */
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
        // llama.cpp's spellings: the schema itself after -j, its file after -jf.
        String inline = Files.readString(schema);
        for (List<String> given : List.of(List.of("-j", inline), List.of("-jf", schema.toString()))) {
            List<String> arguments = new java.util.ArrayList<>(List.of("generate", "-m", model.toString(), "-p", "Is it?", "-n", "200", "-t", "2",
                    "-c", "512", "-s", "4", "--json"));
            arguments.addAll(given);
            CommandRun result = CommandRun.of(arguments.toArray(String[]::new));
            assertEquals(0, result.exitCode(), result.err());
            @SuppressWarnings("unchecked")
            Map<String, Object> output = (Map<String, Object>) JsonReader.parse(result.out());
            Map<?, ?> document = assertInstanceOf(Map.class, JsonReader.parse((String) output.get("text")));
            assertTrue(List.of("yes", "no").contains(document.get("answer")), result.out());
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
                "give one of --json-schema, --json-schema-file, --json-object, --grammar and --grammar-file");
        assertRefused(CommandRun.of("generate", "-m", model.toString(), "-p", "x", "-j", "{\"type\": \"object\","),
                "--json-schema: the JSON schema is not valid JSON");
    }

    @Test
    void theOutputIsATextOfTheGrammar() throws IOException {
        // A regular grammar, so that an independent judge (java.util.regex) can check every output.
        String gbnf = """
                root ::= "Items: " item ("; " item){0,3} "."
                item ::= [a-z]{1,6} ("=" [0-9]{1,3})?   # a name, maybe a value
                """;
        java.util.regex.Pattern whole = java.util.regex.Pattern.compile("Items: [a-z]{1,6}(=[0-9]{1,3})?(; [a-z]{1,6}(=[0-9]{1,3})?){0,3}\\.");
        Path file = Files.writeString(temp.resolve("items.gbnf"), gbnf);
        java.util.Set<String> outputs = new java.util.HashSet<>();
        for (String seed : List.of("1", "2", "3", "4")) {
            List<String> grammar = seed.equals("1") ? List.of("--grammar", gbnf) : List.of("--grammar-file", file.toString());
            List<String> arguments = new java.util.ArrayList<>(List.of("generate", "-m", model.toString(), "-p", "List:", "-n", "120",
                    "-t", "2", "-c", "512", "-s", seed, "--temp", "1.5", "--json"));
            arguments.addAll(grammar);
            CommandRun result = CommandRun.of(arguments.toArray(String[]::new));
            assertEquals(0, result.exitCode(), result.err());
            @SuppressWarnings("unchecked")
            Map<String, Object> output = (Map<String, Object>) JsonReader.parse(result.out());
            String text = (String) output.get("text");
            assertTrue(whole.matcher(text).matches(), text);
            assertEquals("end_of_turn", output.get("stop_reason"), "nothing may follow the full stop: " + result.out());
            outputs.add(text);
        }
        assertTrue(outputs.size() > 1, "seeds give different texts: " + outputs);
    }

    @Test
    void aGrammarThatCannotBeMatchedGetsOneLineAndExitTwo() throws IOException {
        assertRefused(CommandRun.of("generate", "-m", model.toString(), "-p", "x", "--grammar", "root ::= item\n"),
                "--grammar: the grammar uses rule 'item' but does not define it");
        Path leftRecursive = Files.writeString(temp.resolve("left.gbnf"), "root ::= root \"a\" | \"b\"\n");
        assertRefused(CommandRun.of("generate", "-m", model.toString(), "-p", "x", "--grammar-file", leftRecursive.toString()),
                "left.gbnf: the grammar is left-recursive at rule 'root'");
        assertRefused(CommandRun.of("generate", "-m", model.toString(), "-p", "x", "--grammar-file", temp.resolve("absent.gbnf").toString()),
                "absent.gbnf: no such file");
        // A token the grammar names is looked up in the model's vocabulary, after the line saying it is loaded.
        CommandRun unknownToken = CommandRun.of("generate", "-m", model.toString(), "-p", "x", "-t", "2", "-c", "512", "--grammar",
                "root ::= \"a\" <|no such token|>");
        assertEquals(2, unknownToken.exitCode(), unknownToken.err());
        assertEquals("panllama: the grammar's token <|no such token|> is 7 tokens of this model, not one",
                unknownToken.err().strip().lines().toList().getLast());
        assertFalse(unknownToken.err().contains("\tat "), unknownToken.err());
    }

    private static void assertRefused(CommandRun result, String message) {
        assertEquals(2, result.exitCode(), result.err());
        assertTrue(result.err().startsWith("panllama: ") && result.err().contains(message), result.err());
        assertEquals(1, result.err().strip().lines().count(), result.err());
        assertFalse(result.err().contains("\tat "), result.err());
    }
}
