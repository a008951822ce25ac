package dev.panllama.ggml;

import dev.panllama.bindings.ggml.Ggml;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Optional;

/**
 * Host memory that results are read back into from a device, reused from read to read and grown to
 * the largest: the device's pinned host memory where it has such a buffer type (CUDA's), so that a
 * device-to-host copy is one DMA rather than a copy staged through a driver buffer; plain host memory
 * otherwise. One-token decoding reads a row of logits (half a megabyte with a 128k vocabulary) every
 * step, and a fresh, zeroed allocation each time was a large part of the step's host time on a GPU.
 * Not thread-safe; closing it frees the memory.
 */
public final class ReadBuffer implements AutoCloseable {

    private final Optional<BufferType> pinned;
    private Arena arena;
    private MemorySegment memory = MemorySegment.NULL;

    /** A buffer for reading from {@code device}'s memory. */
    public ReadBuffer(BackendDevice device) {
        this.pinned = device.kind() == BackendDevice.Kind.CPU ? Optional.empty() : device.hostBufferType();
    }

    /** At least {@code bytes} of host memory, valid until the next call or {@link #close()}; its content is undefined. */
    public MemorySegment take(long bytes) {
        if (memory.byteSize() < bytes) {
            release();
            arena = NativeResources.openArena();
            memory = pinned.map(type -> allocatePinned(type, bytes)).orElseGet(() -> arena.allocate(bytes, 64));
        }
        return memory.asSlice(0, bytes);
    }

    private MemorySegment allocatePinned(BufferType type, long bytes) {
        MemorySegment buffer = Ggml.ggml_backend_buft_alloc_buffer(type.handle(), bytes);
        if (buffer.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("could not allocate " + bytes + " bytes of " + type.name() + " memory");
        }
        MemorySegment owned = buffer.reinterpret(arena, Ggml::ggml_backend_buffer_free);
        return Ggml.ggml_backend_buffer_get_base(owned).reinterpret(bytes);
    }

    private void release() {
        if (arena != null) {
            NativeResources.close(arena);
            arena = null;
            memory = MemorySegment.NULL;
        }
    }

    @Override
    public void close() {
        release();
    }
}
