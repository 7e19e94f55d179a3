package dev.llamajava;

import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Leaks: load/close cycles of the synthetic Llama-3.2-1B Q4_K_M model and context create/close cycles in a child JVM;
 * the native memory allocated and not freed grows less than 4 MB after warm-up (RSS is printed beside it). CI runs {@code -Dllama.leak.loads} (default 30) loads and {@code -Dllama.leak.contexts}
 * (default 2,000) contexts; the issue's full figures are 200 and 10,000.
 */
class LeakTest {

    static final long LIMIT = 4L << 20;

    static int prop(String name, int def) {
        String v = System.getProperty(name);
        return v == null || v.isBlank() || v.startsWith("${") ? def : Integer.parseInt(v.trim());
    }

    @Test
    void loadCloseCyclesOfThe1BModel() throws Exception {
        Path model = SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, "Q4_K_M", null);
        int n = prop("llama.leak.loads", 30);
        check("model load/close x" + n, series("loads", model, n));
    }

    @Test
    void contextCreateCloseCycles() throws Exception {
        int n = prop("llama.leak.contexts", 2000);
        check("context create/generate/close x" + n, series("contexts", TestSupport.stories260K(), n));
    }

    /** One point of a run: the resident set and the bytes glibc's allocator has handed out (both in bytes). */
    record Point(long rss, long live) { }

    /**
     * Runs {@link LeakProbe} in a child JVM that keeps its own memory still: a heap fixed and touched at start
     * ({@code -Xms = -Xmx}, {@code -XX:+AlwaysPreTouch}; in the test JVM RSS climbed 177 -> 353 MB over 30 loads as
     * heap pages were touched for the first time, with a flat committed heap) and no C2 compiler
     * ({@code -XX:TieredStopAtLevel=1}; its compilations add memory in steps).
     */
    static List<Point> series(String what, Path model, int n) throws Exception {
        List<String> jvm = List.of("-Xms128m", "-Xmx128m", "-XX:+AlwaysPreTouch", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dllama.backend=cpu");
        var r = TestSupport.run(TestSupport.javaCommand(System.getProperty("java.class.path"), jvm, "dev.llamajava.LeakProbe",
                what, model.toString(), Integer.toString(n)), null, null, 1800);
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        List<Point> series = r.stdout().lines().filter(l -> l.startsWith("RSS ")).map(l -> l.split(" "))
                .map(f -> new Point(Long.parseLong(f[1]), Long.parseLong(f[3]))).toList();
        assertEquals(n / Math.max(1, n / 20), series.size(), r.stdout()); // a point every twentieth of the run
        return series;
    }

    /**
     * The first half of the series is warm-up; growth is measured from its end to the last point. The bar is on the
     * bytes the allocator has handed out and not had back, which is what a leak raises: at the CI size a leak of a
     * quarter of a megabyte per load, or of a kilobyte per context, fails. RSS is printed beside it, not judged: with
     * nothing leaking, glibc's retention of freed blocks moves it in steps (seen: 8-9 MB twice in 30 loads while the
     * live bytes stayed at 6.3-7.9 MB).
     */
    private static void check(String what, List<Point> series) {
        StringBuilder sb = new StringBuilder(what).append(": RSS MB");
        for (Point p : series) sb.append(' ').append(String.format("%.1f", p.rss() / 1048576.0));
        sb.append("; allocated native MB");
        for (Point p : series) sb.append(' ').append(String.format("%.2f", p.live() / 1048576.0));
        System.out.println(sb);
        Point base = series.get(Math.max(0, series.size() / 2 - 1));
        long growth = series.getLast().live() - base.live();
        assertTrue(growth < LIMIT, what + ": allocated native memory grew " + (growth >> 10) + " KB after warm-up (limit "
                + (LIMIT >> 20) + " MB): " + sb);
    }
}
