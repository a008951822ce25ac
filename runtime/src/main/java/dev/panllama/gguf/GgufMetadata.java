package dev.panllama.gguf;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The key-value metadata of a GGUF file, in file order, with typed access. A required value that is
 * missing or of the wrong type is a {@link GgufException} naming the key.
 */
public final class GgufMetadata {

    private final Map<String, GgufValue> values;

    public GgufMetadata(Map<String, GgufValue> values) {
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    public Set<String> keys() {
        return values.keySet();
    }

    public Map<String, GgufValue> asMap() {
        return values;
    }

    public boolean contains(String key) {
        return values.containsKey(key);
    }

    public Optional<GgufValue> find(String key) {
        return Optional.ofNullable(values.get(key));
    }

    private GgufValue require(String key) {
        GgufValue value = values.get(key);
        if (value == null) {
            throw new GgufException("missing metadata key " + key);
        }
        return value;
    }

    public String getString(String key) {
        return string(key, require(key));
    }

    public Optional<String> findString(String key) {
        return find(key).map(v -> string(key, v));
    }

    /** An integer of any width, checked to fit an {@code int}. */
    public int getInt(String key) {
        return toInt(key, require(key));
    }

    public Optional<Integer> findInt(String key) {
        return find(key).map(v -> toInt(key, v));
    }

    /**
     * An integer that a file may also store once per layer, as an array: the value, or the array's
     * first element. Architectures read head counts and FFN sizes this way.
     */
    public int getIntOrFirst(String key) {
        GgufValue value = require(key);
        if (value.value() instanceof GgufArray array) {
            int[] values = array.ints();
            if (values.length == 0) {
                throw new GgufException("metadata key " + key + " is an empty array");
            }
            return values[0];
        }
        return toInt(key, value);
    }

    /** As {@link #getIntOrFirst(String)}; empty when the key is missing or holds an empty array. */
    public Optional<Integer> findIntOrFirst(String key) {
        GgufValue value = values.get(key);
        if (value == null || (value.value() instanceof GgufArray array && array.length() == 0)) {
            return Optional.empty();
        }
        return Optional.of(getIntOrFirst(key));
    }

    public long getLong(String key) {
        return integer(key, require(key));
    }

    /** A FLOAT32 or FLOAT64 value (or an integer, as converters sometimes write one). */
    public float getFloat(String key) {
        return toFloat(key, require(key));
    }

    public Optional<Float> findFloat(String key) {
        return find(key).map(v -> toFloat(key, v));
    }

    public Optional<Boolean> findBool(String key) {
        return find(key).map(v -> {
            if (v.type() != GgufValueType.BOOL) {
                throw wrongType(key, v, "BOOL");
            }
            return (Boolean) v.value();
        });
    }

    public GgufArray getArray(String key) {
        return array(key, require(key));
    }

    public Optional<GgufArray> findArray(String key) {
        return find(key).map(v -> array(key, v));
    }

    private static String string(String key, GgufValue value) {
        if (value.type() != GgufValueType.STRING) {
            throw wrongType(key, value, "STRING");
        }
        return (String) value.value();
    }

    private static long integer(String key, GgufValue value) {
        if (!value.type().isInteger()) {
            throw wrongType(key, value, "an integer");
        }
        return (Long) value.value();
    }

    private static int toInt(String key, GgufValue value) {
        long raw = integer(key, value);
        if (raw != (int) raw) {
            throw new GgufException("metadata key " + key + " holds " + raw + ", which is out of range");
        }
        return (int) raw;
    }

    private static float toFloat(String key, GgufValue value) {
        return switch (value.type()) {
            case FLOAT32 -> (Float) value.value();
            case FLOAT64 -> ((Double) value.value()).floatValue();
            default -> {
                if (value.type().isInteger()) {
                    yield (float) (long) (Long) value.value();
                }
                throw wrongType(key, value, "a float");
            }
        };
    }

    private static GgufArray array(String key, GgufValue value) {
        if (value.type() != GgufValueType.ARRAY) {
            throw wrongType(key, value, "an array");
        }
        return (GgufArray) value.value();
    }

    private static GgufException wrongType(String key, GgufValue value, String expected) {
        return new GgufException("metadata key " + key + " is " + value.type() + ", expected " + expected);
    }
}
