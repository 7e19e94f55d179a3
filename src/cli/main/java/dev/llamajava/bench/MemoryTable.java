package dev.llamajava.bench;

import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaModel;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.management.ObjectName;

/**
 * Where the process's resident memory goes, measured rather than inferred: every mapping of {@code /proc/self/smaps}
 * counts its resident bytes once, in one part, so the parts add up to the resident set exactly.
 * <ul>
 *   <li>the model file's mapped pages (its path in the mapping);</li>
 *   <li>llama.cpp's weights in anonymous memory (read in, and the CPU_REPACK copy): the anonymous growth over the load,
 *       taken between a snapshot before it and one after it;</li>
 *   <li>the context (KV cache and compute buffers, as far as the runs touched them): the anonymous growth from the load
 *       to the end;</li>
 *   <li>the JVM heap: the resident pages inside its reserved range (as {@code GC.heap_info} reports it), not the
 *       committed size (committed pages nobody touched are not resident);</li>
 *   <li>native memory already there before the load (metaspace, code cache, thread stacks, malloc) and the files
 *       mapped besides the model (the JDK's and llama.cpp's libraries, the CDS archive).</li>
 * </ul>
 * Beside them, llama.cpp's buffers as it reported allocating them, and the peak ({@code VmHWM}, reset when the
 * snapshot before the load is taken) with what it held above the end (freed during the load).
 */
final class MemoryTable {

    private static final Pattern RANGE = Pattern.compile("\\[0x(\\p{XDigit}+), 0x(\\p{XDigit}+)");
    private static final Pattern MAPPING = Pattern.compile("^(\\p{XDigit}+)-(\\p{XDigit}+) \\S+ \\S+ \\S+ \\S+\\s*(.*)$");

    /** The peak's row and the one key the table always has. */
    static final String PEAK = "peak RSS";
    /**
     * The reference beside the peak: llama.cpp's own llama-bench on the same model, threads and test, with its defaults
     * (the file mapped), the largest of its measured processes' peaks as GNU time reports them.
     */
    static final String LLAMA_BENCH_PEAK = "llama-bench's peak RSS (same model and test, its defaults: the file mapped)";
    /** The sum of the resident parts (on Linux). */
    static final String NOW = "RSS now (the parts above)";

    private MemoryTable() { }

    /**
     * Resident bytes by kind at one moment.
     *
     * @param modelFile  pages of the model file's mappings
     * @param otherFiles pages of every other file mapping
     * @param heap       anonymous pages inside the JVM heap's reserved range
     * @param anonymous  every other anonymous page (llama.cpp's buffers, malloc, thread stacks, metaspace, code cache)
     */
    record Snapshot(long modelFile, long otherFiles, long heap, long anonymous) {
        long rss() {
            return modelFile + otherFiles + heap + anonymous;
        }
    }

    /** Resets {@code VmHWM} to the current resident set (Linux's {@code clear_refs} 5); nothing elsewhere. */
    static void resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException | RuntimeException ignore) {
            // not Linux, or not allowed: the peak then covers the process's life
        }
    }

    /**
     * @param model the model file, whose mappings count apart
     * @return the resident set by kind, or null off Linux
     */
    static Snapshot snapshot(Path model) {
        List<String> lines;
        try {
            lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        } catch (IOException | RuntimeException e) {
            return null;
        }
        long[] heap = heapRange();
        String modelPath = model.toAbsolutePath().normalize().toString();
        long modelFile = 0, otherFiles = 0, heapRss = 0, anonymous = 0;
        long start = 0, end = 0;
        String name = "";
        for (String l : lines) {
            Matcher m = MAPPING.matcher(l);
            if (m.matches()) {
                start = Long.parseUnsignedLong(m.group(1), 16);
                end = Long.parseUnsignedLong(m.group(2), 16);
                name = m.group(3).trim();
                continue;
            }
            if (!l.startsWith("Rss:")) continue;
            long rss = Long.parseLong(l.replaceAll("\\D", "")) * 1024;
            if (name.startsWith("/")) {
                if (name.equals(modelPath)) modelFile += rss;
                else otherFiles += rss;
            } else if (heap != null && start >= heap[0] && end <= heap[1]) {
                heapRss += rss;
            } else {
                anonymous += rss;
            }
        }
        return new Snapshot(modelFile, otherFiles, heapRss, anonymous);
    }

    /** @return the JVM heap's reserved range [start, end) as {@code GC.heap_info} prints it, or null */
    static long[] heapRange() {
        try {
            Object out = ManagementFactory.getPlatformMBeanServer().invoke(new ObjectName("com.sun.management:type=DiagnosticCommand"),
                    "gcHeapInfo", new Object[] {null}, new String[] {String[].class.getName()});
            Matcher m = RANGE.matcher(String.valueOf(out));
            if (!m.find()) return null;
            return new long[] {Long.parseUnsignedLong(m.group(1), 16), Long.parseUnsignedLong(m.group(2), 16)};
        } catch (Exception e) {
            return null;
        }
    }

    /**
     * @param model     the benchmarked model
     * @param context   its context, after the runs
     * @param modelFile the model's file
     * @param before    the snapshot before the load (null off Linux)
     * @param loaded    the snapshot after the load (null off Linux)
     * @return part name to bytes: the resident parts and their sum, the kernel's count read with them, llama.cpp's allocations, the peak
     */
    static Map<String, Long> of(LlamaModel model, LlamaContext context, Path modelFile, Snapshot before, Snapshot loaded) {
        Map<String, Long> m = new LinkedHashMap<>();
        Snapshot now = snapshot(modelFile);
        long kernel = status("VmRSS");
        long peak = status("VmHWM");
        if (now != null && before != null && loaded != null) {
            m.put("weights: model file, mapped pages", now.modelFile());
            m.put("weights: read in and repacked (anonymous growth over the load)", loaded.anonymous() - before.anonymous());
            m.put("context: KV cache, compute and the runs' other native growth (anonymous, since the load)", now.anonymous() - loaded.anonymous());
            m.put("JVM heap (resident pages)", now.heap());
            m.put("native memory before the load (metaspace, code cache, stacks, malloc)", before.anonymous());
            m.put("libraries and other mapped files", now.otherFiles());
            m.put(NOW, now.rss());
            m.put("VmRSS read with it (the kernel's own count)", kernel);
            if (peak >= 0) m.put("peak above now (freed: load-time buffers, earlier loads)", peak - now.rss());
        }
        model.weightBuffers().forEach((k, v) -> m.put("llama.cpp allocated: weights " + k, v));
        m.put("llama.cpp allocated: KV cache", sum(context.kvCacheBuffers()));
        m.put("llama.cpp allocated: compute buffers", sum(context.computeBuffers()));
        m.put(PEAK, peak);
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
