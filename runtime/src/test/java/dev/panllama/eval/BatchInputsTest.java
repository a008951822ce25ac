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
        KvCells cells = new KvCells(256, false);
        cells.store(0, 5);
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
        KvCells ring = new KvCells(12, true);
        ring.store(0, 18);   // positions 6..17 remain, in cells 6..11 and 0..5
        short[][] rows = mask(ring, 12, chunk, 16, 2);   // queries at 16 and 17: chunk 16..23
        assertEquals(SEE, rows[0][ring.cellOf(16)]);
        assertEquals(HIDDEN, rows[0][ring.cellOf(17)], "after the query");
        assertEquals(HIDDEN, rows[0][ring.cellOf(15)], "before its chunk");
        assertEquals(SEE, rows[1][ring.cellOf(17)]);
        assertEquals(HIDDEN, rows[1][ring.cellOf(8)]);
    }
}
