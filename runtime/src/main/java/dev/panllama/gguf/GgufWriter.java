package dev.panllama.gguf;

import dev.panllama.ggml.GgmlType;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a GGUF version 3 file: metadata, tensor infos, then each tensor's data at its aligned offset.
 * Tensor data is streamed from a {@link TensorData} source when its turn comes, so a model of any size
 * is written with only one tensor (or less) in memory. {@link #write(Path)} writes beside the target
 * and renames on success: a failure leaves no partial file.
 */
public final class GgufWriter {

    /** Produces one tensor's bytes, in the tensor's type, when the writer reaches it. */
    @FunctionalInterface
    public interface TensorData {
        void writeTo(WritableByteChannel out) throws IOException;

        /** Data already in memory or mapped (a heap segment of any primitive array will do, little-endian). */
        static TensorData of(MemorySegment bytes) {
            return out -> {
                boolean viewable = bytes.isNative() || bytes.heapBase().map(base -> base instanceof byte[]).orElse(false);
                ByteBuffer buffer = viewable ? bytes.asByteBuffer() : ByteBuffer.wrap(bytes.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
            };
        }
    }

    /** {@code data} null: zeros, left as a hole where the file can have one (see {@link #zeroTensor}). */
    private record PendingTensor(String name, GgmlType type, long[] shape, long byteSize, TensorData data) {
    }

    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final Map<String, PendingTensor> tensors = new LinkedHashMap<>();

    /** Sets a metadata value. Arrays of arrays are refused: the format allows them, ggml cannot read them. */
    public GgufWriter put(String key, GgufValue value) {
        if (value.value() instanceof GgufArray array && array.elementType() == GgufValueType.ARRAY) {
            throw new IllegalArgumentException("metadata key " + key + ": nested arrays cannot be read by ggml");
        }
        metadata.put(key, value);
        return this;
    }

    public GgufWriter put(String key, String value) {
        return put(key, GgufValue.of(value));
    }

    /** Puts every entry of {@code source}, in its order. */
    public GgufWriter putAll(GgufMetadata source) {
        source.asMap().forEach(this::put);
        return this;
    }

    /** The metadata put so far, as a reader would see it. */
    public GgufMetadata metadata() {
        return new GgufMetadata(metadata);
    }

    public GgufWriter remove(String key) {
        metadata.remove(key);
        return this;
    }

    /** Adds a tensor; its data is asked for when the writer reaches it. */
    public GgufWriter tensor(String name, GgmlType type, long[] shape, TensorData data) {
        return add(name, type, shape, java.util.Objects.requireNonNull(data, "data"));
    }

    /**
     * Adds a tensor of zeros that a file written by {@link #write(Path)} leaves as a hole (a sparse
     * file: it reads as zeros and takes no disk): a model's whole layout without its weights, for
     * planning where they would go (a Scout-sized layout is 60 GB of holes). A model made so computes
     * nothing meaningful.
     */
    public GgufWriter zeroTensor(String name, GgmlType type, long[] shape) {
        return add(name, type, shape, null);
    }

    private GgufWriter add(String name, GgmlType type, long[] shape, TensorData data) {
        GgufTensorInfo check = new GgufTensorInfo(name, type, shape, 0, 0);
        if (name.getBytes(StandardCharsets.UTF_8).length > GgufParser.MAX_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name longer than " + GgufParser.MAX_NAME_BYTES + " bytes: " + name);
        }
        if (tensors.putIfAbsent(name, new PendingTensor(name, type, shape.clone(), check.byteSize(), data)) != null) {
            throw new IllegalArgumentException("duplicate tensor name " + name);
        }
        return this;
    }

    private int alignment() {
        GgufValue value = metadata.get(GgufParser.ALIGNMENT_KEY);
        if (value == null) {
            return GgufParser.DEFAULT_ALIGNMENT;
        }
        long alignment = value.type() == GgufValueType.UINT32 ? (Long) value.value() : -1;
        if (alignment <= 0 || Long.bitCount(alignment) != 1) {
            throw new IllegalArgumentException(GgufParser.ALIGNMENT_KEY + " must be a UINT32 power of two");
        }
        return (int) alignment;
    }

    /**
     * Writes the file to a temporary file beside {@code target}, then renames it into place. A failure,
     * or the process being stopped (Ctrl-C), leaves neither the temporary file nor a partial target.
     */
    public void write(Path target) throws IOException {
        Path absolute = target.toAbsolutePath();
        if (!Files.isDirectory(absolute.getParent())) {
            throw new IOException("cannot write " + target + ": the folder " + absolute.getParent() + " does not exist");
        }
        long needed = tensors.values().stream().filter(t -> t.data() != null).mapToLong(PendingTensor::byteSize).sum();
        long free = Files.getFileStore(absolute.getParent()).getUsableSpace();
        if (free < needed) {
            throw new IOException(String.format("not enough disk space for %s: it needs %,d bytes, the disk has %,d free;"
                    + " nothing was written", target, needed, free));
        }
        // Not Files.createTempFile: its owner-only permissions would stay on the renamed model file.
        Path temporary = absolute.resolveSibling("." + absolute.getFileName() + "."
                + Long.toUnsignedString(java.util.concurrent.ThreadLocalRandom.current().nextLong(), 36) + ".partial");
        Thread cleanup = new Thread(() -> {
            try {
                Files.deleteIfExists(temporary);
            } catch (IOException ignored) {
                // the process is ending; nothing more can be done
            }
        });
        Runtime.getRuntime().addShutdownHook(cleanup);
        try {
            try (FileChannel out = FileChannel.open(temporary, StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)) {
                write(out);
                out.force(false);
            } catch (IOException e) {
                boolean full = String.valueOf(e.getMessage()).contains("No space left")
                        || Files.getFileStore(absolute.getParent()).getUsableSpace() < (1 << 20);
                if (full) {
                    throw new IOException("the disk filled up while writing " + target + " (" + e.getMessage()
                            + "); the partial file was removed", e);
                }
                throw e;
            }
            Files.move(temporary, absolute, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(temporary);
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs anyway
            }
        }
    }

    /** The bytes of tensor data the file will have, padding included: all but the header. */
    public long dataBytes() {
        int alignment = alignment();
        return tensors.values().stream().mapToLong(t -> GgufParser.align(t.byteSize(), alignment)).sum();
    }

    /** Writes the whole file to {@code out}. */
    public void write(WritableByteChannel out) throws IOException {
        int alignment = alignment();
        Header header = new Header();
        header.u32(GgufParser.MAGIC);
        header.u32(3);
        header.u64(tensors.size());
        header.u64(metadata.size());
        for (Map.Entry<String, GgufValue> entry : metadata.entrySet()) {
            header.string(entry.getKey());
            header.u32(entry.getValue().type().id());
            header.value(entry.getValue().type(), entry.getValue().value());
        }
        List<Long> offsets = new ArrayList<>();
        long offset = 0;
        for (PendingTensor tensor : tensors.values()) {
            header.string(tensor.name());
            header.u32(tensor.shape().length);
            for (long n : tensor.shape()) {
                header.u64(n);
            }
            header.u32(tensor.type().id());
            header.u64(offset);
            offsets.add(offset);
            offset = GgufParser.align(offset + tensor.byteSize(), alignment);
        }
        header.pad(alignment);
        header.drainTo(out);

        long written = 0;
        for (PendingTensor tensor : tensors.values()) {
            if (tensor.data() == null) {
                skipZeros(out, tensor.byteSize());
                written += tensor.byteSize();
            } else {
                CountingChannel counted = new CountingChannel(out);
                tensor.data().writeTo(counted);
                if (counted.count != tensor.byteSize()) {
                    throw new IOException("tensor " + tensor.name() + " should have " + tensor.byteSize()
                            + " bytes of data, its source wrote " + counted.count);
                }
                written += counted.count;
            }
            long padded = GgufParser.align(written, alignment);
            writeZeros(out, padded - written);
            written = padded;
        }
        if (out instanceof FileChannel file && file.size() < file.position()) {
            file.write(ByteBuffer.allocate(1), file.position() - 1);   // a hole at the end still counts in the file's length
        }
    }

    /** {@code count} zeros: a hole in a file, written out elsewhere. */
    private static void skipZeros(WritableByteChannel out, long count) throws IOException {
        if (out instanceof FileChannel file) {
            file.position(file.position() + count);
            return;
        }
        for (long left = count; left > 0; left -= 1 << 20) {
            writeZeros(out, Math.min(left, 1 << 20));
        }
    }

    private static void writeZeros(WritableByteChannel out, long count) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocate((int) count);
        while (zeros.hasRemaining()) {
            out.write(zeros);
        }
    }

    /** Counts the bytes a tensor source writes. */
    private static final class CountingChannel implements WritableByteChannel {
        private final WritableByteChannel out;
        long count;

        CountingChannel(WritableByteChannel out) {
            this.out = out;
        }

        @Override
        public int write(ByteBuffer source) throws IOException {
            int n = out.write(source);
            count += n;
            return n;
        }

        @Override
        public boolean isOpen() {
            return out.isOpen();
        }

        @Override
        public void close() {
            // the writer owns the underlying channel
        }
    }

    /** The little-endian header, grown in memory: metadata and infos only, never tensor data. */
    private static final class Header {
        private ByteBuffer buffer = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        private ByteBuffer room(int bytes) {
            if (buffer.remaining() < bytes) {
                ByteBuffer larger = ByteBuffer.allocate(Math.max(buffer.capacity() * 2, buffer.position() + bytes))
                        .order(ByteOrder.LITTLE_ENDIAN);
                buffer.flip();
                larger.put(buffer);
                buffer = larger;
            }
            return buffer;
        }

        void u32(int value) {
            room(4).putInt(value);
        }

        void u64(long value) {
            room(8).putLong(value);
        }

        void string(String value) {
            byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
            u64(utf8.length);
            room(utf8.length).put(utf8);
        }

        void value(GgufValueType type, Object value) {
            switch (type) {
                case UINT8, INT8 -> room(1).put((byte) (long) (Long) value);
                case UINT16, INT16 -> room(2).putShort((short) (long) (Long) value);
                case UINT32, INT32 -> u32((int) (long) (Long) value);
                case UINT64, INT64 -> u64((Long) value);
                case FLOAT32 -> room(4).putFloat((Float) value);
                case FLOAT64 -> room(8).putDouble((Double) value);
                case BOOL -> room(1).put((byte) ((Boolean) value ? 1 : 0));
                case STRING -> string((String) value);
                case ARRAY -> array((GgufArray) value);
            }
        }

        void array(GgufArray array) {
            u32(array.elementType().id());
            u64(array.length());
            switch (array.elements()) {
                case long[] values -> {
                    for (long v : values) {
                        value(array.elementType(), v);
                    }
                }
                case float[] values -> {
                    for (float v : values) {
                        room(4).putFloat(v);
                    }
                }
                case double[] values -> {
                    for (double v : values) {
                        room(8).putDouble(v);
                    }
                }
                case boolean[] values -> {
                    for (boolean v : values) {
                        room(1).put((byte) (v ? 1 : 0));
                    }
                }
                case String[] values -> {
                    for (String v : values) {
                        string(v);
                    }
                }
                case List<?> nested -> {
                    for (Object inner : nested) {
                        array((GgufArray) inner);
                    }
                }
                default -> throw new IllegalStateException();
            }
        }

        void pad(int alignment) {
            int padding = (int) (GgufParser.align(buffer.position(), alignment) - buffer.position());
            room(padding).put(new byte[padding]);
        }

        void drainTo(WritableByteChannel out) throws IOException {
            buffer.flip();
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
        }
    }
}
