package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A chain that starts with top-k takes its k candidates from the shim's one pass over the logits
 * ({@code llamajava_sample_top_k}) instead of llama.cpp building a candidate for each of the 128,256 tokens, and when
 * the rest is llama.cpp's default shape the shim applies top-p, min-p and temperature itself before llama.cpp's draw
 * ({@code llamajava_sample_default_chain}). The reference is llama.cpp's own {@code llama_sampler_sample} with the same
 * chain and seed on the same logits: the tiny synthetic model (Llama 3 vocabulary: the block path) and stories260K (512
 * tokens: the short-row path, every logit a key), many seeds, k on both sides of
 * llama.cpp's 128 (its heap and its bucket sort), top-p and min-p from none to cutting to a few candidates,
 * temperatures from 0.2 to 7, a chain with typical (the chain's own samplers after top-k), several steps each so the
 * chains' random states stay in step.
 */
class TopKPrefilterTest {

    static LlamaModel tiny;
    static LlamaContext tinyCtx;
    static LlamaModel stories;
    static LlamaContext storiesCtx;

    @BeforeAll
    static void load() {
        tiny = LlamaModel.load(SyntheticModels.cached(SyntheticModel.TINY, 42, "F16", null), ModelParams.builder().gpuLayers(0).build());
        tinyCtx = LlamaContext.create(tiny, ContextParams.builder().contextSize(256).threads(2).build());
        stories = LlamaModel.load(TestSupport.stories260K(), ModelParams.builder().gpuLayers(0).build());
        storiesCtx = LlamaContext.create(stories, ContextParams.builder().contextSize(256).threads(2).build());
    }

    @AfterAll
    static void free() {
        tinyCtx.close();
        tiny.close();
        storiesCtx.close();
        stories.close();
    }

    /** llama.cpp's chain for these settings, built with its own calls, as llama-completion's sampler builds it. */
    static MemorySegment reference(SamplerParams p) {
        MemorySegment chain = llama_h.llama_sampler_chain_init(llama_h.llama_sampler_chain_default_params(Arena.ofAuto()));
        llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_top_k(p.topK()));
        if (p.typicalP() < 1.0f) llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_typical(p.typicalP(), 1));
        if (p.topP() < 1.0f) llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_top_p(p.topP(), 1));
        if (p.minP() > 0.0f) llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_min_p(p.minP(), 1));
        llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_temp(p.temperature()));
        llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_dist(p.seed()));
        return chain;
    }

    @Test
    void drawsWhatLlamaCppsSamplerDrawsFromTheWholeVocabulary() {
        assertEquals(128_256, tiny.vocabSize());
        assertEquals(10 * 12 * 6, drawsLikeLlamaCpp(tiny, tinyCtx));
    }

    @Test
    void drawsWhatLlamaCppsSamplerDrawsFromAShortVocabulary() {
        assertEquals(512, stories.vocabSize());
        // k = 2000 is past the vocabulary (no top-k to prefilter): nine settings
        assertEquals(9 * 12 * 6, drawsLikeLlamaCpp(stories, storiesCtx));
    }

    /**
     * Decodes step {@code step} of a test generation: the prompt first, then a token derived from it (the steps test the
     * draws, so their tokens need not be the drawn ones), each with its logits.
     */
    static void feed(LlamaContext ctx, int[] prompt, int step) {
        try (Batch batch = Batch.create(8, 1)) {
            if (step == 0) {
                for (int i = 0; i < prompt.length; i++) batch.add(prompt[i], i, 0, i == prompt.length - 1);
            } else {
                batch.add(prompt[0] + step, prompt.length + step - 1, 0, true);
            }
            ctx.decode(batch);
        }
    }

    /** @return the draws compared */
    static int drawsLikeLlamaCpp(LlamaModel model, LlamaContext ctx) {
        int n = model.vocabSize();
        int draws = 0;
        int distinct = 0;
        List<SamplerParams.Builder> settings = List.of(SamplerParams.builder(), SamplerParams.builder().topK(1), SamplerParams.builder().topK(5),
                SamplerParams.builder().topK(200).temperature(1.5f), SamplerParams.builder().topK(2000).topP(1.0f).minP(0f).temperature(3f),
                // top-p and min-p cutting deep, a sharp temperature; each alone; and typical (the chain's own samplers after top-k)
                SamplerParams.builder().topK(64).topP(0.3f).minP(0.5f).temperature(0.2f),
                SamplerParams.builder().topK(40).topP(0.6f).minP(0f).temperature(7f),
                SamplerParams.builder().topK(40).topP(1.0f).minP(0.3f).temperature(0.7f),
                SamplerParams.builder().topK(40).topP(1.0f).minP(0.6f).temperature(5f),
                SamplerParams.builder().topK(40).typicalP(0.5f));
        for (SamplerParams.Builder b : settings) {
            if (b.seed(1).build().topK() >= n) continue;
            for (int seed = 1; seed <= 12; seed++) {
                SamplerParams p = b.seed(seed).build();
                assertEquals(p.topK(), Sampler.leadingTopK(p, n), "the prefilter applies to " + p);
                MemorySegment theirs = reference(p);
                try (Sampler ours = Sampler.create(model, p)) {
                    int[] prompt = {1 + seed, (100 + seed * 7) % n, (5000 + seed * 13) % n};
                    ctx.clearCache();
                    Set<Integer> seen = new HashSet<>();
                    for (int step = 0; step < 6; step++) {
                        feed(ctx, prompt, step);
                        int a;
                        int want;
                        try (var c = ctx.use()) {
                            a = ours.sample(c.ptr(), -1);
                            want = llama_h.llama_sampler_sample(theirs, c.ptr(), -1);
                        }
                        assertEquals(want, a, p + ", step " + step);
                        seen.add(a);
                        draws++;
                    }
                    distinct += seen.size();
                } finally {
                    llama_h.llama_sampler_free(theirs);
                }
            }
        }
        // 6 draws per chain: more than 2 distinct tokens per chain on average
        assertTrue(distinct > draws / 3, "the draws vary (" + distinct + " distinct), so equality says something");
        return draws;
    }
}
