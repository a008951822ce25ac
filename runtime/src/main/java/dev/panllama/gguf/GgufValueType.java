package dev.panllama.gguf;

/** The value types of GGUF metadata ({@code enum gguf_type}), with their sizes on disk. */
public enum GgufValueType {
    UINT8(1), INT8(1), UINT16(2), INT16(2), UINT32(4), INT32(4), FLOAT32(4), BOOL(1),
    STRING(8), ARRAY(12), UINT64(8), INT64(8), FLOAT64(8);

    private final int minimumBytes;

    GgufValueType(int minimumBytes) {
        this.minimumBytes = minimumBytes;
    }

    /** The fewest bytes a value of this type takes in a file (a string's or array's header alone). */
    int minimumBytes() {
        return minimumBytes;
    }

    public int id() {
        return ordinal();
    }

    public boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    static GgufValueType fromId(int id) {
        GgufValueType[] all = values();
        return id >= 0 && id < all.length ? all[id] : null;
    }
}
