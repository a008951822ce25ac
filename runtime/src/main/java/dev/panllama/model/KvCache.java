package dev.panllama.model;

import dev.panllama.ggml.Backend;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;

import java.util.Arrays;

/**
 * The keys and values of every layer, on the backend (F16 by default, or a quantized type such as
 * Q8_0 that flash attention reads directly), for one sequence. Global layers keep one
 * cell per position of the context; chunked layers keep a ring of {@code chunk + maxBatch} cells,
 * enough for any query of a batch to see its whole chunk (a query never looks before its chunk's
 * start, and a batch overwrites only cells older than that).
 *
 * <p>Where a position lives is decided in one place, {@link Cells#cellOf(long)}: paging (fixed-size
 * pages and a block table) replaces that mapping and the per-cell position table, not the model code.
 */
public final class KvCache implements AutoCloseable {

    /** Attention looks at cells in blocks of this many, so graph shapes change rarely. */
    static final int CELL_BLOCK = 256;

    /** The cells of one group of layers (global or chunked) and which position each holds. */
    static final class Cells {
        final int count;
        final boolean ring;
        final long[] positionOfCell;   // -1: empty
        long nextPosition;

        Cells(int count, boolean ring) {
            this.count = count;
            this.ring = ring;
            this.positionOfCell = new long[count];
            Arrays.fill(positionOfCell, -1);
        }

        int cellOf(long position) {
            if (!ring && position >= count) {
                throw new IllegalStateException("position " + position + " is past the context of " + count + " tokens");
            }
            return (int) (position % count);
        }

        /** How many leading cells attention must look at once positions up to {@code last} are stored. */
        int cellsInUse(long last) {
            long used = ring && last >= count ? count : last + 1;
            return (int) Math.min(count, (used + CELL_BLOCK - 1) / CELL_BLOCK * CELL_BLOCK);
        }

        void clear() {
            Arrays.fill(positionOfCell, -1);
            nextPosition = 0;
        }
    }

    private final ModelConfig config;
    private final GgmlContext context;
    private final Tensor[] keys;     // F16 [n_head_kv * head, cells] per layer
    private final Tensor[] values;   // F16 [n_head_kv * head, cells] per layer
    private final Cells global;
    private final Cells chunked;
    private final int contextLength;

    public KvCache(ModelConfig config, Backend backend, int contextLength, int maxBatch, GgmlType type) {
        this.config = config;
        this.contextLength = contextLength;
        this.global = new Cells(contextLength, false);
        int chunkCells = config.chunkSize() == 0 ? 0 : Math.min(contextLength, config.chunkSize() + maxBatch);
        this.chunked = new Cells(Math.max(chunkCells, 1), chunkCells < contextLength);
        this.context = GgmlContext.create(2 * config.layers());
        try {
            keys = new Tensor[config.layers()];
            values = new Tensor[config.layers()];
            for (int i = 0; i < config.layers(); i++) {
                int cells = cellsOf(i).count;
                keys[i] = context.newTensor(type, config.kvWidth(), cells).name("cache_k_l" + i);
                values[i] = context.newTensor(type, config.kvWidth(), cells).name("cache_v_l" + i);
            }
            // Zeroed: cells no position has reached yet are masked, but flash attention still reads
            // them, and leftover bytes of freed memory can be NaN, which masking does not cancel.
            context.allocateZeroed(backend);
        } catch (RuntimeException e) {
            context.close();
            throw e;
        }
    }

    Cells cellsOf(int layer) {
        return config.isChunked(layer) ? chunked : global;
    }

    Cells globalCells() {
        return global;
    }

    Cells chunkedCells() {
        return chunked;
    }

    Tensor keys(int layer) {
        return keys[layer];
    }

    Tensor values(int layer) {
        return values[layer];
    }

    public int contextLength() {
        return contextLength;
    }

    /** The next position to fill: how many tokens the cache holds. */
    public long length() {
        return global.nextPosition;
    }

    /** Records that positions {@code start .. start + count - 1} are being written by the next batch. */
    void append(long start, int count) {
        if (start != global.nextPosition) {
            throw new IllegalStateException("the cache holds " + global.nextPosition + " tokens; a batch cannot start at " + start);
        }
        if (start + count > contextLength) {
            throw new IllegalStateException("the context is full: " + contextLength + " tokens");
        }
        for (Cells cells : new Cells[] {global, chunked}) {
            for (long p = start; p < start + count; p++) {
                cells.positionOfCell[cells.cellOf(p)] = p;
            }
            cells.nextPosition = start + count;
        }
    }

    /**
     * Forgets positions from {@code position} on, so the sequence continues from there (a chat turn
     * that shares its start with the last one). Returns false when a chunked layer's ring has already
     * overwritten what the kept positions need; the caller must then start over.
     */
    boolean truncate(long position) {
        if (position < 0 || position > global.nextPosition) {
            throw new IllegalArgumentException("cannot keep " + position + " of " + global.nextPosition + " positions");
        }
        if (chunked.ring && config.chunkSize() > 0) {
            long oldestKept = chunked.nextPosition - chunked.count;
            if (oldestKept > position / config.chunkSize() * config.chunkSize()) {
                return false;
            }
        }
        for (Cells cells : new Cells[] {global, chunked}) {
            for (int c = 0; c < cells.count; c++) {
                if (cells.positionOfCell[c] >= position) {
                    cells.positionOfCell[c] = -1;
                }
            }
            cells.nextPosition = position;
        }
        return true;
    }

    /** Forgets everything: the next batch starts at position 0. */
    public void clear() {
        global.clear();
        chunked.clear();
    }

    @Override
    public void close() {
        context.close();
    }
}
