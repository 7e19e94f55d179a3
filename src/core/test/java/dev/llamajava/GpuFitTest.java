package dev.llamajava;

import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The GPU layer auto-fit on synthetic device memory figures (4, 8 and 24 GB cards) for the synthetic 1B model. */
class GpuFitTest {

    static List<QuantSelector.Variant> variants = new ArrayList<>();

    @BeforeAll
    static void models() {
        System.setProperty("llama.cpp.source", TestSupport.llamaSource().toString());
        for (String q : List.of("Q4_K_M", "Q8_0", "F16")) variants.add(QuantSelector.Variant.of(SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, q, null)));
    }

    @Test
    void fitsOrSplitsByMemory() {
        long gb = 1_000_000_000L;
        for (QuantSelector.Variant v : variants) {
            for (int ctx : new int[]{4096, 131072}) {
                int previous = -1;
                for (long card : new long[]{4 * gb, 8 * gb, 24 * gb}) {
                    GpuFit.Decision d = GpuFit.decide(v, card, ctx, ContextParams.KvCacheType.F16);
                    String at = v.quant() + " ctx " + ctx + " on " + card / gb + " GB: " + d;
                    QuantSelector.Estimate whole = QuantSelector.estimate(v, ctx, 512, ContextParams.KvCacheType.F16, true, Long.MAX_VALUE, false);
                    assertEquals(whole.total(), d.needBytes(), at);
                    assertEquals(card - Math.max(256L << 20, card / 20), d.budgetBytes(), at);
                    if (whole.total() <= d.budgetBytes()) {
                        assertEquals(-1, d.layers(), at);
                    } else {
                        assertTrue(d.layers() >= 0 && d.layers() < v.layers(), at);
                        // the chosen layers fit, one more would not
                        long fixed = whole.compute() + QuantSelector.OVERHEAD_BYTES + v.outputAndEmbeddingBytes();
                        assertTrue(fixed + d.layers() * d.perLayer() <= d.budgetBytes(), at);
                        if (d.layers() < v.layers()) assertTrue(fixed + (d.layers() + 1) * d.perLayer() > d.budgetBytes(), at);
                    }
                    int effective = d.layers() < 0 ? v.layers() + 1 : d.layers();
                    assertTrue(effective >= previous, "more memory never offloads fewer layers: " + at);
                    previous = effective;
                }
            }
        }
    }

    @Test
    void autoWithoutAGpuKeepsEverythingOnTheCpu() {
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K(), ModelParams.builder().gpuLayers(ModelParams.GPU_LAYERS_AUTO).build())) {
            assertEquals(512, m.vocabSize());
        }
    }
}
