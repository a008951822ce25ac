package dev.panllama.ggml;

import dev.panllama.bindings.ggml.Ggml;
import dev.panllama.bindings.ggml.ggml_tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A tensor described in a {@link GgmlContext}: its type and shape, and (once the context is allocated
 * on a backend) its data. Valid as long as its context is open.
 */
public final class Tensor {

    private final GgmlContext context;
    private final MemorySegment handle;   // struct ggml_tensor, bounded by the context's arena

    Tensor(GgmlContext context, MemorySegment raw) {
        this.context = context;
        this.handle = raw.reinterpret(ggml_tensor.sizeof(), context.arena(), null);
    }

    GgmlContext context() {
        return context;
    }

    MemorySegment handle() {
        return handle;
    }

    public GgmlType type() {
        return GgmlType.fromId(ggml_tensor.type(handle));
    }

    /** Elements along dimension {@code dim} (0 innermost); 1 past the tensor's own dimensions. */
    public long ne(int dim) {
        return ggml_tensor.ne(handle, dim);
    }

    /** Whether the elements lie one after another, with no gaps and in order. */
    public boolean isContiguous() {
        return Ggml.ggml_is_contiguous(handle);
    }

    /** Stride in bytes along dimension {@code dim}. */
    public long nb(int dim) {
        return ggml_tensor.nb(handle, dim);
    }

    public long elementCount() {
        return Ggml.ggml_nelements(handle);
    }

    public long byteSize() {
        return Ggml.ggml_nbytes(handle);
    }

    boolean isTransposed() {
        return Ggml.ggml_is_transposed(handle);
    }

    public String name() {
        return ggml_tensor.name(handle).getString(0);
    }

    /** Names the tensor (ggml keeps up to 63 bytes); returns this tensor. */
    public Tensor name(String name) {
        try (Arena scratch = Arena.ofConfined()) {
            Ggml.ggml_set_name(handle, scratch.allocateFrom(name));
        }
        return this;
    }

    String shapeString() {
        return "[" + ne(0) + ", " + ne(1) + ", " + ne(2) + ", " + ne(3) + "]";
    }

    /** Copies {@code values} into the tensor's data: F32 tensors only, one value per element. */
    public void write(float[] values) {
        requireF32(values.length);
        try (Arena scratch = Arena.ofConfined()) {
            write(scratch.allocateFrom(ValueLayout.JAVA_FLOAT, values));
        }
    }

    /** Copies {@link #byteSize()} bytes of raw tensor data (in this tensor's type) from {@code data}. */
    public void write(MemorySegment data) {
        requireData();
        if (data.byteSize() != byteSize()) {
            throw new IllegalArgumentException("tensor " + name() + " takes " + byteSize() + " bytes, not " + data.byteSize());
        }
        Ggml.ggml_backend_tensor_set(handle, data, 0, byteSize());
    }

    /**
     * Copies {@code data} (raw tensor data in this tensor's type) into the tensor from byte
     * {@code offset} on, wherever its buffer lives: e.g. one matrix of a stack of them.
     */
    public void write(long offset, MemorySegment data) {
        requireByteRange(offset, data.byteSize());
        Ggml.ggml_backend_tensor_set(handle, data, offset, data.byteSize());
    }

    /**
     * Copies {@code bytes.length} bytes of raw tensor data into the tensor from byte {@code offset} on,
     * wherever its buffer lives (host or device memory).
     */
    public void writeBytes(long offset, byte[] bytes) {
        requireByteRange(offset, bytes.length);
        try (Arena scratch = Arena.ofConfined()) {
            Ggml.ggml_backend_tensor_set(handle, scratch.allocateFrom(ValueLayout.JAVA_BYTE, bytes), offset, bytes.length);
        }
    }

