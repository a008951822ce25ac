package dev.panllama.eval;

import java.util.Arrays;
import java.util.Comparator;
import java.util.function.LongPredicate;
import java.util.stream.IntStream;

/**
 * The cells of one group of layers (global or chunked), shared by every sequence, and which sequence's
 * position each holds, placed as llama.cpp's unified cache places them with its tools' defaults
 * ({@code llama_kv_cache::find_slot} and {@code apply_ubatch} with one stream, {@code swa_full} off): a
 * micro-batch's tokens go, in batch order, to the next usable cells from the head on, wrapping around; a
 * cell is usable when empty or, for chunked layers, when its position lies before the chunk of its own
 * sequence's next position. A cell holds a position of one sequence, or of several that share it
 * ({@link #share}, llama.cpp's {@code seq_cp}: a common prefix, such as a system prompt, kept once); only a
 * cell of one sequence is reused for chunked layers, as in llama.cpp. The same cells hold the same
 * positions on both sides,
 * so attention sums the same keys in the same order. Where a position goes is decided here, in
 * {@link #place}: paging (fixed-size pages and a block table) replaces this, not the model code.
 */
final class KvCells {

    /** Cache sizes and the cells attention looks at are multiples of this (llama.cpp's padding). */
    static final int CELL_BLOCK = 256;

    /**
     * The bookkeeping arrays grow by at least this many cells, and by half their size, so that growing
     * stays rare while a context of millions of cells costs only the cells its tokens have reached.
     */
    static final int GROWTH_BLOCK = 16 * CELL_BLOCK;

    final int count;
    /** Tokens per chunk; 0 for global layers, whose cells are never reused while they hold a position. */
    final int chunk;
    // Both sized to the cells reached so far (grown by ensureReached), not to count: past their end every cell is empty.
    private long[] positionOfCell = new long[0];   // -1: empty
    private long[] sequencesOfCell = new long[0];  // a bit per sequence holding the cell's position; 0: empty
    private final int sequences;           // sequence ids are 0 .. sequences - 1
    private int head;                      // where the search for the next batch's cells starts
    private int used;                      // cells holding a position
    private int usedEnd;                   // one past the last cell holding a position
    private int writtenEnd;                // one past the last cell written since takeWrittenEnd() last answered
    private int[] lastPlaced = new int[0];
    /**
     * Per sequence, one past the newest position it holds (0 when none), kept up to date as batches are
     * placed and worked out again from the cells only after a removal took a newest position, a share or
     * a restore: each decoded token asks for it, and going over every cell in use for it cost more than
     * anything else the host does for a step deep in a long context.
     */
    private final long[] nextOfSequence;
    private boolean nextOfSequenceStale;

    /** The most sequences a cache can hold: a cell's sequences are the bits of a long. */
    static final int MAX_SEQUENCES = Long.SIZE;

    KvCells(int count, int chunk, int sequences) {
        if (sequences < 1 || sequences > MAX_SEQUENCES) {
            throw new IllegalArgumentException("a cache holds 1 to " + MAX_SEQUENCES + " sequences, not " + sequences);
        }
        if (count < 1) {
            throw new IllegalArgumentException("a cache needs at least one cell, not " + count);
        }
        this.count = count;
        this.chunk = chunk;
        this.sequences = sequences;
        this.nextOfSequence = new long[sequences];
    }

    /** Grows the bookkeeping to cover cells {@code 0 .. cells - 1}, the new ones empty. */
    private void ensureReached(int cells) {
        int reached = positionOfCell.length;
        if (cells <= reached) {
            return;
        }
        long wanted = Math.max(cells, Math.max(reached + (long) GROWTH_BLOCK, reached + reached / 2L));
        int grown = (int) Math.min(count, (wanted + CELL_BLOCK - 1) / CELL_BLOCK * CELL_BLOCK);
        positionOfCell = Arrays.copyOf(positionOfCell, grown);
        sequencesOfCell = Arrays.copyOf(sequencesOfCell, grown);
        Arrays.fill(positionOfCell, reached, grown, -1);
    }

    /** How many cells the bookkeeping covers now; every cell past them is empty. */
    int cellsReached() {
        return positionOfCell.length;
    }

    /** {@code cells} rounded up to whole blocks. */
    static int padded(int cells) {
        return (cells + CELL_BLOCK - 1) / CELL_BLOCK * CELL_BLOCK;
    }

