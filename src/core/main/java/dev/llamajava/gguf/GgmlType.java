package dev.llamajava.gguf;

/**
 * ggml tensor element types as GGUF stores them, with block size and bytes per block
 * (from ggml's type traits at the pinned llama.cpp).
 */
public enum GgmlType {
    /** 32-bit float. */ F32(0, 1, 4),
    /** 16-bit float. */ F16(1, 1, 2),
    /** 4-bit, 32-blocks. */ Q4_0(2, 32, 18),
    /** 4-bit with min. */ Q4_1(3, 32, 20),
    /** 5-bit. */ Q5_0(6, 32, 22),
    /** 5-bit with min. */ Q5_1(7, 32, 24),
    /** 8-bit. */ Q8_0(8, 32, 34),
    /** 8-bit with sum. */ Q8_1(9, 32, 36),
    /** 2-bit k-quant. */ Q2_K(10, 256, 84),
    /** 3-bit k-quant. */ Q3_K(11, 256, 110),
    /** 4-bit k-quant. */ Q4_K(12, 256, 144),
    /** 5-bit k-quant. */ Q5_K(13, 256, 176),
    /** 6-bit k-quant. */ Q6_K(14, 256, 210),
    /** 8-bit k-quant. */ Q8_K(15, 256, 292),
    /** i-quant. */ IQ2_XXS(16, 256, 66),
    /** i-quant. */ IQ2_XS(17, 256, 74),
    /** i-quant. */ IQ3_XXS(18, 256, 98),
    /** i-quant. */ IQ1_S(19, 256, 50),
    /** i-quant. */ IQ4_NL(20, 32, 18),
    /** i-quant. */ IQ3_S(21, 256, 110),
    /** i-quant. */ IQ2_S(22, 256, 82),
    /** i-quant. */ IQ4_XS(23, 256, 136),
    /** int8. */ I8(24, 1, 1),
    /** int16. */ I16(25, 1, 2),
    /** int32. */ I32(26, 1, 4),
    /** int64. */ I64(27, 1, 8),
    /** 64-bit float. */ F64(28, 1, 8),
    /** i-quant. */ IQ1_M(29, 256, 56),
    /** bfloat16. */ BF16(30, 1, 2),
    /** ternary. */ TQ1_0(34, 256, 54),
    /** ternary. */ TQ2_0(35, 256, 66),
    /** MXFP4. */ MXFP4(39, 32, 17),
    /** NVFP4. */ NVFP4(40, 64, 36),
    /** 1-bit. */ Q1_0(41, 128, 18),
    /** 2-bit. */ Q2_0(42, 64, 18);

    private final int id;
    private final int blockSize;
    private final int typeSize;

    GgmlType(int id, int blockSize, int typeSize) {
        this.id = id;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
    }

    /** @return the {@code enum ggml_type} value */
    public int id() { return id; }

    /** @return elements per block */
    public int blockSize() { return blockSize; }

    /** @return bytes per block */
    public int typeSize() { return typeSize; }

    /** @return bits per weight */
    public double bitsPerWeight() { return typeSize * 8.0 / blockSize; }

    /**
     * @param elements element count (a multiple of the block size)
     * @return bytes
     */
    public long bytes(long elements) {
        return elements / blockSize * typeSize;
    }

    /**
     * @param id an {@code enum ggml_type} value
     * @return the type, or null when unknown
     */
    public static GgmlType byId(int id) {
        for (GgmlType t : values()) if (t.id == id) return t;
        return null;
    }
}
