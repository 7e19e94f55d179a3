package dev.llamajava;

import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The memory estimate against llama.cpp's own numbers (its reported model, KV and compute buffers) for the synthetic
 * Llama-3.2-1B model at F16, Q8_0 and Q4_K_M, 4K and 32K context; and the choice at several budgets.
 */
class QuantSelectorTest {

    static final List<String> QUANTS = List.of("F16", "Q8_0", "Q4_K_M");
    static List<Path> models = new ArrayList<>();

    @BeforeAll
    static void models() {
        System.setProperty("llama.cpp.source", TestSupport.llamaSource().toString());
        for (String q : QUANTS) models.add(SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, q, null));
    }

    static void within10(long actual, long estimate, String what) {
        double err = Math.abs(estimate - actual) / (double) actual;
        assertTrue(err <= 0.10, what + ": llama.cpp " + actual + ", estimate " + estimate + " (" + Math.round(err * 1000) / 10.0 + "%)");
    }

    @Test
    void estimateIsWithinTenPercentOfLlamaCpp() {
        for (Path p : models) {
            QuantSelector.Variant v = QuantSelector.Variant.of(p);
            assertEquals(16, v.layers());
            try (LlamaModel m = LlamaModel.load(p)) {
                // llama.cpp's own figures for the Llama-3.2-1B shape: 1.24 B parameters; F16 ~2.47 GB, Q8_0 ~1.31 GB, Q4_K_M ~0.80 GB of weights
                assertEquals(1_235_814_432L, m.parameterCount());
                double gb = m.sizeBytes() / 1e9;
                double expected = switch (v.quant()) { case "F16" -> 2.47; case "Q8_0" -> 1.31; default -> 0.80; };
                assertEquals(expected, gb, 0.02, v.quant() + " size");
                if (v.quant().equals("Q4_K_M")) {
                    try (LlamaContext c = LlamaContext.create(m, ContextParams.builder().contextSize(64).build());
                         TokenStream ts = c.generate("Hello", GenerationParams.builder().greedy().maxTokens(2).logprobs(true).build())) {
                        ts.forEachRemaining(t -> assertTrue(Float.isFinite(t.logprob()), "NaN or infinite logits"));
                    }
                }
                long modelBuffers = m.weightBuffers().values().stream().mapToLong(Long::longValue).sum();
                for (int ctx : new int[]{4096, 32768}) {
                    try (LlamaContext c = LlamaContext.create(m, ContextParams.builder().contextSize(ctx).build())) {
                        QuantSelector.Estimate e = QuantSelector.estimate(v, ctx, 512, ContextParams.KvCacheType.F16, true, Long.MAX_VALUE);
                        String at = v.quant() + " at " + ctx;
                        within10(modelBuffers, e.weights(), "model buffers, " + at);
                        within10(c.kvCacheBuffers().values().stream().mapToLong(Long::longValue).sum(), e.kvCache(), "KV cache, " + at);
                        within10(c.computeBuffers().values().stream().mapToLong(Long::longValue).sum(), e.compute(), "compute buffer, " + at);
                    }
                }
            }
        }
    }

    @Test
    void choosesTheBestThatFits() {
        List<QuantSelector.Variant> vs = models.stream().map(QuantSelector.Variant::of).toList();
        QuantSelector.Selection at8 = QuantSelector.select(vs, QuantSelector.parseSize("8G"), 4096, ContextParams.KvCacheType.F16);
        assertEquals("F16", at8.chosen().variant().quant());
        QuantSelector.Selection at2 = QuantSelector.select(vs, QuantSelector.parseSize("2G"), 4096, ContextParams.KvCacheType.F16);
        assertEquals("Q8_0", at2.chosen().variant().quant());
        QuantSelector.Selection at1 = QuantSelector.select(vs, QuantSelector.parseSize("1G"), 4096, ContextParams.KvCacheType.F16);
        assertNull(at1.chosen(), at1.table());
        assertTrue(at1.table().contains("no variant fits the budget"));
        // rows are ordered by quality (bits per weight), and every row says whether it fits
        assertEquals(List.of("F16", "Q8_0", "Q4_K_M"), at2.rows().stream().map(r -> r.variant().quant()).toList());
        assertTrue(at2.table().contains("<- chosen"), at2.table());
        // at 1 GiB a GPU would hold part of the layers
        int layers = at1.rows().getLast().gpuLayers();
        assertTrue(layers > 0 && layers < 16, "Q4_K_M layers in 1 GiB: " + layers);
        // a bigger context needs more memory: at 128K the F16 KV cache alone is 4 GiB
        QuantSelector.Selection big = QuantSelector.select(vs, QuantSelector.parseSize("8G"), 131072, ContextParams.KvCacheType.F16);
        assertEquals(4L << 30, big.rows().getFirst().kvCache());
    }

    @Test
    void sizesAndBadInput() {
        assertEquals(2L << 30, QuantSelector.parseSize("2G"));
        assertEquals(512L << 20, QuantSelector.parseSize("512MiB"));
        assertEquals(1536L << 20, QuantSelector.parseSize("1.5g"));
        assertEquals(1000, QuantSelector.parseSize("1000"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> QuantSelector.parseSize("lots"));
        assertEquals("not a size: 'lots' (e.g. 2G, 512M)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> QuantSelector.select(List.of(), 1, 0, ContextParams.KvCacheType.F16));
        assertEquals("ctx must be >= 1, was 0", e.getMessage());
    }
}
