package dev.panllama.bindings;

import dev.panllama.bindings.ggml.Ggml;
import dev.panllama.bindings.ggml.ggml_log_callback;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Routes ggml's log into Java: warnings and errors go to standard error prefixed {@code ggml: },
 * informational and debug lines are dropped unless {@link #verbose(boolean)} is on. Without it ggml
 * prints every line it likes straight to the process's stderr.
 */
public final class GgmlLog {

    private static final int LEVEL_DEBUG = 1;
    private static final int LEVEL_WARN = 3;
    private static final int LEVEL_CONTINUE = 5;

    private static volatile boolean verbose;
    private static volatile boolean lastShown;

    private GgmlLog() {
    }

    /** Whether informational and debug lines are shown too. */
    public static void verbose(boolean on) {
        verbose = on;
    }

    static void install() {
        MemorySegment callback = ggml_log_callback.allocate(GgmlLog::log, Arena.global());
        Ggml.ggml_log_set(callback, MemorySegment.NULL);
    }

    /** Called from native code: must never throw. */
    private static void log(int level, MemorySegment text, MemorySegment userData) {
        try {
            boolean show = level == LEVEL_CONTINUE ? lastShown : level >= LEVEL_WARN || (verbose && level >= LEVEL_DEBUG);
            lastShown = show;
            if (show) {
                PrintStream err = System.err;
                String line = text.reinterpret(Long.MAX_VALUE).getString(0);
                err.print(level == LEVEL_CONTINUE ? line : "ggml: " + line);
                err.flush();
            }
        } catch (Throwable ignored) {
            // A log line is not worth a crash of the process.
        }
    }
}
