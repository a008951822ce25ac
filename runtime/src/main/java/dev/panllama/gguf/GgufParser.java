package dev.panllama.gguf;

import dev.panllama.ggml.GgmlType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads the header, metadata and tensor infos of one GGUF file from its mapped bytes. Every count,
 * length and offset is checked against the bytes that remain before it is used, so a hostile file
 * costs at most memory proportional to its size, and fails with a {@link GgufException} naming the
 * offset of the problem.
 */
final class GgufParser {

    static final int MAGIC = 0x46554747;            // "GGUF" read as a little-endian u32
    static final int DEFAULT_ALIGNMENT = 32;
    static final String ALIGNMENT_KEY = "general.alignment";
    static final int MAX_NAME_BYTES = 63;           // GGML_MAX_NAME less the terminating zero
    private static final int MAX_ARRAY_NESTING = 8;
    private static final long MIN_KV_BYTES = 8 + 4 + 1;
    private static final long MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8;

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;

    /** What one file holds. {@code dataOffset} is where its data section starts. */
    record Parsed(int version, GgufMetadata metadata, List<GgufTensorInfo> tensors, int alignment, long dataOffset) {
    }

    private final Path file;
    private final MemorySegment bytes;
    private long position;

    private GgufParser(Path file, MemorySegment bytes) {
        this.file = file;
        this.bytes = bytes;
    }

    static Parsed parse(Path file, MemorySegment bytes, int part) {
        return new GgufParser(file, bytes).parse(part);
    }

    private Parsed parse(int part) {
        if (bytes.byteSize() < 4 || bytes.get(U32, 0) != MAGIC) {
            throw GgufException.at(file, 0, "not a GGUF file (no GGUF magic)");
        }
        position = 4;
        int version = u32("version");
        if (version == 1) {
            throw GgufException.at(file, 4, "GGUF version 1 is not supported; convert the file again with a current llama.cpp");
        }
        if (version != 2 && version != 3) {
            String problem = (version & 0xFFFF) == 0 && version != 0
                    ? "big-endian GGUF files are not supported"
                    : "unknown GGUF version " + Integer.toUnsignedString(version);
            throw GgufException.at(file, 4, problem);
        }
        long tensorCount = count("tensor count", MIN_TENSOR_INFO_BYTES);
        long kvCount = count("metadata count", MIN_KV_BYTES);

        Map<String, GgufValue> values = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            long keyAt = position;
            String key = string("metadata key");
            GgufValueType type = valueType("type of metadata key " + key);
            GgufValue value = value(type, key, 0);
            if (values.putIfAbsent(key, value) != null) {
                throw GgufException.at(file, keyAt, "duplicate metadata key " + key);
            }
        }
        GgufMetadata metadata = new GgufMetadata(values);
        int alignment = alignment(metadata);

        List<GgufTensorInfo> tensors = new ArrayList<>((int) tensorCount);
        List<Long> infoOffsets = new ArrayList<>((int) tensorCount);
        Set<String> names = new HashSet<>();
        for (long i = 0; i < tensorCount; i++) {
            long infoAt = position;
            GgufTensorInfo info = tensorInfo(part, alignment);
            if (!names.add(info.name())) {
                throw GgufException.at(file, infoAt, "duplicate tensor name " + info.name());
            }
            tensors.add(info);
            infoOffsets.add(infoAt);
        }

