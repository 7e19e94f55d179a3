package dev.llamajava.gguf;

import java.util.List;
import java.util.Objects;

/**
 * A typed GGUF metadata value. Scalars hold a boxed Java value ({@code Long} for every integer type,
 * {@code Double} for floats, {@code Boolean}, {@code String}); arrays hold an element type and a list.
 *
 * @param type         the value's type
 * @param value        the value (a {@code List} for arrays)
 * @param elementType  for arrays, the elements' type; otherwise null
 */
public record GgufValue(GgufValueType type, Object value, GgufValueType elementType) {

    /** Checks the shape. */
    public GgufValue {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(value, "value");
        if (type == GgufValueType.ARRAY) {
            Objects.requireNonNull(elementType, "elementType");
            if (!(value instanceof List<?>)) throw new IllegalArgumentException("array value must be a List");
        }
    }

    /** @param s text @return a string value */
    public static GgufValue string(String s) { return new GgufValue(GgufValueType.STRING, s, null); }
    /** @param v value @return a uint32 value */
    public static GgufValue uint32(long v) { return new GgufValue(GgufValueType.UINT32, v, null); }
    /** @param v value @return an int32 value */
    public static GgufValue int32(long v) { return new GgufValue(GgufValueType.INT32, v, null); }
    /** @param v value @return a float32 value */
    public static GgufValue float32(double v) { return new GgufValue(GgufValueType.FLOAT32, v, null); }
    /** @param v value @return a bool value */
    public static GgufValue bool(boolean v) { return new GgufValue(GgufValueType.BOOL, v, null); }
    /** @param elementType element type @param values elements @return an array value */
    public static GgufValue array(GgufValueType elementType, List<?> values) {
        return new GgufValue(GgufValueType.ARRAY, List.copyOf(values), elementType);
    }

    /** @return the value as a long (integer types) */
    public long asLong() {
        if (value instanceof Long l) return l;
        if (value instanceof Boolean b) return b ? 1 : 0;
        throw new IllegalStateException(type + " is not an integer");
    }

    /** @return the value as a double */
    public double asDouble() {
        if (value instanceof Double d) return d;
        if (value instanceof Long l) return l;
        throw new IllegalStateException(type + " is not a number");
    }

    /** @return the value as a string */
    public String asString() {
        if (value instanceof String s) return s;
        throw new IllegalStateException(type + " is not a string");
    }

    /** @return the array's elements */
    public List<?> asList() {
        if (value instanceof List<?> l) return l;
        throw new IllegalStateException(type + " is not an array");
    }

    @Override
    public String toString() {
        if (value instanceof List<?> l) return l.size() <= 8 ? l.toString() : "[" + l.size() + " " + elementType + "]";
        return String.valueOf(value);
    }
}
