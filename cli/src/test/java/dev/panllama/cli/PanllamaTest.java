package dev.panllama.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
    void unknownOptionGetsAMessageAndWhereToLookNotAStackTrace() {
        CommandRun result = CommandRun.of("--no-such-option");
        assertEquals(2, result.exitCode());
        assertEquals(List.of("panllama: Unknown option: '--no-such-option'", "Try 'panllama --help' for the options."),
                result.err().lines().toList());
    }

    @Test
    void aMistypedOptionOfACommandIsNamedWithTheNearestOnesAndTheCommandsHelp() {
        CommandRun result = CommandRun.of("generate", "-m", "model.gguf", "--tempp", "0.5");
        assertEquals(2, result.exitCode());
        List<String> lines = result.err().lines().toList();
        assertEquals("panllama: Unknown options: '--tempp', '0.5'", lines.getFirst(), result.err());
        assertTrue(lines.stream().anyMatch(line -> line.contains("--temp")) && lines.size() < 10, result.err());
        assertEquals("Try 'panllama generate --help' for the options.", lines.getLast());
    }

    @Test
    void aValueOfTheWrongKindIsOneLineAndWhereToLook() {
        CommandRun result = CommandRun.of("generate", "-m", "model.gguf", "--temp", "abc");
        assertEquals(2, result.exitCode());
        assertEquals(List.of("panllama: Invalid value for option '--temp': 'abc' is not a float",
                "Try 'panllama generate --help' for the options."), result.err().lines().toList());
    }

    @Test
    void aFolderGivenAsTheModelIsCalledOne(@TempDir Path folder) {
        CommandRun result = CommandRun.of("info", "-m", folder.toString());
        assertEquals(2, result.exitCode());
        assertEquals(List.of("panllama: " + folder + ": is a folder, not a file"), result.err().lines().toList());
    }
}
