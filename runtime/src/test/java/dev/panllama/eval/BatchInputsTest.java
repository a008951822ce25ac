package dev.panllama.eval;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The attention mask a batch's queries get over the cache cells. */
class BatchInputsTest {

    private static final short SEE = 0;
    private static final short HIDDEN = (short) 0xFC00;   // F16 -inf

    private static short[][] mask(KvCells cells, int cellsInUse, int chunkSize, long start, int n) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(2L * cellsInUse * n);
            BatchInputs.writeMask(mask, cells, cellsInUse, chunkSize, start, n);
            short[][] rows = new short[n][cellsInUse];
            for (int i = 0; i < n; i++) {
                for (int c = 0; c < cellsInUse; c++) {
                    rows[i][c] = mask.getAtIndex(ValueLayout.JAVA_SHORT, (long) i * cellsInUse + c);
                }
            }
            return rows;
        }
    }

    @Test
    void globalQueriesSeeEveryEarlierPositionAndThemselvesButNoEmptyCell() {
        KvCells cells = new KvCells(256, 0);
        cells.place(0, 5);
        short[][] rows = mask(cells, 256, 0, 3, 2);
        for (int c = 0; c <= 3; c++) {
            assertEquals(SEE, rows[0][c], "position 3 sees cell " + c);
        }
        assertEquals(HIDDEN, rows[0][4], "not the later position 4");
        assertEquals(SEE, rows[1][4]);
        assertEquals(HIDDEN, rows[1][5], "an empty cell");
        assertEquals(HIDDEN, rows[1][255]);
    }

    @Test
    void chunkedQueriesSeeOnlyTheirOwnChunk() {
        int chunk = 8;
        KvCells cells = new KvCells(12, chunk);
        cells.place(0, 8);
        cells.place(8, 4);    // cells 8..11 hold positions 8..11
        int[] placed = cells.place(16, 2);   // 16 and 17 may reuse the cells of 0..15's chunks: cells 0 and 1
        short[][] rows = mask(cells, 12, chunk, 16, 2);   // queries at 16 and 17: chunk 16..23
        assertEquals(SEE, rows[0][placed[0]]);
        assertEquals(HIDDEN, rows[0][placed[1]], "after the query");
        assertEquals(SEE, rows[1][placed[1]]);
        assertEquals(HIDDEN, rows[1][8], "before its chunk");
        assertEquals(HIDDEN, rows[1][5], "an empty cell");
    }
}
