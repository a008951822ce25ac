package dev.panllama.cli;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PanllamaTest {

    private record Result(int exitCode, String out, String err) {
    }

    private static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Panllama.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void withoutArgumentsReportsVersionBackendsAndCpuFeatures() {
        Result result = run();
        assertEquals(0, result.exitCode(), result.err());
        assertTrue(result.out().startsWith("panllama "), result.out());
        assertTrue(result.out().contains("node-llama-cpp@"), result.out());
        assertTrue(result.out().lines().anyMatch(l -> l.trim().startsWith("CPU ")), result.out());
        assertTrue(result.out().lines().anyMatch(l -> l.startsWith("using ")), result.out());
        assertTrue(result.out().lines().anyMatch(l -> l.startsWith("cpu ") && l.length() > 10), result.out());
    }

    @Test
    void versionOption() {
        Result result = run("--version");
        assertEquals(0, result.exitCode());
        assertTrue(result.out().matches("panllama \\d+\\.\\d+\\.\\d+.*\\R"), result.out());
    }

    @Test
    void unknownOptionGetsAMessageAndUsageNotAStackTrace() {
        Result result = run("--no-such-option");
        assertEquals(2, result.exitCode());
        assertTrue(result.err().contains("Unknown option: '--no-such-option'"), result.err());
        assertFalse(result.err().contains("\tat "), result.err());
    }
}
