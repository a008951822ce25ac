package dev.panllama.bindings;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reserved address space: zeros until written, memory only for the pages written, unmapped on close. */
class ReservedMemoryTest {

    private static final long GIB = 1L << 30;

    @Test
    void aLargeReservationCostsOnlyThePagesWritten() {
        long page = ReservedMemory.pageSize();
        try (ReservedMemory reserved = ReservedMemory.reserve(64 * GIB)) {
            MemorySegment memory = reserved.segment();
            assertEquals(64 * GIB, reserved.byteSize());
            assertEquals(0, memory.address() % page, "page-aligned");
            assertEquals(0, reserved.residentBytes(), "nothing written, nothing resident");
            for (long at = 0; at < 100 * page; at += page) {
                memory.set(ValueLayout.JAVA_LONG, at, at + 1);
            }
            memory.set(ValueLayout.JAVA_LONG, 63 * GIB, 7);
            assertEquals(101 * page, reserved.residentBytes(), "the 101 pages written, wherever they are");
            assertEquals(50 * page + 1, memory.get(ValueLayout.JAVA_LONG, 50 * page));
            assertEquals(7, memory.get(ValueLayout.JAVA_LONG, 63 * GIB));
        }
    }

    @Test
    void freshPagesReadAsZeros() {
        try (ReservedMemory reserved = ReservedMemory.reserve(3 * ReservedMemory.pageSize() + 1)) {
            assertEquals(4 * ReservedMemory.pageSize(), reserved.byteSize(), "rounded up to whole pages");
            MemorySegment memory = reserved.segment();
            for (long at = 0; at < memory.byteSize(); at += 8) {
                assertEquals(0, memory.get(ValueLayout.JAVA_LONG, at));
            }
        }
    }

    @Test
    void releasedPagesTakeNoMemoryAndReadAsZerosUntilWrittenAgain() {
        long page = ReservedMemory.pageSize();
        try (ReservedMemory reserved = ReservedMemory.reserve(10 * page)) {
            MemorySegment memory = reserved.segment();
            for (long at = 0; at < 10 * page; at += 8) {
                memory.set(ValueLayout.JAVA_LONG, at, at + 1);
            }
            assertEquals(10 * page, reserved.residentBytes());
            // Only whole pages inside the range: from the middle of page 2 to the middle of page 8 gives back pages 3 to 7.
            assertEquals(5 * page, reserved.release(2 * page + 100, 6 * page));
            assertEquals(5 * page, reserved.residentBytes());
            assertEquals(2 * page + 97, memory.get(ValueLayout.JAVA_LONG, 2 * page + 96), "page 2 kept");
            for (long at = 3 * page; at < 8 * page; at += 8) {
                assertEquals(0, memory.get(ValueLayout.JAVA_LONG, at));
            }
            assertEquals(8 * page + 1, memory.get(ValueLayout.JAVA_LONG, 8 * page), "page 8 kept");
            memory.set(ValueLayout.JAVA_LONG, 4 * page, 42);
            assertEquals(42, memory.get(ValueLayout.JAVA_LONG, 4 * page));
            assertEquals(0, reserved.release(page + 1, page - 2), "less than a whole page: nothing");
            assertThrows(IndexOutOfBoundsException.class, () -> reserved.release(9 * page, 2 * page));
        }
    }

    @Test
    void closedMemoryRefusesUseInsteadOfCrashing() {
        ReservedMemory reserved = ReservedMemory.reserve(1 << 20);
        MemorySegment memory = reserved.segment();
        reserved.close();
        reserved.close();
        assertThrows(IllegalStateException.class, () -> memory.get(ValueLayout.JAVA_BYTE, 0));
        assertThrows(IllegalStateException.class, reserved::residentBytes);
    }

    @Test
    void whatTheSystemRefusesIsAClearMessage() {
        assertThrows(IllegalArgumentException.class, () -> ReservedMemory.reserve(0));
        // More than a 64-bit process's address space (Linux and macOS give user space 2^47 bytes or 2^56).
        IllegalStateException refused = assertThrows(IllegalStateException.class, () -> ReservedMemory.reserve(1L << 62));
        assertTrue(refused.getMessage().startsWith("could not reserve") && refused.getMessage().contains("errno"), refused.getMessage());
    }
}
