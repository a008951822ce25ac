package dev.panllama.eval;

import java.util.Arrays;

/**
 * The cells of one group of layers (global or chunked) and which position each holds. Where a position
 * lives is decided here, in {@link #cellOf(long)}: paging (fixed-size pages and a block table) replaces
 * this mapping and the per-cell position table, not the model code.
 */
final class KvCells {

    /** Attention looks at cells in blocks of this many, so graph shapes change rarely. */
    static final int CELL_BLOCK = 256;

    final int count;
    /** Positions wrap around (chunked layers keep a window, not the whole context). */
    final boolean ring;
    private final long[] positionOfCell;   // -1: empty

    KvCells(int count, boolean ring) {
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

    /** The position cell {@code cell} holds, or -1 when it is empty. */
    long positionIn(int cell) {
        return positionOfCell[cell];
    }

    /** How many leading cells attention must look at once positions up to {@code last} are stored. */
    int cellsInUse(long last) {
        long used = ring && last >= count ? count : last + 1;
        return (int) Math.min(count, (used + CELL_BLOCK - 1) / CELL_BLOCK * CELL_BLOCK);
    }

    /** Records that positions {@code start .. start + n - 1} are stored. */
    void store(long start, int n) {
        for (long p = start; p < start + n; p++) {
            positionOfCell[cellOf(p)] = p;
        }
    }

    /** Empties the cells holding position {@code position} or later. */
    void forgetFrom(long position) {
        for (int c = 0; c < count; c++) {
            if (positionOfCell[c] >= position) {
                positionOfCell[c] = -1;
            }
        }
    }
}