    /**
     * Stores each token's position ({@code positions[i]} of sequence {@code sequenceOfToken[i]}, each
     * sequence's next ones) in the cells the search finds and returns them, in batch order. For every
     * sequence whose old positions the batch overwrites, those and any it holds older than them are
     * forgotten.
     */
    int[] place(int[] sequenceOfToken, long[] positions) {
        int n = positions.length;
        if (n > count) {
            throw new IllegalStateException("a batch of " + n + " tokens does not fit in " + count + " cells");
        }
        // Which cells are usable depends on the cache before the batch, not on the cells it takes.
        long[] nextBefore = nextPositions();   // read while searching, updated only once the cells are found
        int[] cells = new int[n];
        int found = 0;
        int at = head > used + 2 * n ? 0 : head;   // many free cells before the head: fill from the start
        for (int tested = 0; found < n; tested++) {
            if (tested >= count) {
                throw new IllegalStateException("no free cells for " + n + " positions in " + count + " cells");
            }
            if (at == count) {
                at = 0;
            }
            if (isUsable(at, nextBefore)) {
                cells[found++] = at;
            }
            at++;
        }
        int furthest = 0;
        for (int c : cells) {
            furthest = Math.max(furthest, c);
        }
        ensureReached(furthest + 1);
        long[] newestOverwritten = new long[sequences];
        Arrays.fill(newestOverwritten, -1);
        for (int i = 0; i < n; i++) {
            int c = cells[i];
            if (positionOfCell[c] >= 0) {
                int holder = Long.numberOfTrailingZeros(sequencesOfCell[c]);   // a reused cell has one
                newestOverwritten[holder] = Math.max(newestOverwritten[holder], positionOfCell[c]);
                used--;
            }
            positionOfCell[c] = positions[i];
            sequencesOfCell[c] = 1L << sequenceOfToken[i];
            used++;
            usedEnd = Math.max(usedEnd, c + 1);
            nextOfSequence[sequenceOfToken[i]] = Math.max(nextOfSequence[sequenceOfToken[i]], positions[i] + 1);
        }
        writtenEnd = Math.max(writtenEnd, usedEnd);
        for (int s = 0; s < sequences; s++) {
            if (newestOverwritten[s] >= 0) {
                // Keep each sequence's positions contiguous: what is older than an overwritten one goes too.
                long newest = newestOverwritten[s];
                removeWhere(s, p -> p <= newest);
            }
        }
        head = cells[n - 1] + 1;
        lastPlaced = cells;
        return cells;
    }

    /** Per sequence, one past the newest position it holds (0 when it holds none); the array is this object's. */
    private long[] nextPositions() {
        if (nextOfSequenceStale) {
            Arrays.fill(nextOfSequence, 0);
            for (int c = 0; c < usedEnd; c++) {
                for (long bits = sequencesOfCell[c]; bits != 0; bits &= bits - 1) {
                    int s = Long.numberOfTrailingZeros(bits);
                    nextOfSequence[s] = Math.max(nextOfSequence[s], positionOfCell[c] + 1);
                }
            }
            nextOfSequenceStale = false;
        }
        return nextOfSequence;
    }

    /** Whether {@code cell} may take a position, its holder's next position being {@code nextOf[holder]}. */
    private boolean isUsable(int cell, long[] nextOf) {
        long held = positionIn(cell);
        if (held < 0) {
            return true;
        }
        if (chunk == 0 || Long.bitCount(sequencesOfCell[cell]) != 1) {
            return false;
        }
        long next = nextOf[Long.numberOfTrailingZeros(sequencesOfCell[cell])];
        return held < next / chunk * chunk;
    }

    /** The cells the last {@link #place} filled, in batch order. */
    int[] lastPlaced() {
        return lastPlaced;
    }

    /** The position cell {@code cell} holds, or -1 when it is empty. */
    long positionIn(int cell) {
        return cell < positionOfCell.length ? positionOfCell[cell] : -1;
    }

    /**
     * Writes into {@code row[0 .. cellsInUse)} what a query of {@code sequence} at position {@code query}
     * may see: {@code see} where the cell holds a position of that sequence from {@code earliest} to
     * {@code query}, {@code hidden} elsewhere. A plain loop over this class's arrays, so that a batch's
     * mask (a row per token, hundreds of thousands of cells for a long prompt) costs little even
     * before the JIT compiles it.
     */
    void maskRow(short[] row, int cellsInUse, int sequence, long earliest, long query, short see, short hidden) {
        long bit = 1L << sequence;
        for (int c = 0; c < cellsInUse; c++) {
            long key = positionOfCell[c];
            row[c] = (sequencesOfCell[c] & bit) != 0 && key >= earliest && key <= query ? see : hidden;
        }
    }

    /** Whether cell {@code cell} holds a position of {@code sequence}. */
    boolean holds(int cell, int sequence) {
        return cell < sequencesOfCell.length && (sequencesOfCell[cell] & (1L << sequence)) != 0;
    }

    /** How many cells hold a position, however many sequences share each. */
    int usedCells() {
        return used;
    }

    /** One past the last cell that holds a position. */
    int usedEnd() {
        return usedEnd;
    }

