package dev.panllama.eval;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Where positions live in a group of cells, and how many cells attention looks at. */
class KvCellsTest {

    @Test
    void globalCellsHoldOnePositionEachAndRefuseThePastTheContext() {
        KvCells cells = new KvCells(1024, false);
        assertEquals(0, cells.cellOf(0));
        assertEquals(1023, cells.cellOf(1023));
        assertThrows(IllegalStateException.class, () -> cells.cellOf(1024));
    }

    @Test
    void aRingReusesTheCellsOfPositionsOlderThanItsLength() {
        KvCells ring = new KvCells(8704, true);
        assertEquals(100, ring.cellOf(100));
        assertEquals(0, ring.cellOf(8704));
        assertEquals(1024, ring.cellOf(9728));
        ring.store(9700, 40);
        assertEquals(9739, ring.positionIn(ring.cellOf(9739)));
        assertEquals(-1, ring.positionIn(ring.cellOf(9740)));
    }

    @Test
    void attentionLooksAtWholeBlocksOfCellsInUse() {
        KvCells global = new KvCells(4096, false);
        assertEquals(256, global.cellsInUse(0));
        assertEquals(256, global.cellsInUse(255));
        assertEquals(512, global.cellsInUse(256));
        assertEquals(4096, global.cellsInUse(4095));
        KvCells ring = new KvCells(8704, true);
        assertEquals(8704, ring.cellsInUse(8703));
        assertEquals(8704, ring.cellsInUse(20000), "a full ring is looked at whole");
    }

    @Test
    void forgettingEmptiesTheCellsOfLaterPositions() {
        KvCells cells = new KvCells(64, false);
        cells.store(0, 10);
        cells.forgetFrom(6);
        assertEquals(5, cells.positionIn(5));
        assertEquals(-1, cells.positionIn(6));
        assertEquals(-1, cells.positionIn(9));
    }
}
