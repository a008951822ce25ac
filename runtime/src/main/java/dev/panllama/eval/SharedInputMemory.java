package dev.panllama.eval;

import dev.panllama.ggml.NativeResources;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Host memory that the graphs of one micro-batch share when it is computed in several graphs (the
 * segments of {@link SegmentedForward}, one per cached layer): a staging area for the inputs on their
 * way into each graph, and each layer group's attention mask, computed for the first graph that reads
 * it and written as it is into the others. A mask is {@code cells x tokens} values, megabytes for a
 * prompt's micro-batch deep in the context, so computing it once instead of once per segment (48 times
 * for Scout's cached layers) matters. Reused micro-batch after micro-batch; a buffer that must grow is
 * replaced by one half as large again, the old one freed. {@link #startBatch} forgets the masks of the
 * last micro-batch.
 */
final class SharedInputMemory implements AutoCloseable {

    private static final int GROUPS = 2;    // global, chunked

    /** One growable buffer, in an arena of its own so that growing frees the old memory. */
    private static final class Buffer {
        private Arena arena;
        private MemorySegment memory = MemorySegment.NULL;

        MemorySegment take(long bytes) {
            if (memory.byteSize() < bytes) {
                free();
                arena = NativeResources.openArena();
                memory = arena.allocate(bytes + bytes / 2, 64);
            }
            return memory.asSlice(0, bytes);
        }

        void free() {
            if (arena != null) {
                NativeResources.close(arena);
                arena = null;
                memory = MemorySegment.NULL;
            }
        }
    }

    private final Buffer staging = new Buffer();
    private final Buffer[] masks = {new Buffer(), new Buffer()};
    private final long[] madeBytes = new long[GROUPS];     // the size of each group's mask of this micro-batch; 0 before it is made

    /** A new micro-batch: its masks are yet to be computed. */
    void startBatch() {
        Arrays.fill(madeBytes, 0);
    }

    /** At least {@code bytes} of staging, its contents left to the caller. */
    MemorySegment staging(long bytes) {
        return staging.take(bytes);
    }

    /**
     * Group {@code group}'s mask of this micro-batch (0: the global layers', 1: the chunked layers'),
     * {@code bytes} long: {@code compute} writes it the first time it is asked for; later calls in the
     * same micro-batch return what it wrote.
     */
    MemorySegment mask(int group, long bytes, Consumer<MemorySegment> compute) {
        if (madeBytes[group] != 0 && madeBytes[group] != bytes) {
            throw new IllegalStateException("the graphs of one micro-batch disagree on the size of its mask: " + madeBytes[group]
                    + " and " + bytes + " bytes");
        }
        MemorySegment mask = masks[group].take(bytes);
        if (madeBytes[group] == 0) {
            compute.accept(mask);
            madeBytes[group] = bytes;
        }
        return mask;
    }

    @Override
    public void close() {
        staging.free();
        for (Buffer mask : masks) {
            mask.free();
        }
    }
}