    /** {@code length} bytes of raw tensor data from byte {@code offset} on, copied out of whatever buffer holds them. */
    public byte[] readBytes(long offset, int length) {
        requireByteRange(offset, length);
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment data = scratch.allocate(Math.max(1, length));
            Ggml.ggml_backend_tensor_get(handle, data, offset, length);
            return data.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    private void requireByteRange(long offset, long length) {
        requireData();
        if (offset < 0 || length < 0 || offset + length > byteSize()) {
            throw new IllegalArgumentException("tensor " + name() + " has no bytes " + offset + ".." + (offset + length)
                    + " (it has " + byteSize() + ")");
        }
    }

    /** Copies {@code values} into an I32 tensor, one value per element. */
    public void write(int[] values) {
        requireType(GgmlType.I32, values.length);
        try (Arena scratch = Arena.ofConfined()) {
            write(scratch.allocateFrom(ValueLayout.JAVA_INT, values));
        }
    }

    /** The first {@code count} values of an I32 tensor, copied out of whatever buffer holds them. */
    public int[] readInts(int count) {
        requireData();
        if (type() != GgmlType.I32 || count < 0 || count > elementCount()) {
            throw new IllegalArgumentException("tensor " + name() + " has no " + count + " I32 values");
        }
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment data = scratch.allocate(ValueLayout.JAVA_INT, Math.max(1, count));
            Ggml.ggml_backend_tensor_get(handle, data, 0, 4L * count);
            return data.asSlice(0, 4L * count).toArray(ValueLayout.JAVA_INT);
        }
    }

    /**
     * Whether the tensor has memory: an input that no op of its graph reads gets none from ggml's
     * allocator, and must not be written.
     */
    public boolean hasData() {
        return !ggml_tensor.buffer(handle).equals(MemorySegment.NULL);
    }

    /** Copies {@code values} into an I64 tensor, one value per element. */
    public void write(long[] values) {
        requireType(GgmlType.I64, values.length);
        try (Arena scratch = Arena.ofConfined()) {
            write(scratch.allocateFrom(ValueLayout.JAVA_LONG, values));
        }
    }

    /**
     * The first {@code result.length} rows of {@code rowLength} floats of an F32 tensor, into arrays the
     * caller owns, one row each, of at least {@code rowLength} floats (a decoding loop that reuses them
     * copies a vocabulary of logits a step without allocating half a megabyte for each): read straight from
     * host memory where the tensor lives there, else copied from the backend into {@code staging} first.
     */
    public void readRows(int rowLength, float[][] result, ReadBuffer staging) {
        requireData();
        int rows = result.length;
        if (type() != GgmlType.F32 || (long) rowLength * rows > elementCount()) {
            throw new IllegalArgumentException("tensor " + name() + " has no " + rows + " rows of " + rowLength + " floats");
        }
        long bytes = 4L * rowLength * rows;
        MemorySegment source;
        MemorySegment buffer = ggml_tensor.buffer(handle);
        if (Ggml.ggml_backend_buffer_is_host(buffer)) {
            source = ggml_tensor.data(handle).reinterpret(bytes);
        } else {
            source = staging.take(bytes);
            Ggml.ggml_backend_tensor_get(handle, source, 0, bytes);
        }
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(source, ValueLayout.JAVA_FLOAT, 4L * rowLength * r, result[r], 0, rowLength);
        }
    }

    /** The tensor's data as floats: F32 tensors only. */
    public float[] readFloats() {
        requireF32(elementCount());
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment data = scratch.allocate(byteSize());
            Ggml.ggml_backend_tensor_get(handle, data, 0, byteSize());
            return data.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    private void requireF32(long count) {
        requireType(GgmlType.F32, count);
    }

    private void requireType(GgmlType expected, long count) {
        if (type() != expected) {
            throw new IllegalArgumentException("tensor " + name() + " is " + type() + ", not " + expected);
        }
        if (count != elementCount()) {
            throw new IllegalArgumentException("tensor " + name() + " has " + elementCount() + " elements, not " + count);
        }
        requireData();
    }

    private void requireData() {
        if (ggml_tensor.buffer(handle).equals(MemorySegment.NULL)) {
            throw new IllegalStateException("tensor " + name() + " has no data yet: allocate its context on a backend first");
        }
        if (!Ggml.ggml_is_contiguous(handle)) {
            throw new IllegalStateException("tensor " + name() + " is a non-contiguous view");
        }
    }

    @Override
    public String toString() {
        return name() + " " + type() + " " + shapeString();
    }
}
