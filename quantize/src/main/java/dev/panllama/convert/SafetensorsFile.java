package dev.panllama.convert;

import dev.panllama.ggml.NativeResources;
import dev.panllama.json.JsonReader;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the data. Every range is checked against the file and
 * the shape before anything reads it, so a truncated or hostile file is a {@link CheckpointException},
 * never a crash. The mapping lives until {@link #close()} and is counted in {@link NativeResources#live()}.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** A header longer than this is not a checkpoint's (real ones are a few MB at most). */
    private static final long MAX_HEADER_BYTES = 256L << 20;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The element types safetensors names; only the floating ones are weights panllama converts. */
    public enum Dtype {
        F64(8), F32(4), F16(2), BF16(2), F8_E4M3(1), F8_E5M2(1), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1);

        private final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }

        public int bytes() {
            return bytes;
        }

        /** Whether {@link Tensor#get} reads it: F32, F16 and BF16, the types of published checkpoints. */
        public boolean convertible() {
            return this == F32 || this == F16 || this == BF16;
        }
    }

    /** One tensor of the file: its shape outermost first, as PyTorch writes it, and its mapped bytes. */
    public record Tensor(String name, Dtype dtype, long[] shape, MemorySegment data, Path file) {

        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        /** Element {@code index} (row-major) as a float. */
        public float get(long index) {
            long offset = index * dtype.bytes;
            return switch (dtype) {
                case F32 -> data.get(FLOAT, offset);
                case F16 -> Float.float16ToFloat(data.get(SHORT, offset));
                case BF16 -> Float.intBitsToFloat(data.get(SHORT, offset) << 16);
                default -> throw new CheckpointException("tensor " + name + " in " + file.getFileName() + " is " + dtype
                        + "; panllama converts F32, F16 and BF16 weights");
            };
        }

        public String shapeText() {
            return java.util.Arrays.toString(shape);
        }
    }

    private final Path path;
    private final Arena arena;
    private final Map<String, Tensor> tensors;

    private SafetensorsFile(Path path, Arena arena, Map<String, Tensor> tensors) {
        this.path = path;
        this.arena = arena;
        this.tensors = tensors;
    }

    public static SafetensorsFile open(Path path) throws IOException {
        // Shared (as every counted arena is): the converter's threads read rows of one tensor side by side.
        Arena arena = NativeResources.openArena();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < 8) {
                throw new CheckpointException(path + " is not a safetensors file: " + size + " bytes");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            channel.read(lengthBytes, 0);
            long headerLength = lengthBytes.getLong(0);
            if (headerLength < 2 || headerLength > MAX_HEADER_BYTES || headerLength > size - 8) {
                throw new CheckpointException(path + " is not a safetensors file, or is truncated: its header claims "
                        + Long.toUnsignedString(headerLength) + " bytes of a " + size + "-byte file");
            }
            MemorySegment mapped = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            String header = new String(mapped.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            MemorySegment data = mapped.asSlice(8 + headerLength);
            return new SafetensorsFile(path, arena, parseHeader(path, header, data));
        } catch (IOException | RuntimeException e) {
            NativeResources.close(arena);
            throw e;
        }
    }

    private static Map<String, Tensor> parseHeader(Path path, String header, MemorySegment data) {
        Object parsed;
        try {
            parsed = JsonReader.parse(header);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(path + ": the safetensors header is not JSON (" + e.getMessage() + ")");
        }
        if (!(parsed instanceof Map<?, ?> entries)) {
            throw new CheckpointException(path + ": the safetensors header is not a JSON object");
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<?, ?> entry : entries.entrySet()) {
            String name = (String) entry.getKey();
            if (name.equals("__metadata__")) {
                continue;
            }
            if (!(entry.getValue() instanceof Map<?, ?> fields)) {
                throw bad(path, name, "its entry is not an object");
            }
            Dtype dtype;
            try {
                dtype = Dtype.valueOf(String.valueOf(fields.get("dtype")).toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw bad(path, name, "unknown dtype " + fields.get("dtype"));
            }
            long[] shape = longs(path, name, "shape", fields.get("shape"), -1);
            long[] offsets = longs(path, name, "data_offsets", fields.get("data_offsets"), 2);
            long bytes;
            try {
                bytes = dtype.bytes;
                for (long d : shape) {
                    bytes = Math.multiplyExact(bytes, d);
                }
            } catch (ArithmeticException e) {
                throw bad(path, name, "its shape " + java.util.Arrays.toString(shape) + " is too large");
            }
            if (offsets[0] > offsets[1] || offsets[1] > data.byteSize()) {
                throw bad(path, name, "its data [" + offsets[0] + ", " + offsets[1] + ") lies outside the file's "
                        + data.byteSize() + " data bytes (truncated?)");
            }
            if (offsets[1] - offsets[0] != bytes) {
                throw bad(path, name, "its shape " + java.util.Arrays.toString(shape) + " of " + dtype + " needs "
                        + bytes + " bytes, its data has " + (offsets[1] - offsets[0]));
            }
            tensors.put(name, new Tensor(name, dtype, shape, data.asSlice(offsets[0], offsets[1] - offsets[0]), path));
        }
        return Collections.unmodifiableMap(tensors);
    }

    private static long[] longs(Path path, String name, String field, Object value, int count) {
        if (!(value instanceof List<?> list) || (count >= 0 && list.size() != count)) {
            throw bad(path, name, field + " is missing or malformed");
        }
        long[] result = new long[list.size()];
        for (int i = 0; i < result.length; i++) {
            if (!(list.get(i) instanceof Double d) || d < 0 || d != Math.rint(d) || d > 1e18) {
                throw bad(path, name, field + " holds " + list.get(i) + ", not a size");
            }
            result[i] = d.longValue();
        }
        return result;
    }

    private static CheckpointException bad(Path path, String name, String problem) {
        return new CheckpointException(path.getFileName() + ": tensor " + name + ": " + problem);
    }

    public Path path() {
        return path;
    }

    /** The tensors by name, in the header's order. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    @Override
    public void close() {
        NativeResources.close(arena);
    }
}
