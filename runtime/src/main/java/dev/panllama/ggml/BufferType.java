package dev.panllama.ggml;

import dev.panllama.bindings.ggml.Ggml;
import dev.panllama.bindings.ggml.ggml_tensor;

import java.lang.foreign.MemorySegment;

/**
 * A kind of backend memory. Besides plain memory, the CPU backend offers "extra" buffer types whose
 * tensors are stored rearranged for faster kernels (CPU_REPACK: Q4_0, Q4_K and others interleaved
 * for the SIMD width); writing a tensor into one converts it. Buffer types live as long as the process.
 */
public final class BufferType {

    private final MemorySegment handle;

    BufferType(MemorySegment handle) {
        this.handle = handle;
    }

    MemorySegment handle() {
        return handle;
    }

    public String name() {
        return Ggml.ggml_backend_buft_name(handle).reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** Whether this type's memory is host memory the CPU reads directly (the CPU's own, or a device's pinned host memory). */
    public boolean isHost() {
        return Ggml.ggml_backend_buft_is_host(handle);
    }

    /**
     * Whether {@code device} can compute {@code op} when its weight {@code weight} lives in this
     * buffer type. ggml decides by the weight's buffer, so the weight is given an empty buffer of this
     * type for the question, and none again after it.
     */
    public boolean supportsWeight(BackendDevice device, Tensor weight, Tensor op) {
        MemorySegment tensor = weight.handle();
        if (!ggml_tensor.buffer(tensor).equals(MemorySegment.NULL)) {
            throw new IllegalArgumentException("tensor " + weight.name() + " is already allocated");
        }
        MemorySegment probe = Ggml.ggml_backend_buft_alloc_buffer(handle, 0);
        if (probe.equals(MemorySegment.NULL)) {
            return false;
        }
        try {
            ggml_tensor.buffer(tensor, probe);
            return Ggml.ggml_backend_dev_supports_op(device.handle(), op.handle());
        } finally {
            ggml_tensor.buffer(tensor, MemorySegment.NULL);
            Ggml.ggml_backend_buffer_free(probe);
        }
    }

    /** The same ggml buffer type, however many wrappers name it. */
    @Override
    public boolean equals(Object other) {
        return other instanceof BufferType type && type.handle.equals(handle);
    }

    @Override
    public int hashCode() {
        return handle.hashCode();
    }

    @Override
    public String toString() {
        return name();
    }
}
