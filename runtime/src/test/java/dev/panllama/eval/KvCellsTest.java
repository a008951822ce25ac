package dev.panllama.eval;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where the cache puts positions, as llama.cpp's slot search ({@code llama_kv_cache::find_slot},
 * {@code apply_ubatch}, {@code seq_rm}) puts them in its unified cache, for one sequence and for
 * several; the expected cells are worked out from its rules by hand.
 */
class KvCellsTest {

    private static final int CHUNK = 8192;

    /** Places positions {@code start .. start + n - 1} of sequence 0. */
    private static int[] place(KvCells cells, long start, int n) {
        return place(cells, 0, start, n);
    }

    /** Places positions {@code start .. start + n - 1} of {@code sequence}. */
    private static int[] place(KvCells cells, int sequence, long start, int n) {
        int[] sequences = new int[n];
        Arrays.fill(sequences, sequence);
        return cells.place(sequences, LongStream.range(start, start + n).toArray());
    }

    /** Feeds positions 0.. in batches of {@code batch} (the last one partial) up to {@code length}. */
    private static void fill(KvCells cells, int length, int batch) {
        for (int start = 0; start < length; start += batch) {
            place(cells, start, Math.min(batch, length - start));
        }
    }

    private static int[] range(int from, int count) {
        int[] cells = new int[count];
        for (int i = 0; i < count; i++) {
            cells[i] = from + i;
        }
        return cells;
    }

    @Test
    void globalCellsHoldTheirPositions() {
        KvCells cells = new KvCells(1024, 0, 1);
        fill(cells, 700, 64);
        assertArrayEquals(range(640, 60), cells.lastPlaced());
        assertArrayEquals(new int[] {700}, place(cells, 700, 1));
        assertEquals(768, cells.cellsInUse(), "cells up to the last in use, padded to 256");
    }

    /** A context of 10M cells (Scout's) keeps per-cell bookkeeping only for the cells its positions have reached. */
    @Test
    void bookkeepingGrowsWithThePositionsNotWithTheContext() {
        KvCells cells = new KvCells(10_485_760, 0, 2);
        assertEquals(0, cells.cellsReached(), "nothing before the first position");
        fill(cells, 1000, 100);
        assertEquals(KvCells.GROWTH_BLOCK, cells.cellsReached(), "one block of growth");
        for (int start = 1000; start < 100_000; start += 512) {
            place(cells, start, Math.min(512, 100_000 - start));
        }
        assertTrue(cells.cellsReached() >= 100_000 && cells.cellsReached() <= 1.5 * 100_000 + KvCells.GROWTH_BLOCK,
                "grown with the cells in use, by at most half: " + cells.cellsReached());
        assertEquals(-1, cells.positionIn(5_000_000), "a cell never reached is empty");
        assertFalse(cells.holds(5_000_000, 0));
        assertTrue(cells.areFree(new int[] {10_485_759}), "the last cell is free, past what the bookkeeping covers");
        cells.restore(1, new int[] {9_000_000}, new long[] {0}, 9_000_001);
        assertEquals(0, cells.positionIn(9_000_000), "a restored position far out is held");
        assertTrue(cells.cellsReached() > 9_000_000 && cells.cellsReached() <= 10_485_760);
        cells.clear();
        assertEquals(0, cells.cellsReached(), "clearing gives the bookkeeping back");
        assertArrayEquals(new int[] {0, 1, 2}, place(cells, 0, 3));
    }

    @Test
    void attentionLooksAtAtLeastOneBlockOfCells() {
        KvCells cells = new KvCells(4096, 0, 1);
        place(cells, 0, 10);
        assertEquals(256, cells.cellsInUse());
        assertEquals(100, new KvCells(100, 0, 1).cellsInUse(), "but never past the cache");
    }

    @Test
    void chunkedCellsAreReusedInOrderOncePastTheChunk() {
        // 8192 + 512 cells: position p lands in cell p % 8704 when fed from 0 in batches of 512.
        KvCells cells = new KvCells(8704, CHUNK, 1);
        fill(cells, 9728, 512);
        assertArrayEquals(range(512, 512), cells.lastPlaced(), "positions 9216.. reuse the cells of 512..");
        assertArrayEquals(range(1024, 48), place(cells, 9728, 48));
        assertEquals(9216, cells.positionIn(512));
        assertEquals(1072, cells.positionIn(1072), "positions before the chunk stay until their cell is needed");
        assertEquals(8704, cells.cellsInUse(), "every cell is in use: attention looks at all of them");
    }

    @Test
    void chunkedCellsOfAPaddedCacheWrapLater() {
        // micro-batches of 64: llama.cpp pads chunk + 64 = 8256 cells to 8448, so position 8448 is the first
        // to reuse a cell (0), not 8256.
        KvCells cells = new KvCells(8448, CHUNK, 1);
        fill(cells, 8448, 64);
        assertEquals(8447, cells.positionIn(8447));
        assertArrayEquals(range(0, 64), place(cells, 8448, 64));
        assertArrayEquals(new int[] {64}, place(cells, 8512, 1));
    }

    @Test
    void cellsStillInTheChunkAreNeverReused() {
        KvCells cells = new KvCells(512, 256, 1);
        fill(cells, 512, 128);
        assertArrayEquals(range(0, 400), place(cells, 512, 400), "the chunk of 512 starts there: all held positions may go");
        // Next position 912, its chunk from 768: cells 400..511 and 0..255 (positions 400..767) may be
        // reused, 256..399 (768..911) not, so 369 positions do not fit and 368 do.
        assertThrows(IllegalStateException.class, () -> place(cells, 912, 369));
        int[] expected = new int[368];
        System.arraycopy(range(400, 112), 0, expected, 0, 112);
        System.arraycopy(range(0, 256), 0, expected, 112, 256);
        assertArrayEquals(expected, place(cells, 912, 368));
        assertEquals(768, cells.positionIn(256));
        assertThrows(IllegalStateException.class, () -> place(new KvCells(256, 256, 1), 0, 257));
    }

