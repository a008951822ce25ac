package dev.panllama.eval;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Where the cache puts positions, as llama.cpp's slot search ({@code llama_kv_cache::find_slot},
 * {@code apply_ubatch}, {@code seq_rm}) puts them for one sequence; the expected cells are worked out
 * from its rules by hand.
 */
class KvCellsTest {

    private static final int CHUNK = 8192;

    /** Feeds positions 0.. in batches of {@code batch} (the last one partial) up to {@code length}. */
    private static void fill(KvCells cells, int length, int batch) {
        for (int start = 0; start < length; start += batch) {
            cells.place(start, Math.min(batch, length - start));
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
        KvCells cells = new KvCells(1024, 0);
        fill(cells, 700, 64);
        assertArrayEquals(range(640, 60), cells.lastPlaced());
        assertArrayEquals(new int[] {700}, cells.place(700, 1));
        assertEquals(768, cells.cellsInUse(), "cells up to the last in use, padded to 256");
    }

    @Test
    void attentionLooksAtAtLeastOneBlockOfCells() {
        KvCells cells = new KvCells(4096, 0);
        cells.place(0, 10);
        assertEquals(256, cells.cellsInUse());
        assertEquals(100, new KvCells(100, 0).cellsInUse(), "but never past the cache");
    }

    @Test
    void chunkedCellsAreReusedInOrderOncePastTheChunk() {
        // 8192 + 512 cells: position p lands in cell p % 8704 when fed from 0 in batches of 512.
        KvCells cells = new KvCells(8704, CHUNK);
        fill(cells, 9728, 512);
        assertArrayEquals(range(512, 512), cells.lastPlaced(), "positions 9216.. reuse the cells of 512..");
        assertArrayEquals(range(1024, 48), cells.place(9728, 48));
        assertEquals(9216, cells.positionIn(512));
        assertEquals(1072, cells.positionIn(1072), "positions before the chunk stay until their cell is needed");
        assertEquals(8704, cells.cellsInUse(), "every cell is in use: attention looks at all of them");
    }

    @Test
    void chunkedCellsOfAPaddedCacheWrapLater() {
        // micro-batches of 64: llama.cpp pads chunk + 64 = 8256 cells to 8448, so position 8448 is the first
        // to reuse a cell (0), not 8256.
        KvCells cells = new KvCells(8448, CHUNK);
        fill(cells, 8448, 64);
        assertEquals(8447, cells.positionIn(8447));
        assertArrayEquals(range(0, 64), cells.place(8448, 64));
        assertArrayEquals(new int[] {64}, cells.place(8512, 1));
    }

    @Test
    void cellsStillInTheChunkAreNeverReused() {
        KvCells cells = new KvCells(512, 256);
        fill(cells, 512, 128);
        assertArrayEquals(range(0, 400), cells.place(512, 400), "the chunk of 512 starts there: all held positions may go");
        // Next position 912, its chunk from 768: cells 400..511 and 0..255 (positions 400..767) may be
        // reused, 256..399 (768..911) not, so 369 positions do not fit and 368 do.
        assertThrows(IllegalStateException.class, () -> cells.place(912, 369));
        int[] expected = new int[368];
        System.arraycopy(range(400, 112), 0, expected, 0, 112);
        System.arraycopy(range(0, 256), 0, expected, 112, 256);
        assertArrayEquals(expected, cells.place(912, 368));
        assertEquals(768, cells.positionIn(256));
        assertThrows(IllegalStateException.class, () -> new KvCells(256, 256).place(0, 257));
    }

    @Test
    void forgettingMovesTheSearchBackToTheFirstFreedCell() {
        // After 9000 positions in 8704 cells, cells 0..295 hold 8704..8999. Keeping 8600 frees cells
        // 8600..8703 and 0..295; llama.cpp's search then starts at cell 0, not at 8600 % 8704.
        KvCells cells = new KvCells(8704, CHUNK);
        fill(cells, 9000, 512);
        cells.removeWhere(p -> p >= 8600);
        assertEquals(-1, cells.positionIn(0));
        assertEquals(8599, cells.positionIn(8599));
        assertArrayEquals(range(0, 8), cells.place(8600, 8));
        assertEquals(296, cells.minPosition(), "positions 296.. are still held, the chunk of 8600 among them");
    }

    @Test
    void clearingStartsOver() {
        KvCells cells = new KvCells(8704, CHUNK);
        fill(cells, 9000, 512);
        cells.clear();
        assertArrayEquals(range(0, 5), cells.place(0, 5));
        assertEquals(256, cells.cellsInUse());
    }
}
