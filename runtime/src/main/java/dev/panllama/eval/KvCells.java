package dev.panllama.eval;

import java.util.Arrays;
import java.util.function.LongPredicate;

/**
 * The cells of one group of layers (global or chunked) and which position each holds, placed as
 * llama.cpp's cache places them with its tools' defaults ({@code llama_kv_cache::find_slot},
 * {@code swa_full} off): a batch's positions go, in order, to the next usable cells from the head on,
 * wrapping around; a cell is usable when empty or, for chunked layers, when its position lies before the
 * chunk of the batch's first position. The same cells hold the same positions on both sides, so
 * attention sums the same keys in the same order. Where a position goes is decided here, in
 * {@link #place}: paging (fixed-size pages and a block table) replaces this, not the model code.
 */
final class KvCells {

    /** Cache sizes and the cells attention looks at are multiples of this (llama.cpp's padding). */
    static final int CELL_BLOCK = 256;

    final int count;
    /** Tokens per chunk; 0 for global layers, whose cells are never reused while they hold a position. */
    final int chunk;
    private final long[] positionOfCell;   // -1: empty
    private int head;                      // where the search for the next batch's cells starts
    private int used;                      // cells holding a position
    private int usedEnd;                   // one past the last cell holding a position
    private int[] lastPlaced = new int[0];

    KvCells(int count, int chunk) {
        this.count = count;
        this.chunk = chunk;
        this.positionOfCell = new long[count];
        Arrays.fill(positionOfCell, -1);
    }

    /** {@code cells} rounded up to whole blocks. */
    static int padded(int cells) {
        return (cells + CELL_BLOCK - 1) / CELL_BLOCK * CELL_BLOCK;
    }

    /**
     * Stores positions {@code start .. start + n - 1} (the sequence's next ones) in the cells the search
     * finds and returns them, in position order. Older positions the batch overwrites, and any held
     * position older than those, are forgotten.
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

    /** The position cell {@code cell} holds, or -1 when it is empty. */
    long positionIn(int cell) {
        return positionOfCell[cell];
    }

    /** How many leading cells attention looks at: those up to the last one in use, padded. */
    int cellsInUse() {
        return Math.min(count, padded(Math.max(usedEnd, 1)));
    }

    /** The oldest position held, or -1 when none is. */
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
    void removeWhere(LongPredicate removed) {
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

    /** Forgets everything: the next batch starts at cell 0. */
    void clear() {
        Arrays.fill(positionOfCell, -1);
        head = 0;
        used = 0;
        usedEnd = 0;
        lastPlaced = new int[0];
    }
}
