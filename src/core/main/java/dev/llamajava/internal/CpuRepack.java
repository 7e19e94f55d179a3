package dev.llamajava.internal;

import dev.llamajava.gguf.GgmlType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Which weights llama.cpp's CPU backend copies into its {@code CPU_REPACK} buffer (interleaved for its AVX2 kernels),
 * and so whether mapping the file is worth it. A mapped file whose weights are repacked is held twice while it
 * loads: every page of the repacked tensors is read into the page cache (and counted in the process's resident
 * memory) beside the interleaved copy. Reading the file instead puts each tensor straight into its buffer: on the
 * synthetic Llama-3.2-1B Q4_K_M, peak RSS 1.03 GB instead of 1.47 GB, the same tokens per second.
 *
 * <p>The rule mirrors {@code ggml_repack_get_optimal_repack_type} of the pinned llama.cpp for x86-64 with AVX2:
 * 2-D matrix weights (not the token embedding, which is looked up by row) of type Q4_0, Q4_K, IQ4_NL or MXFP4 with
 * rows in multiples of 8. Other CPUs and types are left mapped.
 *
 * <p>On CPUs with AMX (the {@code sapphirerapids} variant), the {@code AMX} buffer comes first and takes more: matrix
 * weights of type Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_XS or F16 with a multiple of 32 rows and whole blocks per
 * row (the pinned {@code ggml-cpu/amx/amx.cpp} {@code supports_op}). A tied output layer (no {@code output.weight}:
 * the token embedding serves as both) is then held twice, the embedding for its row lookups and an AMX copy for the
 * output matmul ({@link #tiedOutputCopyBytes}).
 */
public final class CpuRepack {

    static final Set<GgmlType> AVX2_TYPES = EnumSet.of(GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.IQ4_NL, GgmlType.MXFP4);
    static final Set<GgmlType> AMX_TYPES = EnumSet.of(GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q8_0, GgmlType.Q4_K,
            GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_XS, GgmlType.F16);
    private static final String FLAGS = cpuFlags();
    private static final boolean AVX2 = FLAGS.contains(" avx2 ");
    /** The features of llama.cpp's sapphirerapids variant, the one built with AMX. */
    private static final boolean AMX = List.of("avx512f", "avx512bw", "avx512vbmi", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8")
            .stream().allMatch(f -> FLAGS.contains(" " + f + " "));

    private CpuRepack() { }

    private static String cpuFlags() {
        String arch = System.getProperty("os.arch", "");
        if (!arch.equals("amd64") && !arch.equals("x86_64")) return "";
        try {
            for (String l : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (l.startsWith("flags")) return " " + l.substring(l.indexOf(':') + 1).trim() + " ";
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: leave the choice to llama.cpp
        }
        return "";
    }

    /** @return whether the CPU has what llama.cpp's AMX kernels need */
    public static boolean amx() {
        return AMX;
    }

    /** Whether the AMX buffer takes a matrix weight of this type and shape ({@code supports_op}). */
    static boolean amxTakes(GgmlType type, long[] shape) {
        if (!AMX || type == null || !AMX_TYPES.contains(type) || shape.length < 2 || shape[1] % 32 != 0) return false;
        for (int d = 2; d < shape.length; d++) if (shape[d] != 1) return false;
        long align = switch (type) {
            case Q4_0, Q4_1, Q8_0 -> 32;
            case F16 -> 16;
            default -> 256;
        };
        return shape[0] % align == 0;
    }

    /**
     * @param names     every tensor name of a model
     * @param embdType  the token embedding's type, or null
     * @param embdShape its dimensions
     * @param bytes     its size
     * @return bytes of the AMX copy of a tied output layer on this CPU (0 without AMX, or with an {@code output.weight})
     */
    public static long tiedOutputCopyBytes(Set<String> names, GgmlType embdType, long[] embdShape, long bytes) {
        if (names.contains("output.weight") || embdType == null) return 0;
        return amxTakes(embdType, embdShape) ? bytes : 0;
    }

    /**
     * @param name  a tensor's name
     * @param type  its type
     * @param shape its dimensions
     * @return whether the CPU backend repacks it on this CPU
     */
    public static boolean repacked(String name, GgmlType type, long[] shape) {
        boolean matrix = shape.length >= 2 && shape[1] % 8 == 0;
        for (int d = 2; d < shape.length; d++) matrix &= shape[d] == 1;
        if (name.equals("token_embd.weight")) return false;
        if (amxTakes(type, shape)) return true;
        return AVX2 && matrix && AVX2_TYPES.contains(type);
    }

    /** @return {repacked bytes, all tensor bytes} of a header, on this CPU */
    static long[] weightBytes(GgufPrecheck.Header h) {
        long repacked = 0, total = 0;
        Set<String> names = new HashSet<>();
        GgufPrecheck.Tensor embd = null;
        for (GgufPrecheck.Tensor t : h.tensors) {
            names.add(t.name());
            if (t.name().equals("token_embd.weight")) embd = t;
            long bytes = t.bytes();
            if (bytes < 0) continue;
            total += bytes;
            if (repacked(t.name(), GgmlType.byId(t.type()), t.ne())) repacked += bytes;
        }
        if (embd != null && embd.bytes() > 0) repacked += tiedOutputCopyBytes(names, GgmlType.byId(embd.type()), embd.ne(), embd.bytes());
        return new long[]{repacked, total};
    }

    /**
     * @param repackedBytes bytes of the weights the CPU backend repacks
     * @param weightBytes   bytes of all weights
     * @return whether reading the file beats mapping it on a CPU-only load: at least a quarter of its weights are repacked
     */
    public static boolean preferRead(long repackedBytes, long weightBytes) {
        return weightBytes > 0 && repackedBytes * 4 >= weightBytes;
    }
}
