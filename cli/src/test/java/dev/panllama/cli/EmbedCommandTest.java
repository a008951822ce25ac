package dev.panllama.cli;

import dev.panllama.api.Embedder;
import dev.panllama.api.LlamaModel;
import dev.panllama.api.ModelOptions;
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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code panllama embed}: the Java API's vectors, as lines of numbers or OpenAI's JSON, from -p or the lines of a file; and its bad input. */
class EmbedCommandTest {

    static final List<String> TEXTS = List.of("The weather in Paris", "A cat sat on the mat");

    @TempDir
    static Path temp;
    static Path model;
    static List<float[]> expected;

    @BeforeAll
    static void writeModel() throws IOException {
        model = temp.resolve("embed.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 6).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), model);
        try (LlamaModel llama = LlamaModel.open(model, ModelOptions.defaults().withThreads(2).withContextLength(512));
             Embedder embedder = llama.newEmbedder(Embedder.Pooling.LAST, 1)) {
            expected = embedder.embed(TEXTS, Embedder.EUCLIDEAN);
        }
    }

    private static float[] parse(String line) {
        String[] numbers = line.trim().split(" ");
        float[] vector = new float[numbers.length];
        for (int i = 0; i < numbers.length; i++) {
            vector[i] = Float.parseFloat(numbers[i]);
        }
        return vector;
    }

    @Test
    void eachTextsVectorIsTheJavaApis() throws IOException {
        CommandRun lines = CommandRun.of("embed", "-m", model.toString(), "-t", "2", "-c", "512", "--pooling", "last",
                "-p", TEXTS.get(0), "-p", TEXTS.get(1));
        assertEquals(0, lines.exitCode(), lines.err());
        String[] printed = lines.out().strip().split("\n");
        assertEquals(2, printed.length);
        for (int i = 0; i < 2; i++) {
            assertArrayEquals(expected.get(i), parse(printed[i]), 1e-6f);
        }

        Path file = Files.writeString(temp.resolve("texts.txt"), TEXTS.get(0) + "\n\n" + TEXTS.get(1) + "\n");
        CommandRun json = CommandRun.of("embed", "-m", model.toString(), "-t", "2", "-c", "512", "--pooling", "last", "-f", file.toString(),
                "--json");
        assertEquals(0, json.exitCode(), json.err());
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> data = (List<Map<String, Object>>) ((Map<String, Object>) JsonReader.parse(json.out())).get("data");
        assertEquals(2, data.size(), "the blank line is no text");
        @SuppressWarnings("unchecked")
        List<Number> second = (List<Number>) data.get(1).get("embedding");
        assertEquals(expected.get(1)[0], second.getFirst().floatValue(), 1e-6f);
    }

    @Test
    void badInputIsOneLineAndExitTwo() throws IOException {
        Path blank = Files.writeString(temp.resolve("blank.txt"), "\n  \n");
        for (List<String> arguments : List.of(
                List.of("--pooling", "rank", "-p", "x"),
                List.of("--embd-normalize", "-3", "-p", "x"),
                List.of("-f", blank.toString()),
                List.of("-p", "x", "-f", blank.toString()))) {
            List<String> all = new java.util.ArrayList<>(List.of("embed", "-m", model.toString(), "-t", "2", "-c", "512"));
            all.addAll(arguments);
            CommandRun run = CommandRun.of(all.toArray(String[]::new));
            assertEquals(2, run.exitCode(), arguments + ": " + run.err());
            assertEquals(1, run.err().strip().lines().count(), arguments + ": " + run.err());
            assertTrue(run.out().isEmpty(), run.out());
        }
    }
}
