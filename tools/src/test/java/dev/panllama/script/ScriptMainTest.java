package dev.panllama.script;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs a helper built on {@link ScriptMain} in a JVM of its own, as the scripts do, and reads how it ends. */
class ScriptMainTest {

    /** A helper that reads a count and a file: {@code Helper COUNT FILE}. */
    public static final class Helper {
        public static void main(String[] args) {
            ScriptMain.run("Helper COUNT FILE", 2, args, arguments -> {
                int count = Integer.parseInt(arguments[0]);
                if (count < 0) {
                    throw new IllegalArgumentException("COUNT must not be negative");
                }
                if (count == 13) {
                    throw new IllegalStateException("thirteen is unlucky");
                }
                System.out.println(Files.readString(Path.of(arguments[1])).length() * count);
            });
        }
    }

    private record Outcome(int status, String out, String err) {
    }

    private static Outcome run(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Helper.class.getName()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().remove("PANLLAMA_VERBOSE");
        Process process = builder.start();
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the helper did not end");
        return new Outcome(process.exitValue(), new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip(),
                new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip());
    }

    private static void assertNoStackTrace(Outcome outcome) {
        assertFalse(outcome.err().contains("\tat ") || outcome.err().contains("Exception in thread"), outcome.err());
    }

    @Test
    void runsTheBodyWithGoodArguments(@TempDir Path folder) throws Exception {
        Path file = Files.writeString(folder.resolve("text"), "seven");
        Outcome outcome = run("3", file.toString());
        assertEquals(0, outcome.status(), outcome.err());
        assertEquals("15", outcome.out());
        assertEquals("", outcome.err());
    }

    @Test
    void missingArgumentsGiveTheUsage() throws Exception {
        Outcome outcome = run("2");
        assertEquals(2, outcome.status());
        assertEquals("usage: Helper COUNT FILE", outcome.err());
    }

    @Test
    void aBadArgumentGetsOneLineAndTheUsage() throws Exception {
        Outcome notANumber = run("two", "x");
        assertEquals(2, notANumber.status());
        assertEquals("not a number: \"two\"\nusage: Helper COUNT FILE", notANumber.err());
        Outcome negative = run("-1", "x");
        assertEquals(2, negative.status());
        assertEquals("COUNT must not be negative\nusage: Helper COUNT FILE", negative.err());
    }

    @Test
    void failuresGetOneLineAndStatusOne() throws Exception {
        Outcome missingFile = run("1", "/no/such/file");
        assertEquals(1, missingFile.status());
        assertEquals("no such file: /no/such/file", missingFile.err());
        Outcome failed = run("13", "x");
        assertEquals(1, failed.status());
        assertEquals("thirteen is unlucky", failed.err());
        assertNoStackTrace(missingFile);
        assertNoStackTrace(failed);
    }
}
