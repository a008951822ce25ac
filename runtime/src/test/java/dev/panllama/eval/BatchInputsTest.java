package dev.panllama.eval;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The attention mask a batch's queries get over the cache cells. */
class BatchInputsTest {

    private static final short SEE = 0;
    private static final short HIDDEN = (short) 0xFC00;   // F16 -inf

    /** The mask of queries at positions {@code start .. start + n - 1} of sequence 0. */
    private static short[][] mask(KvCells cells, int cellsInUse, int chunkSize, long start, int n) {
        return mask(cells, cellsInUse, chunkSize, new int[n], LongStream.range(start, start + n).toArray());
    }

    private static short[][] mask(KvCells cells, int cellsInUse, int chunkSize, int[] sequences, long[] positions) {
        int n = positions.length;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(2L * cellsInUse * n);
            BatchInputs.writeMask(mask, cells, cellsInUse, chunkSize, sequences, positions);
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
        KvCells cells = new KvCells(256, 0, 1);
        cells.place(new int[5], new long[] {0, 1, 2, 3, 4});
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
        KvCells cells = new KvCells(12, chunk, 1);
        cells.place(new int[8], LongStream.range(0, 8).toArray());
        cells.place(new int[4], LongStream.range(8, 12).toArray());    // cells 8..11 hold positions 8..11
        int[] placed = cells.place(new int[2], new long[] {16, 17});   // 16 and 17 may reuse the cells of 0..15's chunks: cells 0 and 1
        short[][] rows = mask(cells, 12, chunk, 16, 2);   // queries at 16 and 17: chunk 16..23
        assertEquals(SEE, rows[0][placed[0]]);
        assertEquals(HIDDEN, rows[0][placed[1]], "after the query");
        assertEquals(SEE, rows[1][placed[1]]);
        assertEquals(HIDDEN, rows[1][8], "before its chunk");
        assertEquals(HIDDEN, rows[1][5], "an empty cell");
    }

    @Test
    void queriesSeeOnlyTheirOwnSequencesCells() {
        KvCells cells = new KvCells(256, 4, 2);
        // Sequence 0 at positions 0..5 (cells 0..5), sequence 1 at 0..2 (cells 6..8), in one batch.
        int[] sequences = {0, 0, 0, 0, 0, 0, 1, 1, 1};
        long[] positions = {0, 1, 2, 3, 4, 5, 0, 1, 2};
        cells.place(sequences, positions);
        short[][] rows = mask(cells, 256, 4, sequences, positions);
        assertEquals(SEE, rows[6][6], "sequence 1's position 0 sees itself");
        assertEquals(HIDDEN, rows[6][0], "not sequence 0's position 0");
        assertEquals(SEE, rows[8][7]);
        assertEquals(HIDDEN, rows[8][2], "nor sequence 0's position 2");
        assertEquals(SEE, rows[5][4], "sequence 0's position 5 sees 4, in its chunk 4..7");
        assertEquals(HIDDEN, rows[5][3], "not 3, before its chunk");
        assertEquals(HIDDEN, rows[5][6], "nor sequence 1's cells");
    }
}