    /**
     * One past the last cell written since the last call (at least {@link #usedEnd()}): the cells past
     * the ones in use whose memory may be taken, so that giving memory back need not go over cells no
     * one has written since it was last given back.
     */
    int takeWrittenEnd() {
        int end = writtenEnd;
        writtenEnd = usedEnd;
        return end;
    }

    /** How many leading cells attention looks at: those up to the last one in use, padded. */
    int cellsInUse() {
        return Math.min(count, padded(Math.max(usedEnd, 1)));
    }

    /** The oldest position {@code sequence} holds, or -1 when it holds none. */
    long minPosition(int sequence) {
        long min = Long.MAX_VALUE;
        for (int c = 0; c < usedEnd; c++) {
            if (holds(c, sequence)) {
                min = Math.min(min, positionOfCell[c]);
            }
        }
        return min == Long.MAX_VALUE ? -1 : min;
    }

    /**
     * Forgets the positions of {@code sequence} that {@code removed} accepts; a cell no other sequence
     * shares is freed, and the search then starts at the first freed cell, if earlier.
     */
    void removeWhere(int sequence, LongPredicate removed) {
        int firstFreed = count;
        for (int c = 0; c < usedEnd; c++) {
            if (holds(c, sequence) && removed.test(positionOfCell[c])) {
                nextOfSequenceStale |= positionOfCell[c] + 1 >= nextOfSequence[sequence];
                sequencesOfCell[c] &= ~(1L << sequence);
                if (sequencesOfCell[c] == 0) {
                    positionOfCell[c] = -1;
                    used--;
                    firstFreed = Math.min(firstFreed, c);
                }
            }
        }
        while (usedEnd > 0 && positionOfCell[usedEnd - 1] < 0) {
            usedEnd--;
        }
        if (firstFreed < head) {
            head = firstFreed;
        }
    }

    /**
     * Lets {@code to} share the cells of {@code from}'s positions before {@code end}, without copying
     * keys or values (llama.cpp's {@code seq_cp} in a unified cache); returns how many cells.
     */
    int share(int from, int to, long end) {
        int shared = 0;
        for (int c = 0; c < usedEnd; c++) {
            if (holds(c, from) && positionOfCell[c] < end) {
                sequencesOfCell[c] |= 1L << to;
                shared++;
            }
        }
        nextOfSequenceStale = true;
        return shared;
    }

    /** Where the search for the next batch's cells starts. */
    int head() {
        return head;
    }

    /** The cells holding positions of {@code sequence}, in the order of those positions. */
    int[] cellsOf(int sequence) {
        return IntStream.range(0, usedEnd).boxed()
                .filter(c -> holds(c, sequence))
                .sorted(Comparator.comparingLong(c -> positionOfCell[c]))
                .mapToInt(Integer::intValue).toArray();
    }

    /** Whether every one of {@code cells} exists here and holds nothing. */
    boolean areFree(int[] cells) {
        for (int c : cells) {
            if (c < 0 || c >= count || positionIn(c) >= 0) {
                return false;
            }
        }
        return true;
    }

    /** The first {@code n} empty cells from cell 0 on, or fewer when there are not that many. */
    int[] firstFree(int n) {
        int[] free = new int[n];
        int found = 0;
        for (int c = 0; c < count && found < n; c++) {
            if (positionIn(c) < 0) {
                free[found++] = c;
            }
        }
        return Arrays.copyOf(free, found);
    }

    /**
     * Puts {@code positions[i]} of {@code sequence} back into empty cell {@code cells[i]} (a saved
     * sequence restored), the search for the next batch's cells then starting at {@code head}.
     */
    void restore(int sequence, int[] cells, long[] positions, int head) {
        if (!areFree(cells)) {
            throw new IllegalStateException("the cells to restore into are not all free");
        }
        int furthest = 0;
        for (int c : cells) {
            furthest = Math.max(furthest, c);
        }
        ensureReached(furthest + 1);
        for (int i = 0; i < cells.length; i++) {
            positionOfCell[cells[i]] = positions[i];
            sequencesOfCell[cells[i]] = 1L << sequence;
            used++;
            usedEnd = Math.max(usedEnd, cells[i] + 1);
        }
        writtenEnd = Math.max(writtenEnd, usedEnd);
        this.head = head;
        nextOfSequenceStale = true;
    }

    /** Forgets every sequence: the next batch starts at cell 0, and the bookkeeping shrinks back to nothing. */
    void clear() {
        positionOfCell = new long[0];
        sequencesOfCell = new long[0];
        head = 0;
        used = 0;
        usedEnd = 0;
        lastPlaced = new int[0];
        Arrays.fill(nextOfSequence, 0);
        nextOfSequenceStale = false;
    }
}
