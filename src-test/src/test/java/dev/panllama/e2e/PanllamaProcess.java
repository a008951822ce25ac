package dev.panllama.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The packaged {@code panllama} jar run as a user runs it, in a process of its own. */
final class PanllamaProcess {

    /** What one run printed and how it ended. */
    record Run(int exitCode, String out, String err) {
    }

    private PanllamaProcess() {
    }

    /** The jar Maven builds, which takes its native libraries from the build cache. */
    static Path jar() {
        Path jar = Path.of("..", "cli", "target", "panllama.jar").toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(jar), jar + " is missing: build with mvn package");
        return jar;
    }

    /** The distributed jar (scripts/package), with every portable CPU variant of ggml inside. */
    static Path distributionJar() {
        Path jar = Path.of("..", "cli", "target", "dist", "panllama.jar").toAbsolutePath().normalize();
        assertTrue(Files.isRegularFile(jar), jar + " is missing: build it with scripts/package");
        return jar;
    }

    /** Runs {@code panllama args} with {@code stdin} as its input; its output goes through files in {@code temp}. */
    static Run run(Path temp, String stdin, String... args) throws IOException, InterruptedException {
        return run(jar(), Map.of(), temp, stdin, args);
    }

    /** As {@link #run(Path, String, String...)}, from {@code jar} and with {@code environment} added. */
    static Run run(Path jar, Map<String, String> environment, Path temp, String stdin, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString()));
        command.addAll(List.of(args));
        Path out = Files.createTempFile(temp, "out", ".txt");
        Path err = Files.createTempFile(temp, "err", ".txt");
        ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile());
        builder.environment().putAll(environment);
        Process process = builder.start();
        process.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        process.getOutputStream().close();
        assertTrue(process.waitFor(5, TimeUnit.MINUTES), "panllama " + String.join(" ", args) + " did not finish");
        return new Run(process.exitValue(), Files.readString(out), Files.readString(err));
    }

    /** A failure as users must see it: non-zero exit, one error line (notes aside) saying {@code message}, no stack trace. */
    static void assertFails(Run run, String message) {
        assertNotEquals(0, run.exitCode(), run.out());
        List<String> errors = run.err().lines().filter(l -> l.startsWith("panllama:") && !l.startsWith("panllama: note:")).toList();
        assertEquals(1, errors.size(), run.err());
        assertTrue(errors.getFirst().contains(message), errors.getFirst());
        assertFalse(run.err().contains("\tat "), "no stack trace without --verbose: " + run.err());
    }

    /** The integer array {@code field} of the command's {@code --json} output. */
    static int[] ints(String json, String field) {
        Matcher m = Pattern.compile("\"" + field + "\":\\[([0-9,]*)]").matcher(json);
        assertTrue(m.find(), field + " in " + json);
        return m.group(1).isEmpty() ? new int[0] : Arrays.stream(m.group(1).split(",")).mapToInt(Integer::parseInt).toArray();
    }
}
