package dev.llamajava;

import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Leaks: load/close cycles of the synthetic Llama-3.2-1B Q4_K_M model and context create/close cycles; RSS growth after
 * warm-up stays under 5 MB. CI runs {@code -Dllama.leak.loads} (default 30) loads and {@code -Dllama.leak.contexts}
 * (default 2,000) contexts; the issue's full figures are 200 and 10,000.
 */
class LeakTest {

    static final long LIMIT = 5L << 20;

    static int prop(String name, int def) {
        String v = System.getProperty(name);
        return v == null || v.isBlank() || v.startsWith("${") ? def : Integer.parseInt(v.trim());
    }

    @Test
    void loadCloseCyclesOfThe1BModel() throws Exception {
        Path model = SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, "Q4_K_M", null);
        int n = prop("llama.leak.loads", 30);
        List<Long> series = new ArrayList<>();
        int warm = Math.min(10, n / 4);
        for (int i = 0; i < n; i++) {
            try (LlamaModel m = LlamaModel.load(model);
                 LlamaContext c = LlamaContext.create(m, ContextParams.builder().contextSize(256).build())) {
                c.cachedTokens();
            }
            if (i % 5 == 4 || i == warm - 1) series.add(LifecycleTest.Rss.now());
        }
        check("model load/close x" + n, series);
    }

    @Test
    void contextCreateCloseCycles() throws Exception {
        int n = prop("llama.leak.contexts", 2000);
        List<Long> series = new ArrayList<>();
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K())) {
            ContextParams p = ContextParams.builder().contextSize(256).build();
            for (int i = 0; i < n; i++) {
                try (LlamaContext c = LlamaContext.create(m, p);
                     TokenStream ts = c.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(2).build())) {
                    ts.text();
                }
                if (i % (n / 20) == n / 20 - 1) series.add(LifecycleTest.Rss.now());
            }
        }
        check("context create/generate/close x" + n, series);
    }

    /** The first quarter of the series is warm-up; growth is measured from its end to the last point. */
    private static void check(String what, List<Long> series) {
        StringBuilder sb = new StringBuilder(what).append(": RSS MB");
        for (long v : series) sb.append(' ').append(String.format("%.1f", v / 1048576.0));
        System.out.println(sb);
        long base = series.get(Math.max(0, series.size() / 4 - 1));
        long growth = series.getLast() - base;
        assertTrue(growth < LIMIT, what + ": RSS grew " + (growth >> 10) + " KB after warm-up (limit 5 MB): " + sb);
    }
}
