package dev.panllama.model;

import dev.panllama.ggml.Backend;
import dev.panllama.ggml.GgmlContext;
import dev.panllama.ggml.GgmlType;
import dev.panllama.ggml.Tensor;

import java.util.Arrays;

/**
 * The keys and values of every layer, on the backend (F16 by default, or a quantized type such as
 * Q8_0 that flash attention reads directly), for one sequence, laid out cell for cell as llama.cpp's
 * cache lays them out with its tools' defaults ({@code llama_kv_cache}, {@code swa_full} off): the
 * same cells hold the same positions, and attention looks at the same number of cells, so that both
 * compute the same sums in the same order. Global layers keep the context's cells, padded to
 * {@value #CELL_BLOCK}; chunked layers keep {@code chunk + maxBatch} cells, padded likewise, and
 * reuse a cell once the position it holds is outside every chunk a query can still look at.
 *
 * <p>Where a position goes is decided in one place, {@link Cells#place}: paging (fixed-size pages and
 * a block table) replaces that and the per-cell position table, not the model code.
 */
public final class KvCache implements AutoCloseable {

    /** Cache sizes and the cells attention looks at are multiples of this (llama.cpp's padding). */
    static final int CELL_BLOCK = 256;

    /**
     * The cells of one group of layers (global or chunked) and which position each holds, with
     * llama.cpp's slot search: a batch's positions go, in order, to the next usable cells from the
     * head on, wrapping around; a cell is usable when empty or, for chunked layers, when its position
     * lies before the chunk of the next position to come.
     */
    static final class Cells {
        final int count;
        final int chunk;               // 0: global (no cell is reused while it holds a position)
        final long[] positionOfCell;   // -1: empty
        private int head;              // where the search for the next batch's cells starts
        private int used;              // cells holding a position
        private int usedEnd;           // one past the last cell holding a position
        private int[] lastPlaced = new int[0];

        Cells(int count, int chunk) {
            this.count = count;
            this.chunk = chunk;
            this.positionOfCell = new long[count];
            Arrays.fill(positionOfCell, -1);
        }

        /**
         * Stores positions {@code start .. start + n - 1} (the sequence's next ones) in the cells the
         * search finds and returns them, in position order. Older positions the batch overwrites, and
         * any held position older than those, are forgotten.
         */
        int[] place(long start, int n) {
            if (n > count) {
                throw new IllegalStateException("a batch of " + n + " tokens does not fit in " + count + " cells");
            }
            int[] cells = new int[n];
            int found = 0;
            int at = head > used + 2 * n ? 0 : head;   // many free cells before the head: fill from the start
            for (int tested = 0; found < n; tested++) {
                if (tested >= count) {
                    throw new IllegalStateException("no free cells for " + n + " positions from " + start);
                }
                if (at == count) {
                    at = 0;
                }
                if (isUsable(at, start)) {
                    cells[found++] = at;
                }
                at++;
            }
            long newestOverwritten = -1;
            for (int i = 0; i < n; i++) {
                int c = cells[i];
                if (positionOfCell[c] >= 0) {
                    newestOverwritten = Math.max(newestOverwritten, positionOfCell[c]);
                    used--;
                }
                positionOfCell[c] = start + i;
                used++;
                usedEnd = Math.max(usedEnd, c + 1);
            }
            if (newestOverwritten >= 0) {
                // Keep the positions held contiguous: what is older than an overwritten one goes too.
                long newest = newestOverwritten;
                removeWhere(p -> p <= newest);
            }
            head = cells[n - 1] + 1;
            lastPlaced = cells;
            return cells;
        }

        /** Whether {@code cell} may take a position of a batch that starts at {@code next}. */
        private boolean isUsable(int cell, long next) {
            long held = positionOfCell[cell];
            return held < 0 || chunk > 0 && held < next / chunk * chunk;
        }

        /** The cells the last {@link #place} filled, in position order. */
        int[] lastPlaced() {
            return lastPlaced;
        }

