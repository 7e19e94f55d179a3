package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * On a CPU, with {@code llama.sampling.backend=auto} (the default), streams pick greedy tokens and llama.cpp's default
 * chain inside the decode's graph with llama-java's ops ({@code llamajava_graph_sampler_init}): the compute threads
 * scan slices of the logits row, one merges and picks. The references are llama.cpp's own: its greedy sampler and its
 * sampler chain ({@code llama_sampler_sample}) on the raw logits of a second context fed the same batches. Greedy
 * streams and engine slots pick in the graph by default only over a large vocabulary
 * ({@link BackendGreedy#OPS_MIN_VOCAB}); the ops themselves are checked on both. The tiny synthetic model has the Llama 3 vocabulary (128,256 logits: 4 threads cut the
 * row into 4 slices, so the merge decides); stories260K has 512 (one slice).
 */
class GraphOpsSamplingTest {

    static LlamaModel tiny;
    static LlamaModel stories;

    @BeforeAll
    static void load() {
        tiny = LlamaModel.load(SyntheticModels.cached(SyntheticModel.TINY, 42, "F16", null), ModelParams.builder().gpuLayers(0).build());
        stories = LlamaModel.load(TestSupport.stories260K(), ModelParams.builder().gpuLayers(0).build());
    }

    @AfterAll
    static void free() {
        tiny.close();
        stories.close();
    }

    static ContextParams params() {
        return ContextParams.builder().contextSize(256).threads(4).build();
    }

    /** llama.cpp's chain for these settings, built with its own calls (greedy: its greedy sampler). */
    static MemorySegment reference(SamplerParams p) {
        if (!p.isGreedy()) return TopKPrefilterTest.reference(p);
        MemorySegment chain = llama_h.llama_sampler_chain_init(llama_h.llama_sampler_chain_default_params(Arena.ofAuto()));
        llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_greedy());
        return chain;
    }

    @Test
    void theGraphPicksWhatLlamaCppPicksFromTheWholeVocabulary() {
        assertEquals(128_256, tiny.vocabSize());
        assertEquals(6 * 8 * 6, picksLikeLlamaCpp(tiny));
    }

    @Test
    void theGraphPicksWhatLlamaCppPicksFromAShortVocabulary() {
        assertEquals(512, stories.vocabSize());
        // k = 1024 is past the vocabulary (no top-k: the host samples it): five settings
        assertEquals(5 * 8 * 6, picksLikeLlamaCpp(stories));
    }

    /**
     * Two contexts fed the same batches: ours with the chain of llama-java's ops set for its sequence (no raw logits
     * leave its graph), the reference without (llama.cpp's chain samples its raw logits).
     *
     * @return the picks compared
     */
    static int picksLikeLlamaCpp(LlamaModel model) {
        int n = model.vocabSize();
        int picks = 0;
        int distinct = 0;
        List<SamplerParams.Builder> settings = List.of(SamplerParams.builder().temperature(0f), SamplerParams.builder(),
                SamplerParams.builder().topK(5), SamplerParams.builder().topK(200).temperature(1.5f),
                SamplerParams.builder().topK(64).topP(0.3f).minP(0.5f).temperature(0.2f),
                SamplerParams.builder().topK(Sampler.GRAPH_OPS_MAX_K).topP(1.0f).minP(0f).temperature(3f));
        // one chain of llama-java's ops stays set on our context, set to each chain's settings in turn, as a context's is
        BackendGreedy graph = new BackendGreedy(0);
        try (LlamaContext ours = LlamaContext.create(model, params()); LlamaContext ref = LlamaContext.create(model, params())) {
            for (SamplerParams.Builder b : settings) {
                if (b.seed(1).build().topK() >= n) continue;
                for (int seed = 1; seed <= 8; seed++) {
                    SamplerParams p = b.seed(seed).build();
                    MemorySegment theirs = reference(p);
                    try (Sampler sampler = p.isGreedy() ? null : Sampler.create(model, p); var o = ours.use()) {
                        assertTrue(graph.placeFor(o.ptr(), BackendGreedy.Place.OPS, false, sampler, true), "llama-java's ops take " + p);
                    }
                    try {
                        int[] prompt = {1 + seed, (100 + seed * 7) % n, (5000 + seed * 13) % n};
                        ours.clearCache();
                        ref.clearCache();
                        Set<Integer> seen = new HashSet<>();
                        for (int step = 0; step < 6; step++) {
                            TopKPrefilterTest.feed(ours, prompt, step);
                            TopKPrefilterTest.feed(ref, prompt, step);
                            int got;
                            int want;
                            try (var o = ours.use(); var r = ref.use()) {
                                got = graph.sampledAt(o.ptr(), -1, n);
                                want = llama_h.llama_sampler_sample(theirs, r.ptr(), -1);
                                assertEquals(llama_h.llama_get_sampled_token_ith(o.ptr(), -1), got, "the ops' own record is llama.cpp's");
                            }
                            assertEquals(want, got, p + ", step " + step);
                            seen.add(got);
                            picks++;
                        }
                        distinct += seen.size();
                    } finally {
                        llama_h.llama_sampler_free(theirs);
                    }
                }
            }
            try (var o = ours.use()) {
                graph.detach(o.ptr()); // frees its chain
            }
        }
        // 6 picks per chain: the inputs vary, so equality says something
        assertTrue(distinct > picks / 3, "the picks vary (" + distinct + " distinct of " + picks + ")");
        return picks;
    }

    /**
     * llama.cpp's chain for these settings on the raw logits of a context of its own (no sampler in its graph), token by
     * token.
     *
     * @return the n tokens it picks after the prompt
     */
    static int[] llamaCpp(LlamaModel model, int[] prompt, int n, SamplerParams p) {
        int[] out = new int[n];
        MemorySegment greedy = reference(p);
        try (LlamaContext ref = LlamaContext.create(model, params())) {
            for (int i = 0; i < n; i++) {
                try (Batch batch = Batch.create(prompt.length, 1)) {
                    if (i == 0) {
                        for (int j = 0; j < prompt.length; j++) batch.add(prompt[j], j, 0, j == prompt.length - 1);
                    } else {
                        batch.add(out[i - 1], prompt.length + i - 1, 0, true);
                    }
                    ref.decode(batch);
                }
                try (var r = ref.use()) {
                    out[i] = llama_h.llama_sampler_sample(greedy, r.ptr(), -1);
                }
            }
        } finally {
            llama_h.llama_sampler_free(greedy);
        }
        return out;
    }

    static int[] ids(TokenStream ts) {
        return ts.stream().filter(t -> t.id() >= 0).mapToInt(Token::id).toArray();
    }

    @Test
    void streamsOverTheLlama3VocabularyPickInTheGraphByDefault() {
        int[] prompt = {128000, 791, 2697, 5679, 374};
        int n = 40;
        SamplerParams chain = SamplerParams.builder().seed(7).build();
        int[] expected = llamaCpp(tiny, prompt, n, SamplerParams.greedy());
        int[] drawn = llamaCpp(tiny, prompt, n, chain);
        assertFalse(Arrays.equals(expected, drawn));
        for (String place : new String[] {null, "off"}) {
            String saved = System.getProperty("llama.sampling.backend");
            if (place != null) System.setProperty("llama.sampling.backend", place);
            // greedy, sampled, greedy again on one context: the context's chain is set to each stream's settings
            try (LlamaContext ctx = LlamaContext.create(tiny, params())) {
                for (SamplerParams sp : List.of(SamplerParams.greedy(), chain, SamplerParams.greedy())) {
                    try (TokenStream ts = ctx.generate(prompt, GenerationParams.builder().sampler(sp).maxTokens(n).ignoreEos(true).build())) {
                        assertArrayEquals(sp.isGreedy() ? expected : drawn, ids(ts), "llama.sampling.backend=" + place + ", " + sp);
                        GenerationResult r = ts.result();
                        if (place == null) assertTrue(r.graphSampleNanos() > 0, "picked in the graph: " + r);
                        else assertEquals(0, r.graphSampleNanos(), "picked on the host: " + r);
                    }
                }
                // the last decode kept no logits (its token was picked in the graph): a sampled stream cannot start
                // from it without a prompt, and says so
                if (place == null) {
                    try (TokenStream ts = ctx.generate(new int[0], GenerationParams.builder().sampler(chain).maxTokens(2).keepCache(true).build())) {
                        fail("a sampled stream has no logits to start from: " + ts.text());
                    } catch (IllegalStateException expectedError) {
                        assertTrue(expectedError.getMessage().contains("kept no logits"), expectedError.getMessage());
                    }
                }
            } finally {
                if (saved == null) System.clearProperty("llama.sampling.backend");
                else System.setProperty("llama.sampling.backend", saved);
            }
        }
        // a 512-token vocabulary stays on the host by default
        try (LlamaContext ctx = LlamaContext.create(stories, params());
             TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(8).build())) {
            ts.text();
            assertEquals(0, ts.result().graphSampleNanos());
        }
    }

    @Test
    void engineSlotsOverTheLlama3VocabularyPickInTheGraph() {
        int[][] prompts = {{128000, 791, 2697}, {128000, 9906, 1917, 13}, {128000, 3923}};
        int n = 24;
        try (Engine e = Engine.create(tiny, EngineParams.builder().slots(3).slotContext(128).context(params()).build())) {
            List<TokenStream> streams = new ArrayList<>();
            for (int[] p : prompts) streams.add(e.generate(p, GenerationParams.builder().greedy().maxTokens(n).ignoreEos(true).build()));
            for (int i = 0; i < prompts.length; i++) assertArrayEquals(llamaCpp(tiny, prompts[i], n, SamplerParams.greedy()), ids(streams.get(i)), "prompt " + i);
            assertTrue(e.stats().graphSampledTokens() >= (long) prompts.length * n, e.stats().toString());
        }
    }
}
