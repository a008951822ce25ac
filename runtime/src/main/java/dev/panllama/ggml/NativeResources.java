package dev.panllama.ggml;

import java.lang.foreign.Arena;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Counts the native resources panllama holds open (ggml contexts, backends, schedulers, mapped
 * files), each owned by one arena. A test or a long-running application can check that closing what
 * it opened brings the count back.
 */
public final class NativeResources {

    private static final AtomicInteger LIVE = new AtomicInteger();

    private NativeResources() {
    }

    /** How many are open now. */
    public static int live() {
        return LIVE.get();
    }

    /** A shared arena counted as one live resource until it is closed through {@link #close(Arena)}. */
    public static Arena openArena() {
        Arena arena = Arena.ofShared();
        LIVE.incrementAndGet();
        return arena;
    }

    /** Closes {@code arena} if it is still open, freeing what it owns; closing twice does nothing. */
    public static void close(Arena arena) {
        if (arena.scope().isAlive()) {
            arena.close();
            LIVE.decrementAndGet();
        }
    }
}
