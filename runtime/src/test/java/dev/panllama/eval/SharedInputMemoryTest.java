package dev.panllama.eval;

import dev.panllama.ggml.NativeResources;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class SharedInputMemoryTest {

    @Test
    void aMaskIsComputedOncePerMicroBatchAndGroup() {
        int live = NativeResources.live();
        AtomicInteger computed = new AtomicInteger();
        try (SharedInputMemory memory = new SharedInputMemory()) {
            for (int batch = 1; batch <= 3; batch++) {
                memory.startBatch();
                short value = (short) batch;
                for (int segment = 0; segment < 4; segment++) {
                    // The third batch is larger: the buffer grows, and the mask is still made once.
                    long bytes = batch == 3 ? 4096 : 64;
                    MemorySegment mask = memory.mask(1, bytes, m -> {
                        computed.incrementAndGet();
                        m.fill((byte) value);
                    });
                    assertEquals(bytes, mask.byteSize());
                    assertEquals((byte) value, mask.get(ValueLayout.JAVA_BYTE, bytes - 1), "segment " + segment + " of batch " + batch);
                }
                memory.mask(0, 32, m -> computed.incrementAndGet());
            }
            assertEquals(6, computed.get(), "each group's mask once per micro-batch");
            memory.startBatch();
            memory.mask(0, 32, m -> { });
            assertThrows(IllegalStateException.class, () -> memory.mask(0, 64, m -> { }), "one micro-batch, two mask sizes");
        }
        assertEquals(live, NativeResources.live(), "closing frees every buffer, the replaced ones too");
    }
}
