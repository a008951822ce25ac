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
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code panllama bench -d}: tests at a depth, named and reported as llama-bench names them, and its bad input. */
class BenchCommandTest {

    @TempDir
    static Path temp;
    static Path model;

    @BeforeAll
    static void writeModel() throws IOException {
        model = temp.resolve("bench.gguf");
        RandomModelWriter.write(RandomModelSpec.scoutLike(GgmlType.Q8_0, 6).withTiedOutput(true),
                UserCache.user().vocabularies(NativePin.current()).resolve("ggml-vocab-llama-bpe.gguf"), model);
    }

    @Test
    void testsRunAtEachDepthAndCarryItInTheirNameAndJson() throws IOException {
        CommandRun result = CommandRun.of("bench", "-m", model.toString(), "-p", "8", "-n", "3", "-d", "0,100", "-r", "2", "-t", "2", "-o", "json",
                "--warmup", "0");
        assertEquals(0, result.exitCode(), result.err());
        assertTrue(result.err().contains("context 109"), "the context is the deepest test's and a token, as before -d: " + result.err());
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> rows = (List<Map<String, Object>>) JsonReader.parse(result.out());
        assertEquals(List.of(0L, 0L, 100L, 100L), rows.stream().map(r -> ((Number) r.get("n_depth")).longValue()).toList());
        for (Map<String, Object> row : rows) {
            assertTrue(((Number) row.get("avg_ts")).doubleValue() > 0, row.toString());
            assertEquals(2, ((List<?>) row.get("samples_ns")).size(), row.toString());
        }
        Path json = Files.writeString(temp.resolve("bench.json"), result.out());
        assertEquals(List.of("pp8", "tg3", "pp8 @ d100", "tg3 @ d100"), List.copyOf(BenchReport.read(json).keySet()),
                "the report keys tests as llama-bench names them");

        long start = System.nanoTime();
        CommandRun markdown = CommandRun.of("bench", "-m", model.toString(), "-p", "0", "-n", "2", "-d", "70", "-r", "1", "-t", "2",
                "--warmup", "3");
        assertEquals(0, markdown.exitCode(), markdown.err());
        assertTrue(markdown.out().contains("tg2 @ d70"), markdown.out());
        // Far longer than loading this small model and running its one test takes.
        assertTrue(System.nanoTime() - start >= 3_000_000_000L, "the test ran untimed for three seconds first");
    }

    @Test
    void aBadWarmUpIsRefusedWithAMessage() {
        for (String seconds : new String[] {"-1", "NaN", "4000"}) {
            CommandRun bad = CommandRun.of("bench", "-m", model.toString(), "--warmup", seconds);
            assertNotEquals(0, bad.exitCode(), seconds);
            assertTrue(bad.err().contains("--warmup must be 0 to 3600 seconds, not "), bad.err());
        }
        CommandRun notANumber = CommandRun.of("bench", "-m", model.toString(), "--warmup", "soon");
        assertNotEquals(0, notANumber.exitCode());
        assertTrue(notANumber.err().contains("--warmup"), notANumber.err());
    }

    @Test
    void badDepthsAreRefusedWithAMessage() {
        CommandRun negative = CommandRun.of("bench", "-m", model.toString(), "-d", "-5");
        assertNotEquals(0, negative.exitCode());
        assertTrue(negative.err().contains("-d must be 0 or more tokens, not -5"), negative.err());
        CommandRun small = CommandRun.of("bench", "-m", model.toString(), "-p", "0", "-n", "4", "-d", "300", "-c", "256");
        assertNotEquals(0, small.exitCode());
        assertTrue(small.err().contains("-c 256 is too small for the deepest test: it needs 305"), small.err());
    }

    @Test
    void aTokenRangeIsTakenWithinTheVocabularyAndABadOneRefused() {
        CommandRun half = CommandRun.of("bench", "-m", model.toString(), "-p", "8", "-n", "2", "-r", "1", "-t", "2",
                "--token-range", "0:64128", "-o", "json", "--warmup", "0");
        assertEquals(0, half.exitCode(), half.err());
        for (String range : new String[] {"5:5", "-1:10", "0:128257", "a:b", "10"}) {
            CommandRun bad = CommandRun.of("bench", "-m", model.toString(), "-p", "8", "-n", "0", "-r", "1", "--token-range", range);
            assertNotEquals(0, bad.exitCode(), range);
            assertTrue(bad.err().contains("--token-range must be FROM:TO with 0 <= FROM < TO <= 128256 (the vocabulary), not " + range),
                    bad.err());
        }
    }
}