    @Test
    void forgettingMovesTheSearchBackToTheFirstFreedCell() {
        // After 9000 positions in 8704 cells, cells 0..295 hold 8704..8999. Keeping 8600 frees cells
        // 8600..8703 and 0..295; llama.cpp's search then starts at cell 0, not at 8600 % 8704.
        KvCells cells = new KvCells(8704, CHUNK, 1);
        fill(cells, 9000, 512);
        cells.removeWhere(0, p -> p >= 8600);
        assertEquals(-1, cells.positionIn(0));
        assertEquals(8599, cells.positionIn(8599));
        assertArrayEquals(range(0, 8), place(cells, 8600, 8));
        assertEquals(296, cells.minPosition(0), "positions 296.. are still held, the chunk of 8600 among them");
    }

    @Test
    void clearingStartsOver() {
        KvCells cells = new KvCells(8704, CHUNK, 1);
        fill(cells, 9000, 512);
        cells.clear();
        assertArrayEquals(range(0, 5), place(cells, 0, 5));
        assertEquals(256, cells.cellsInUse());
    }

    @Test
    void sequencesOfOneBatchTakeCellsInBatchOrderAndARemovedOnesCellsAreReused() {
        KvCells cells = new KvCells(512, 0, 2);
        assertArrayEquals(range(0, 5), cells.place(new int[] {0, 0, 0, 1, 1}, new long[] {0, 1, 2, 0, 1}));
        assertArrayEquals(new int[] {5}, place(cells, 1, 2, 1));
        assertTrue(cells.holds(4, 1));
        assertEquals(1, cells.positionIn(4));
        cells.removeWhere(0, p -> true);
        assertFalse(cells.holds(0, 0));
        assertEquals(-1, cells.positionIn(0));
        assertEquals(0, cells.minPosition(1), "the other sequence keeps its positions");
        // The search starts again at the first freed cell, 0.
        assertArrayEquals(range(0, 2), place(cells, 1, 3, 2));
        assertEquals(-1, cells.minPosition(0));
    }

    @Test
    void aChunkedCellIsReusedOncePastItsOwnSequencesChunk() {
        KvCells cells = new KvCells(8, 4, 2);
        place(cells, 0, 0, 6);   // cells 0..5; sequence 0's chunk is now 4..7
        place(cells, 1, 0, 2);   // cells 6, 7
        // Sequence 1, still in its first chunk, takes cell 0: its position 0 of sequence 0 is before
        // sequence 0's chunk. Sequence 0 then forgets that position (and any older one).
        assertArrayEquals(new int[] {0}, place(cells, 1, 2, 1));
        assertEquals(1, cells.minPosition(0));
        assertArrayEquals(range(1, 3), place(cells, 1, 3, 3));
        assertEquals(4, cells.minPosition(0), "positions 1..3 of sequence 0 were overwritten");
        // Sequence 1's next position, 6, is in the chunk 4..7: its own positions 0..3 (cells 6, 7, 0, 1)
        // may go, sequence 0's 4 and 5 (cells 4, 5) may not.
        assertArrayEquals(new int[] {6, 7, 0}, place(cells, 1, 6, 3));
        assertEquals(4, cells.positionIn(4));
        assertTrue(cells.holds(5, 0));
        // At 9 (chunk 8..11) sequence 1's 3..7 (cells 1, 2, 3, 6, 7) may go, its 8 and sequence 0's 4, 5 not.
        assertThrows(IllegalStateException.class, () -> place(cells, 1, 9, 6));
        assertArrayEquals(new int[] {1, 2, 3, 6, 7}, place(cells, 1, 9, 5));
    }

    @Test
    void sharedCellsAreKeptOnceAndFreedWithTheirLastSequence() {
        KvCells cells = new KvCells(512, 0, 3);
        place(cells, 0, 0, 10);                       // a system prompt of 10 positions, cells 0..9
        assertEquals(6, cells.share(0, 1, 6), "positions 0..5 of sequence 0 are sequence 1's too");
        assertEquals(10, cells.usedCells(), "no cell is taken by sharing");
        assertTrue(cells.holds(5, 1));
        assertFalse(cells.holds(6, 1));
        assertArrayEquals(range(10, 3), place(cells, 1, 6, 3));
        cells.removeWhere(0, p -> true);
        assertEquals(9, cells.usedCells(), "the shared cells stay for sequence 1, sequence 0's own go");
        assertEquals(0, cells.minPosition(1));
        cells.removeWhere(1, p -> true);
        assertEquals(0, cells.usedCells());
    }

    @Test
    void aChunkedCellTwoSequencesShareIsNotReused() {
        KvCells cells = new KvCells(4, 2, 2);
        place(cells, 0, 0, 4);                        // cells 0..3
        cells.share(0, 1, 4);
        // Both sequences are at 4, past the chunks of positions 0..3, but shared cells are never reused.
        assertThrows(IllegalStateException.class, () -> place(cells, 0, 4, 1));
        cells.removeWhere(1, p -> true);
        assertArrayEquals(new int[] {0}, place(cells, 0, 4, 1));
    }
}