        /** How many leading cells attention looks at: those up to the last one in use, padded. */
        int cellsInUse() {
            int padded = (Math.max(usedEnd, 1) + CELL_BLOCK - 1) / CELL_BLOCK * CELL_BLOCK;
            return Math.min(count, padded);
        }

        long minPosition() {
            long min = Long.MAX_VALUE;
            for (int c = 0; c < usedEnd; c++) {
                if (positionOfCell[c] >= 0) {
                    min = Math.min(min, positionOfCell[c]);
                }
            }
            return min == Long.MAX_VALUE ? -1 : min;
        }

        /** Forgets the positions {@code removed} accepts; the search then starts at the first freed cell, if earlier. */
        void removeWhere(java.util.function.LongPredicate removed) {
            int firstFreed = count;
            for (int c = 0; c < usedEnd; c++) {
                if (positionOfCell[c] >= 0 && removed.test(positionOfCell[c])) {
                    positionOfCell[c] = -1;
                    used--;
                    firstFreed = Math.min(firstFreed, c);
                }
            }
            while (usedEnd > 0 && positionOfCell[usedEnd - 1] < 0) {
                usedEnd--;
            }
            if (firstFreed < head) {
                head = firstFreed;
            }
        }

        void clear() {
            Arrays.fill(positionOfCell, -1);
            head = 0;
            used = 0;
            usedEnd = 0;
            lastPlaced = new int[0];
        }
    }

    private final ModelConfig config;
    private final GgmlContext context;
    private final Tensor[] keys;     // F16 [n_head_kv * head, cells] per layer
    private final Tensor[] values;   // F16 [n_head_kv * head, cells] per layer
    private final Cells global;
    private final Cells chunked;
    private final int contextLength;
    private long length;

    public KvCache(ModelConfig config, Backend backend, int contextLength, int maxBatch, GgmlType type) {
        this.config = config;
        this.contextLength = contextLength;
        int contextCells = padded(contextLength);
        this.global = new Cells(contextCells, 0);
        int chunkCells = config.chunkSize() == 0 ? 1 : padded(Math.min(contextCells, config.chunkSize() + maxBatch));
        this.chunked = new Cells(chunkCells, config.chunkSize());
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

    private static int padded(int cells) {
        return (cells + CELL_BLOCK - 1) / CELL_BLOCK * CELL_BLOCK;
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
        return length;
    }

    /**
     * Places positions {@code start .. start + count - 1}, which the next batch writes, in cells of
     * each group; {@link Cells#lastPlaced()} says which.
     */
    void append(long start, int count) {
        if (start != length) {
            throw new IllegalStateException("the cache holds " + length + " tokens; a batch cannot start at " + start);
        }
        if (start + count > contextLength) {
            throw new IllegalStateException("the context is full: " + contextLength + " tokens");
        }
        global.place(start, count);
        if (config.hasChunkedLayers()) {
            chunked.place(start, count);
        }
        length = start + count;
    }

    /**
     * Forgets positions from {@code position} on, so the sequence continues from there (a chat turn
     * that shares its start with the last one). Returns false when a chunked layer has already
     * reused the cells of positions the kept ones' chunk needs; the caller must then start over.
     */
    boolean truncate(long position) {
        if (position < 0 || position > length) {
            throw new IllegalArgumentException("cannot keep " + position + " of " + length + " positions");
        }
        if (config.hasChunkedLayers() && config.chunkSize() > 0) {
            long chunkStart = position / config.chunkSize() * config.chunkSize();
            long oldestHeld = chunked.minPosition();
            if (position > chunkStart && oldestHeld > chunkStart) {
                return false;
            }
        }
        global.removeWhere(p -> p >= position);
        chunked.removeWhere(p -> p >= position);
        length = position;
        return true;
    }

    /** Forgets everything: the next batch starts at position 0. */
    public void clear() {
        global.clear();
        chunked.clear();
        length = 0;
    }

    @Override
    public void close() {
        context.close();
    }
}
