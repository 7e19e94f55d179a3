package dev.llamajava.gguf;

import java.util.Arrays;

/**
 * A tensor's entry in a GGUF file.
 *
 * @param name   tensor name
 * @param type   element type
 * @param shape  dimensions, innermost first (as ggml's ne)
 * @param offset byte offset inside the data section
 */
public record GgufTensorInfo(String name, GgmlType type, long[] shape, long offset) {

    /** Copies the shape. */
    public GgufTensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** @return number of elements */
    public long elements() {
        return elements(shape);
    }

    /** Product of the dimensions, overflow-checked. */
    static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    /** @return bytes of data */
    public long bytes() {
        return type.bytes(elements());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensorInfo t && t.name.equals(name) && t.type == type && Arrays.equals(t.shape, shape) && t.offset == offset;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(shape) + " @" + offset;
    }
}
