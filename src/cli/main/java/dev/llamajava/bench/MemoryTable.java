package dev.llamajava.bench;

import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaModel;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Where the process's peak resident memory goes: llama.cpp's weight buffers (as it reported them while loading: mapped
 * file, read-in, CPU_REPACK copy), the KV cache and compute buffers, the JVM's heap and its non-heap pools (committed),
 * and the rest (the native libraries, thread stacks, the allocator's slack): peak RSS ({@code VmHWM}) minus the others.
 */
final class MemoryTable {

    private MemoryTable() { }

    /**
     * @param model   the benchmarked model
     * @param context its context
     * @return part name to bytes, ending with {@code everything else} and {@code peak RSS}
     */
    static Map<String, Long> of(LlamaModel model, LlamaContext context) {
        Map<String, Long> m = new LinkedHashMap<>();
        model.weightBuffers().forEach((k, v) -> m.put("weights: " + k, v));
        m.put("KV cache", sum(context.kvCacheBuffers()));
        m.put("compute buffers", sum(context.computeBuffers()));
        long heap = 0, nonHeap = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP) heap += p.getUsage().getCommitted();
            else nonHeap += p.getUsage().getCommitted();
        }
        m.put("JVM heap (committed)", heap);
        m.put("JVM metaspace and code cache (committed)", nonHeap);
        long peak = status("VmHWM");
        long parts = m.values().stream().mapToLong(Long::longValue).sum();
        m.put("everything else", peak < 0 ? -1 : peak - parts);
        m.put("peak RSS", peak);
        return m;
    }

    private static long sum(Map<String, Long> buffers) {
        return buffers.values().stream().mapToLong(Long::longValue).sum();
    }

    /** @return a {@code /proc/self/status} value in bytes, or -1 off Linux */
    static long status(String key) {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith(key + ":")) return Long.parseLong(l.replaceAll("\\D", "")) * 1024;
            }
        } catch (IOException | RuntimeException ignore) {
            // not Linux
        }
        return -1;
    }

    /**
     * @param model the model's name
     * @param parts what {@link #of} returned
     * @return a markdown table
     */
    static String markdown(String model, Map<String, Long> parts) {
        StringBuilder sb = new StringBuilder("| " + model + " | MB |\n|---|---:|\n");
        parts.forEach((k, v) -> sb.append(String.format(Locale.ROOT, "| %s | %.1f |%n", k, v / 1048576.0)));
        return sb.toString();
    }
}