        long dataOffset = align(position, alignment);
        long dataBytes = bytes.byteSize() - Math.min(dataOffset, bytes.byteSize());
        for (int i = 0; i < tensors.size(); i++) {
            GgufTensorInfo info = tensors.get(i);
            if (info.offset() > dataBytes || info.byteSize() > dataBytes - info.offset()) {
                throw GgufException.at(file, infoOffsets.get(i), "tensor " + info.name() + " (" + info.byteSize()
                        + " bytes at data offset " + info.offset() + ") lies outside the file, whose data section has "
                        + dataBytes + " bytes: truncated or corrupt");
            }
        }
        return new Parsed(version, metadata, List.copyOf(tensors), alignment, dataOffset);
    }

    private int alignment(GgufMetadata metadata) {
        GgufValue value = metadata.find(ALIGNMENT_KEY).orElse(null);
        if (value == null) {
            return DEFAULT_ALIGNMENT;
        }
        long alignment = value.type() == GgufValueType.UINT32 ? (Long) value.value() : -1;
        if (alignment <= 0 || Long.bitCount(alignment) != 1 || alignment > (1 << 20)) {
            throw new GgufException(file + ": " + ALIGNMENT_KEY + " must be a UINT32 power of two, not " + value.value());
        }
        return (int) alignment;
    }

    private GgufTensorInfo tensorInfo(int part, int alignment) {
        long start = position;
        String name = string("tensor name");
        if (name.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
            throw GgufException.at(file, start, "tensor name longer than " + MAX_NAME_BYTES + " bytes: " + name.substring(0, 32) + "...");
        }
        long dimsAt = position;
        int dims = u32("dimension count of tensor " + name);
        if (dims < 1 || dims > 4) {
            throw GgufException.at(file, dimsAt, "tensor " + name + " has " + Integer.toUnsignedString(dims) + " dimensions; ggml allows 1 to 4");
        }
        long[] shape = new long[dims];
        long elements = 1;
        for (int d = 0; d < dims; d++) {
            long at = position;
            shape[d] = i64("dimension of tensor " + name);
            if (shape[d] < 0) {
                throw GgufException.at(file, at, "tensor " + name + " has a negative dimension " + shape[d]);
            }
            try {
                elements = Math.multiplyExact(elements, shape[d]);
            } catch (ArithmeticException overflow) {
                throw GgufException.at(file, at, "tensor " + name + " has more elements than fit in 64 bits");
            }
        }
        long typeAt = position;
        int typeId = u32("type of tensor " + name);
        GgmlType type;
        try {
            type = GgmlType.fromId(typeId);
        } catch (IllegalArgumentException unknown) {
            throw GgufException.at(file, typeAt, "tensor " + name + " has unknown ggml type " + Integer.toUnsignedString(typeId));
        }
        if (shape[0] % type.blockSize() != 0) {
            throw GgufException.at(file, dimsAt, "tensor " + name + " has rows of " + shape[0] + " elements, not a multiple of "
                    + type + "'s block of " + type.blockSize());
        }
        long offsetAt = position;
        long offset = i64("data offset of tensor " + name);
        if (offset < 0 || offset % alignment != 0) {
            throw GgufException.at(file, offsetAt, "tensor " + name + " has data offset " + Long.toUnsignedString(offset)
                    + ", not a multiple of the alignment " + alignment);
        }
        if (elements != 0 && type.rowBytes(shape[0]) > Long.MAX_VALUE / Math.max(1, elements / shape[0])) {
            throw GgufException.at(file, dimsAt, "tensor " + name + " is larger than 2^63 bytes");
        }
        return new GgufTensorInfo(name, type, shape, part, offset);
    }

    private GgufValue value(GgufValueType type, String key, int depth) {
        return switch (type) {
            case UINT8 -> new GgufValue(type, Byte.toUnsignedLong(bytes.get(ValueLayout.JAVA_BYTE, advance(need(1, key)))));
            case INT8 -> new GgufValue(type, (long) bytes.get(ValueLayout.JAVA_BYTE, advance(need(1, key))));
            case UINT16 -> new GgufValue(type, (long) Short.toUnsignedInt(bytes.get(ValueLayout.JAVA_SHORT_UNALIGNED, advance(need(2, key)))));
            case INT16 -> new GgufValue(type, (long) bytes.get(ValueLayout.JAVA_SHORT_UNALIGNED, advance(need(2, key))));
            case UINT32 -> new GgufValue(type, Integer.toUnsignedLong(u32(key)));
            case INT32 -> new GgufValue(type, (long) u32(key));
            case UINT64, INT64 -> new GgufValue(type, i64(key));
            case FLOAT32 -> new GgufValue(type, bytes.get(ValueLayout.JAVA_FLOAT_UNALIGNED, advance(need(4, key))));
            case FLOAT64 -> new GgufValue(type, bytes.get(ValueLayout.JAVA_DOUBLE_UNALIGNED, advance(need(8, key))));
            case BOOL -> new GgufValue(type, bool(key));
            case STRING -> new GgufValue(type, string(key));
            case ARRAY -> new GgufValue(type, array(key, depth));
        };
    }

    private GgufArray array(String key, int depth) {
        if (depth >= MAX_ARRAY_NESTING) {
            throw GgufException.at(file, position, "arrays nested deeper than " + MAX_ARRAY_NESTING + " in " + key);
        }
        GgufValueType elementType = valueType("element type of " + key);
        int n = (int) count("length of array " + key, elementType.minimumBytes());
        return switch (elementType) {
            case FLOAT32 -> {
                float[] values = new float[n];
                for (int i = 0; i < n; i++) {
                    values[i] = bytes.get(ValueLayout.JAVA_FLOAT_UNALIGNED, advance(4));
                }
                yield new GgufArray(elementType, values);
            }
            case FLOAT64 -> {
                double[] values = new double[n];
                for (int i = 0; i < n; i++) {
                    values[i] = bytes.get(ValueLayout.JAVA_DOUBLE_UNALIGNED, advance(8));
                }
                yield new GgufArray(elementType, values);
            }
            case BOOL -> {
                boolean[] values = new boolean[n];
                for (int i = 0; i < n; i++) {
                    values[i] = bool(key);
                }
                yield new GgufArray(elementType, values);
            }
            case STRING -> {
                String[] values = new String[n];
                for (int i = 0; i < n; i++) {
                    values[i] = string(key);
                }
                yield new GgufArray(elementType, values);
            }
            case ARRAY -> {
                List<GgufArray> values = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    values.add(array(key, depth + 1));
                }
                yield new GgufArray(elementType, values);
            }
            default -> {
                long[] values = new long[n];
                for (int i = 0; i < n; i++) {
                    values[i] = (Long) value(elementType, key, depth).value();
                }
                yield new GgufArray(elementType, values);
            }
        };
    }

    private GgufValueType valueType(String what) {
        long at = position;
        int id = u32(what);
        GgufValueType type = GgufValueType.fromId(id);
        if (type == null) {
            throw GgufException.at(file, at, "unknown value type " + Integer.toUnsignedString(id) + " for " + what);
        }
        return type;
    }

    /** A count of items that each take at least {@code minimumBytes}: no more than the remaining bytes allow. */
    private long count(String what, long minimumBytes) {
        long at = position;
        long n = i64(what);
        long remaining = bytes.byteSize() - position;
        if (n < 0 || n > remaining / minimumBytes || n > Integer.MAX_VALUE - 8) {
            throw GgufException.at(file, at, what + " " + Long.toUnsignedString(n) + " does not fit in the "
                    + remaining + " bytes that follow: truncated or corrupt");
        }
        return n;
    }

    private String string(String what) {
        long at = position;
        long length = i64("length of " + what);
        if (length < 0 || length > bytes.byteSize() - position) {
            throw GgufException.at(file, at, "string length " + Long.toUnsignedString(length) + " of " + what
                    + " runs past the end of the file");
        }
        if (length > Integer.MAX_VALUE - 8) {
            throw GgufException.at(file, at, "string of " + what + " is larger than 2 GiB");
        }
        byte[] utf8 = bytes.asSlice(advance(length), length).toArray(ValueLayout.JAVA_BYTE);
        return new String(utf8, StandardCharsets.UTF_8);
    }

    private boolean bool(String what) {
        long at = position;
        byte b = bytes.get(ValueLayout.JAVA_BYTE, advance(need(1, what)));
        if (b != 0 && b != 1) {
            throw GgufException.at(file, at, "boolean " + what + " is " + b + ", not 0 or 1");
        }
        return b == 1;
    }

    private int u32(String what) {
        return bytes.get(U32, advance(need(4, what)));
    }

    private long i64(String what) {
        return bytes.get(U64, advance(need(8, what)));
    }

    /** Checks that {@code n} more bytes exist; returns n. */
    private long need(long n, String what) {
        if (bytes.byteSize() - position < n) {
            throw GgufException.at(file, position, "file ends inside " + what + ": truncated");
        }
        return n;
    }

    /** Moves past {@code n} bytes (already checked) and returns where they start. */
    private long advance(long n) {
        long start = position;
        position += n;
        return start;
    }

    static long align(long offset, int alignment) {
        return (offset + alignment - 1) / alignment * alignment;
    }
}
