package dev.llamajava.internal;

import dev.llamajava.gguf.GgmlType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
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
 */
public final class CpuRepack {

    static final Set<GgmlType> AVX2_TYPES = EnumSet.of(GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.IQ4_NL, GgmlType.MXFP4);
    private static final boolean AVX2 = avx2();

    private CpuRepack() { }

    private static boolean avx2() {
        String arch = System.getProperty("os.arch", "");
        if (!arch.equals("amd64") && !arch.equals("x86_64")) return false;
        try {
            for (String l : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (l.startsWith("flags")) return (" " + l.substring(l.indexOf(':') + 1) + " ").contains(" avx2 ");
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: leave the choice to llama.cpp
        }
        return false;
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
        return AVX2 && matrix && AVX2_TYPES.contains(type) && !name.equals("token_embd.weight");
    }

    /** @return {repacked bytes, all tensor bytes} of a header, on this CPU */
    static long[] weightBytes(GgufPrecheck.Header h) {
        long repacked = 0, total = 0;
        for (GgufPrecheck.Tensor t : h.tensors) {
            long bytes = t.bytes();
            if (bytes < 0) continue;
            total += bytes;
            if (repacked(t.name(), GgmlType.byId(t.type()), t.ne())) repacked += bytes;
        }
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
