package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * On a CPU, with {@code llama.sampling.backend=auto} (the default), streams pick greedy tokens and llama.cpp's default
 * chain inside the decode's graph with llama-java's ops ({@code llamajava_graph_sampler_init}): the compute threads
 * scan slices of the logits row, one merges and picks. The references are llama.cpp's own: its greedy sampler and its
 * sampler chain ({@code llama_sampler_sample}) on the raw logits of a second context fed the same batches, and
 * {@code llama-simple}'s text. The tiny synthetic model has the Llama 3 vocabulary (128,256 logits: 4 threads cut the
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
        MemorySegment chain = llama_h.llama_sampler_chain_init(llama_h.llama_sampler_chain_default_params(Arena.ofAuto()));
        if (p.isGreedy()) {
            llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_greedy());
            return chain;
        }
        llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_top_k(p.topK()));
        if (p.topP() < 1.0f) llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_top_p(p.topP(), 1));
        if (p.minP() > 0.0f) llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_min_p(p.minP(), 1));
        llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_temp(p.temperature()));
        llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_dist(p.seed()));
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
        try (LlamaContext ours = LlamaContext.create(model, params()); LlamaContext ref = LlamaContext.create(model, params())) {
            for (SamplerParams.Builder b : settings) {
                if (b.seed(1).build().topK() >= n) continue;
                for (int seed = 1; seed <= 8; seed++) {
                    SamplerParams p = b.seed(seed).build();
                    MemorySegment theirs = reference(p);
                    Sampler sampler = p.isGreedy() ? null : Sampler.create(model, p);
                    MemorySegment graph;
                    if (sampler == null) {
                        graph = llama_h.llamajava_graph_sampler_init(0, 1f, 0f, 0f, 0);
                    } else {
                        try (var s = sampler.use()) {
                            graph = sampler.graphChain(BackendGreedy.Place.OPS, s.ptr());
                        }
                        assertFalse(graph.equals(MemorySegment.NULL), "llama-java's ops take " + p);
                    }
                    try (var o = ours.use()) {
                        assertTrue(llama_h.llama_set_sampler(o.ptr(), 0, graph));
                    }
                    try {
                        int[] prompt = {1 + seed, (100 + seed * 7) % n, (5000 + seed * 13) % n};
                        ours.clearCache();
                        ref.clearCache();
                        Set<Integer> seen = new HashSet<>();
                        for (int step = 0; step < 6; step++) {
                            for (LlamaContext c : List.of(ours, ref)) {
                                try (Batch batch = Batch.create(8, 1)) {
                                    if (step == 0) {
                                        for (int i = 0; i < prompt.length; i++) batch.add(prompt[i], i, 0, i == prompt.length - 1);
                                    } else {
                                        batch.add(prompt[0] + step, prompt.length + step - 1, 0, true);
                                    }
                                    c.decode(batch);
                                }
                            }
                            int got;
                            int want;
                            try (var o = ours.use(); var r = ref.use()) {
                                got = llama_h.llama_get_sampled_token_ith(o.ptr(), -1);
                                want = llama_h.llama_sampler_sample(theirs, r.ptr(), -1);
                            }
                            assertEquals(want, got, p + ", step " + step);
                            seen.add(got);
                            picks++;
                        }
                        distinct += seen.size();
                    } finally {
                        try (var o = ours.use()) {
                            llama_h.llama_set_sampler(o.ptr(), 0, MemorySegment.NULL);
                        }
                        if (sampler == null) llama_h.llama_sampler_free(graph);
                        else sampler.close();
                        llama_h.llama_sampler_free(theirs);
                    }
                }
            }
        }
        // 6 picks per chain: the inputs vary, so equality says something
        assertTrue(distinct > picks / 3, "the picks vary (" + distinct + " distinct of " + picks + ")");
        return picks;
    }

    @Test
    void streamsPickInTheGraphByDefaultAndPrintLlamaSimplesText() throws Exception {
        String prompt = "Once upon a time";
        int n = 48;
        String expected = GenerationTest.llamaSimple(prompt, n);
        int[] promptIds = stories.tokenize(prompt, true, true);
        ByteArrayOutputStream rendered = new ByteArrayOutputStream();
        for (int id : promptIds) rendered.writeBytes(stories.tokenBytes(id, true));
        for (String place : new String[] {null, "off"}) {
            String saved = System.getProperty("llama.sampling.backend");
            if (place != null) System.setProperty("llama.sampling.backend", place);
            try (LlamaContext ctx = LlamaContext.create(stories, params());
                 TokenStream ts = ctx.generate(prompt, GenerationParams.builder().greedy().maxTokens(n).build())) {
                String ours = rendered.toString(StandardCharsets.UTF_8) + ts.stream().map(Token::text).collect(Collectors.joining()) + "\n";
                assertEquals(expected, ours, "llama.sampling.backend=" + place);
                GenerationResult r = ts.result();
                if (place == null) assertTrue(r.graphSampleNanos() > 0, "picked in the graph: " + r);
                else assertEquals(0, r.graphSampleNanos(), "picked on the host: " + r);
            } finally {
                if (saved == null) System.clearProperty("llama.sampling.backend");
                else System.setProperty("llama.sampling.backend", saved);
            }
        }
    }

    @Test
    void engineSlotsPickInTheGraphAndPrintLlamaSimplesText() throws Exception {
        String[] prompts = {"Once upon a time", "The little dog", "One day"};
        int n = 32;
        try (Engine e = Engine.create(stories, EngineParams.builder().slots(3).slotContext(256).context(params()).build())) {
            List<TokenStream> streams = new ArrayList<>();
            for (String p : prompts) streams.add(e.generate(p, GenerationParams.builder().greedy().maxTokens(n).build()));
            for (int i = 0; i < prompts.length; i++) {
                int[] promptIds = stories.tokenize(prompts[i], true, true);
                ByteArrayOutputStream rendered = new ByteArrayOutputStream();
                for (int id : promptIds) rendered.writeBytes(stories.tokenBytes(id, true));
                String ours = rendered.toString(StandardCharsets.UTF_8) + streams.get(i).text() + "\n";
                assertEquals(GenerationTest.llamaSimple(prompts[i], n), ours, prompts[i]);
            }
            assertTrue(e.stats().graphSampledTokens() >= (long) prompts.length * (n - 1), e.stats().toString());
        }
    }
}
