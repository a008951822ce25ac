package dev.panllama.gguf;

import java.util.Objects;

/**
 * One metadata value with its GGUF type. Integers of every width are held as {@code Long} (unsigned
 * 64-bit as their bit pattern), FLOAT32 as {@code Float}, FLOAT64 as {@code Double}, BOOL as
 * {@code Boolean}, STRING as {@code String}, ARRAY as {@link GgufArray}.
 */
public record GgufValue(GgufValueType type, Object value) {

    public GgufValue {
        Objects.requireNonNull(type);
        boolean fits = switch (type) {
            case FLOAT32 -> value instanceof Float;
            case FLOAT64 -> value instanceof Double;
            case BOOL -> value instanceof Boolean;
            case STRING -> value instanceof String;
            case ARRAY -> value instanceof GgufArray;
            default -> value instanceof Long;
        };
        if (!fits) {
            throw new IllegalArgumentException(type + " value cannot be " + value);
        }
    }

    public static GgufValue of(String value) {
        return new GgufValue(GgufValueType.STRING, value);
    }

    public static GgufValue ofUint32(long value) {
        if (value < 0 || value > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException(value + " does not fit UINT32");
        }
        return new GgufValue(GgufValueType.UINT32, value);
    }

    public static GgufValue ofInt32(int value) {
        return new GgufValue(GgufValueType.INT32, (long) value);
    }

    public static GgufValue ofFloat32(float value) {
        return new GgufValue(GgufValueType.FLOAT32, value);
    }

    public static GgufValue ofBool(boolean value) {
        return new GgufValue(GgufValueType.BOOL, value);
    }

    public static GgufValue of(GgufArray value) {
        return new GgufValue(GgufValueType.ARRAY, value);
    }
}
