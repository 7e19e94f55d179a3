package dev.llamajava.gguf;

/** GGUF metadata value types ({@code enum gguf_type}). */
public enum GgufValueType {
    /** uint8. */ UINT8(1),
    /** int8. */ INT8(1),
    /** uint16. */ UINT16(2),
    /** int16. */ INT16(2),
    /** uint32. */ UINT32(4),
    /** int32. */ INT32(4),
    /** float32. */ FLOAT32(4),
    /** bool. */ BOOL(1),
    /** string. */ STRING(-1),
    /** array. */ ARRAY(-1),
    /** uint64. */ UINT64(8),
    /** int64. */ INT64(8),
    /** float64. */ FLOAT64(8);

    private final int size;

    GgufValueType(int size) { this.size = size; }

    /** @return fixed size in bytes, -1 for string and array */
    public int size() { return size; }

    static GgufValueType byId(int id) {
        return id >= 0 && id < values().length ? values()[id] : null;
    }
}
