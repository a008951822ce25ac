package dev.panllama.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code panllama chat}: its options checked before the model loads. */
class ChatCommandTest {

    @TempDir
    Path temp;

    @Test
    void aBadReasoningBudgetIsOneMessageBeforeTheModelLoads() throws Exception {
        Path file = Files.writeString(temp.resolve("never-read.gguf"), "not a model");
        StringWriter err = new StringWriter();
        assertEquals(2, Panllama.run(new String[] {"chat", "-m", file.toString(), "--reasoning-budget", "-3"},
                new PrintWriter(new StringWriter()), new PrintWriter(err, true)));
        assertTrue(err.toString().startsWith("panllama: --reasoning-budget must be -1 (unbounded), 0 or more, not -3"), err.toString());
        assertFalse(err.toString().contains("\tat "), err.toString());
    }
}
