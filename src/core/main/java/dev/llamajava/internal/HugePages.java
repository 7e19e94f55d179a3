package dev.llamajava.internal;

import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Backs the weights llama.cpp reads into memory with transparent huge pages (Linux).
 *
 * <p>A CPU decode streams every weight once per token. With 4 KiB pages that is a page-table walk every 4 KiB (about
 * 200,000 per token for 0.8 GB), and the hardware prefetchers stop at each page's end; with 2 MiB pages, 512 times
 * fewer. llama.cpp allocates its CPU weight buffers with {@code posix_memalign} and never advises them, and the kernel
 * gives anonymous memory huge pages only where advised when {@code /sys/kernel/mm/transparent_hugepage/enabled} is
 * {@code madvise} (the common default). So the loader takes the process's mappings before the load, and at llama.cpp's
 * first progress callback (its buffers are allocated, not yet filled) advises {@code MADV_HUGEPAGE} on the anonymous,
 * writable ranges of at least {@link #MIN_BYTES} that did not exist before: the pages the load then faults in are huge
 * ones. Ranges of other threads that appear in that window are advised too, which changes only their page size.
 */
public final class HugePages {

    private static final Logger LOG = System.getLogger(HugePages.class.getName());
    /** The smallest new range advised: llama.cpp's weight buffers are far larger, small allocations are left alone. */
    public static final long MIN_BYTES = 16L << 20;
    private static final long HUGE = 2L << 20;
    private static final int MADV_HUGEPAGE = 14;
    private static final Path ENABLED = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
    private static final MethodHandle MADVISE = System.getProperty("os.name", "").toLowerCase().startsWith("linux")
            ? NativeMemory.libc("madvise", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT))
            : null;

    /** An address range {@code [start, end)}. @param start first byte @param end one past the last */
    public record Range(long start, long end) { }

    private HugePages() { }

    /** @return whether advised anonymous memory gets huge pages here (Linux, THP {@code always} or {@code madvise}) */
    public static boolean available() {
        if (MADVISE == null) return false;
        try {
            String mode = Files.readString(ENABLED);
            return mode.contains("[always]") || mode.contains("[madvise]");
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** @return every mapping of the process now, or an empty list where {@code /proc/self/maps} cannot be read */
    public static List<Range> mappings() {
        return parse(read(), false);
    }

    /**
     * Advises huge pages on the anonymous writable ranges of at least {@link #MIN_BYTES} that are not inside any of
     * {@code before} (taken with {@link #mappings()}), their 2 MiB-aligned interior. Never throws.
     *
     * @param before the process's mappings before the allocations to advise
     * @return bytes advised
     */
    public static long adviseNew(List<Range> before) {
        if (MADVISE == null) return 0;
        long advised = 0;
        try {
            for (Range r : subtract(parse(read(), true), before)) {
                long start = (r.start() + HUGE - 1) & -HUGE, end = r.end() & -HUGE;
                if (end - start < MIN_BYTES) continue;
                int rc = (int) MADVISE.invokeExact(MemorySegment.ofAddress(start), end - start, MADV_HUGEPAGE);
                if (rc == 0) advised += end - start;
            }
        } catch (Throwable t) {
            LOG.log(Level.DEBUG, "huge-page advice failed", t);
        }
        long total = advised;
        LOG.log(Level.DEBUG, () -> "advised huge pages on " + (total >> 20) + " MiB of new anonymous memory");
        return total;
    }

    /**
     * @param ranges sorted, disjoint ranges
     * @param minus  ranges to take out of them (any order)
     * @return what is left of {@code ranges}, sorted
     */
    public static List<Range> subtract(List<Range> ranges, List<Range> minus) {
        List<Range> cut = new ArrayList<>(minus);
        cut.sort((a, b) -> Long.compareUnsigned(a.start(), b.start()));
        List<Range> out = new ArrayList<>();
        for (Range r : ranges) {
            long s = r.start();
            for (Range m : cut) {
                if (Long.compareUnsigned(m.end(), s) <= 0) continue;
                if (Long.compareUnsigned(m.start(), r.end()) >= 0) break;
                if (Long.compareUnsigned(m.start(), s) > 0) out.add(new Range(s, m.start()));
                s = Long.compareUnsigned(m.end(), s) > 0 ? m.end() : s;
                if (Long.compareUnsigned(s, r.end()) >= 0) break;
            }
            if (Long.compareUnsigned(s, r.end()) < 0) out.add(new Range(s, r.end()));
        }
        return out;
    }

    private static String read() {
        try {
            return Files.readString(Path.of("/proc/self/maps"));
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    /**
     * @param maps          {@code /proc/self/maps}
     * @param anonymousRw   keep only private writable mappings of no file (no path, inode 0)
     * @return the mappings' ranges, in the file's (ascending) order
     */
    public static List<Range> parse(String maps, boolean anonymousRw) {
        List<Range> out = new ArrayList<>();
        for (String line : maps.split("\n")) {
            String[] f = line.trim().split("\\s+", 6);
            if (f.length < 5) continue;
            int dash = f[0].indexOf('-');
            if (dash < 0) continue;
            if (anonymousRw && (!f[1].startsWith("rw") || !f[1].endsWith("p") || !f[4].equals("0") || f.length == 6)) continue;
            try {
                out.add(new Range(Long.parseUnsignedLong(f[0].substring(0, dash), 16), Long.parseUnsignedLong(f[0].substring(dash + 1), 16)));
            } catch (NumberFormatException e) {
                // not a mapping line
            }
        }
        return out;
    }
}
