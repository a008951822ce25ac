package dev.panllama.cli;

import org.junit.jupiter.api.Test;


import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PanllamaTest {

    @Test
    void withoutArgumentsReportsVersionBackendsAndCpuFeatures() {
        CommandRun result = CommandRun.of();
        assertEquals(0, result.exitCode(), result.err());
        assertTrue(result.out().startsWith("panllama "), result.out());
        assertTrue(result.out().contains("node-llama-cpp@"), result.out());
        assertTrue(result.out().lines().anyMatch(l -> l.trim().startsWith("CPU ")), result.out());
        assertTrue(result.out().lines().anyMatch(l -> l.startsWith("using ")), result.out());
        assertTrue(result.out().lines().anyMatch(l -> l.startsWith("cpu ") && l.length() > 10), result.out());
    }

    @Test
    void versionOption() {
        CommandRun result = CommandRun.of("--version");
        assertEquals(0, result.exitCode());
        assertTrue(result.out().matches("panllama \\d+\\.\\d+\\.\\d+.*\\R"), result.out());
    }

    @Test
    void unknownOptionGetsAMessageAndUsageNotAStackTrace() {
        CommandRun result = CommandRun.of("--no-such-option");
        assertEquals(2, result.exitCode());
        assertTrue(result.err().contains("Unknown option: '--no-such-option'"), result.err());
        assertFalse(result.err().contains("\tat "), result.err());
    }
}
