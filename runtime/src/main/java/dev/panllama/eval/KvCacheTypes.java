package dev.panllama.eval;

import dev.panllama.ggml.GgmlType;

import java.util.Locale;

/**
 * The element types of the KV cache: of its keys and of its values (llama.cpp's {@code -ctk} and
 * {@code -ctv}, which may differ: flash attention reads each in its own type), and of the keys and values
 * of the host tier of a layer whose cells are split between a device and host memory
 * ({@code --cache-type-host}, with {@code --kv-device-memory}). Every other layer's cells, a layer on the
 * CPU included, are of {@code keys} and {@code values}. Each is F16, F32, Q8_0 or Q4_0.
 *
 * @param keys       keys of a layer's cells, or of a split layer's device tier
 * @param values     values likewise
 * @param hostKeys   keys of a split layer's host tier
 * @param hostValues values of a split layer's host tier
 */
public record KvCacheTypes(GgmlType keys, GgmlType values, GgmlType hostKeys, GgmlType hostValues) {

    /** llama.cpp's default: F16 keys and values in every tier. */
    public static final KvCacheTypes F16 = of(GgmlType.F16);

    public KvCacheTypes {
        requireCacheType(keys, "-ctk");
        requireCacheType(values, "-ctv");
        requireCacheType(hostKeys, "--cache-type-host");
        requireCacheType(hostValues, "--cache-type-host");
    }

    /** Keys and values of {@code type} in every tier ({@code --cache-type}). */
    public static KvCacheTypes of(GgmlType type) {
        return new KvCacheTypes(type, type, type, type);
    }

    /** Keys of {@code keys} and values of {@code values}, the host tier of a split layer the same. */
    public static KvCacheTypes of(GgmlType keys, GgmlType values) {
        return new KvCacheTypes(keys, values, keys, values);
    }

    /** These types with the keys and values of a split layer's host tier of {@code type}. */
    public KvCacheTypes withHostTier(GgmlType type) {
        return new KvCacheTypes(keys, values, type, type);
    }

    /** Whether the host tier of a split layer is of other types than its device tier, so that attention converts it. */
    public boolean hostTierDiffers() {
        return hostKeys != keys || hostValues != values;
    }

    /** Bytes of one cell's key and value, {@code width} elements each, in a layer's first (or only) tier. */
    public long cellBytes(long width) {
        return keys.rowBytes(width) + values.rowBytes(width);
    }

    /** Bytes of one cell's key and value in a split layer's host tier. */
    public long hostCellBytes(long width) {
        return hostKeys.rowBytes(width) + hostValues.rowBytes(width);
    }

    /** The options that make these types, as a user would type them, e.g. {@code -ctk q8_0 -ctv f16 --cache-type-host q8_0}. */
    public String options() {
        String types = keys == values ? "--cache-type " + name(keys) : "-ctk " + name(keys) + " -ctv " + name(values);
        if (!hostTierDiffers()) {
            return types;
        }
        return hostKeys == hostValues ? types + " --cache-type-host " + name(hostKeys)
                : types + " and a host tier of K " + name(hostKeys) + ", V " + name(hostValues);
    }

    @Override
    public String toString() {
        String first = "K " + name(keys) + ", V " + name(values);
        return hostTierDiffers() ? first + " (host tier K " + name(hostKeys) + ", V " + name(hostValues) + ")" : first;
    }

    /** {@code text} as a cache type (f16, f32, q8_0 or q4_0, in any case), for the option {@code option}. */
    public static GgmlType parse(String text, String option) {
        GgmlType type;
        try {
            type = GgmlType.valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(option + " must be f16, f32, q8_0 or q4_0, not " + text);
        }
        requireCacheType(type, option);
        return type;
    }

    private static void requireCacheType(GgmlType type, String option) {
        if (type != GgmlType.F16 && type != GgmlType.F32 && type != GgmlType.Q8_0 && type != GgmlType.Q4_0) {
            throw new IllegalArgumentException(option + " must be f16, f32, q8_0 or q4_0, not "
                    + (type == null ? "nothing" : name(type)));
        }
    }

    private static String name(GgmlType type) {
        return type.name().toLowerCase(Locale.ROOT);
    }
}
