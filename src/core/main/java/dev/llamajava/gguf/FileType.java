package dev.llamajava.gguf;

import java.util.Map;

/** llama.cpp's {@code enum llama_ftype} names, as GGUF's {@code general.file_type} stores them. */
public final class FileType {

    private FileType() { }

    static final Map<Integer, String> NAMES = Map.ofEntries(
            Map.entry(0, "F32"), Map.entry(1, "F16"), Map.entry(2, "Q4_0"), Map.entry(3, "Q4_1"), Map.entry(7, "Q8_0"),
            Map.entry(8, "Q5_0"), Map.entry(9, "Q5_1"), Map.entry(10, "Q2_K"), Map.entry(11, "Q3_K_S"), Map.entry(12, "Q3_K_M"),
            Map.entry(13, "Q3_K_L"), Map.entry(14, "Q4_K_S"), Map.entry(15, "Q4_K_M"), Map.entry(16, "Q5_K_S"),
            Map.entry(17, "Q5_K_M"), Map.entry(18, "Q6_K"), Map.entry(19, "IQ2_XXS"), Map.entry(20, "IQ2_XS"),
            Map.entry(21, "Q2_K_S"), Map.entry(22, "IQ3_XS"), Map.entry(23, "IQ3_XXS"), Map.entry(24, "IQ1_S"),
            Map.entry(25, "IQ4_NL"), Map.entry(26, "IQ3_S"), Map.entry(27, "IQ3_M"), Map.entry(28, "IQ2_S"),
            Map.entry(29, "IQ2_M"), Map.entry(30, "IQ4_XS"), Map.entry(31, "IQ1_M"), Map.entry(32, "BF16"),
            Map.entry(36, "TQ1_0"), Map.entry(37, "TQ2_0"), Map.entry(38, "MXFP4_MOE"), Map.entry(39, "NVFP4"),
            Map.entry(40, "Q1_0"), Map.entry(41, "Q2_0"));

    /**
     * @param ftype a {@code llama_ftype} value
     * @return its name, or null when unknown
     */
    public static String name(int ftype) {
        return NAMES.get(ftype);
    }

    /**
     * @param name a name such as {@code Q4_K_M} (case-insensitive)
     * @return its {@code llama_ftype} value
     * @throws IllegalArgumentException when unknown; the message lists the known names
     */
    public static int byName(String name) {
        for (Map.Entry<Integer, String> e : NAMES.entrySet()) if (e.getValue().equalsIgnoreCase(name)) return e.getKey();
        throw new IllegalArgumentException("unknown quantization type '" + name + "'; known: "
                + NAMES.entrySet().stream().sorted(Map.Entry.comparingByKey()).map(Map.Entry::getValue).toList());
    }
}
