package dev.panllama.gguf;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A GGUF array value. Its elements are held in the most compact Java form of their type: {@code long[]}
 * for every integer type (unsigned 64-bit values as their bit pattern), {@code float[]},
 * {@code double[]}, {@code boolean[]}, {@code String[]}, or a {@code List<GgufArray>} for nested arrays.
 */
public record GgufArray(GgufValueType elementType, Object elements) {

    public GgufArray {
        Objects.requireNonNull(elementType);
        boolean fits = switch (elementType) {
            case FLOAT32 -> elements instanceof float[];
            case FLOAT64 -> elements instanceof double[];
            case BOOL -> elements instanceof boolean[];
            case STRING -> elements instanceof String[];
            case ARRAY -> elements instanceof List<?>;
            default -> elements instanceof long[];
        };
        if (!fits) {
            throw new IllegalArgumentException(elementType + " array cannot hold " + elements.getClass().getSimpleName());
        }
    }

    public static GgufArray ofStrings(String... values) {
        return new GgufArray(GgufValueType.STRING, values);
    }

    public static GgufArray ofFloats(float... values) {
        return new GgufArray(GgufValueType.FLOAT32, values);
    }

    public static GgufArray ofInts(GgufValueType type, long... values) {
        if (!type.isInteger()) {
            throw new IllegalArgumentException(type + " is not an integer type");
        }
        return new GgufArray(type, values);
    }

    public int length() {
        return switch (elements) {
            case long[] a -> a.length;
            case float[] a -> a.length;
            case double[] a -> a.length;
            case boolean[] a -> a.length;
            case String[] a -> a.length;
            case List<?> a -> a.size();
            default -> throw new IllegalStateException();
        };
    }

    public String[] strings() {
        return (String[]) as(GgufValueType.STRING);
    }

    public float[] floats() {
        return (float[]) as(GgufValueType.FLOAT32);
    }

    /** The elements of an integer array, whatever its width. */
    public long[] integers() {
        if (!elementType.isInteger()) {
            throw new GgufException("expected an integer array, found a " + elementType + " array");
        }
        return (long[]) elements;
    }

    /** The elements of an integer array as ints, each checked to fit. */
    public int[] ints() {
        long[] values = integers();
        int[] result = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            result[i] = Math.toIntExact(values[i]);
        }
        return result;
    }

    private Object as(GgufValueType type) {
        if (elementType != type) {
            throw new GgufException("expected a " + type + " array, found a " + elementType + " array");
        }
        return elements;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof GgufArray that && elementType == that.elementType
                && Arrays.deepEquals(new Object[] {elements}, new Object[] {that.elements});
    }

    @Override
    public int hashCode() {
        return 31 * elementType.hashCode() + Arrays.deepHashCode(new Object[] {elements});
    }

    @Override
    public String toString() {
        return elementType + "[" + length() + "]";
    }
}
