package dev.llamajava;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Greedy sampling inside llama.cpp's graph ({@code llama.sampling.backend=on}; by default only where the logits live
 * on a GPU), here on the CPU backend: the text equals llama-simple's, the stale logits of a graph-sampled decode are
 * never read, and streams that need logits get them.
 */
class BackendSamplingTest {

    static LlamaModel model;
    static String saved;

    @BeforeAll
    static void on() {
        saved = System.getProperty("llama.sampling.backend");
        System.setProperty("llama.sampling.backend", "on");
        model = LlamaModel.load(TestSupport.stories260K());
    }

    @AfterAll
    static void off() {
        model.close();
        if (saved == null) System.clearProperty("llama.sampling.backend");
        else System.setProperty("llama.sampling.backend", saved);
    }

    @Test
    void greedyInTheGraphEqualsLlamaSimple() throws Exception {
        for (String prompt : List.of("Once upon a time", "The little dog")) {
            String expected = GenerationTest.llamaSimple(prompt, 48);
            int[] ids = model.tokenize(prompt, true, true);
            ByteArrayOutputStream rendered = new ByteArrayOutputStream();
            for (int id : ids) rendered.writeBytes(model.tokenBytes(id, true));
            try (LlamaContext ctx = LlamaContext.create(model, GenerationTest.ctxParams(ids.length + 47));
                 TokenStream ts = ctx.generate(prompt, GenerationParams.builder().greedy().maxTokens(48).build())) {
                String ours = ts.stream().map(Token::text).collect(Collectors.joining());
                assertEquals(expected, rendered.toString(StandardCharsets.UTF_8) + ours + "\n");
                // the token came from the graph: llama.cpp kept no logits, and we refuse to read the stale ones
                LlamaException e = assertThrows(LlamaException.class, () -> ctx.logits(-1));
                assertTrue(e.getMessage().contains("picked its token in llama.cpp's graph"), e.getMessage());
            }
        }
    }

    /**
     * A seeded sampled stream whose chain (top-k, top-p, min-p, temperature, the draw) runs in the graph draws what
     * llama-completion draws with {@code --backend-sampling} and the same chain and seed.
     */
    @Test
    void sampledInTheGraphEqualsLlamaCompletionWithBackendSampling() throws Exception {
        for (int seed : new int[]{42, 7}) drawsInTheGraphLikeLlamaCompletion(model, seed);
        // DRY has no graph form: that chain samples on the host, and its logits are there
        try (LlamaContext ctx = LlamaContext.create(model, GenerationTest.ctxParams(128));
             TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().maxTokens(8)
                     .sampler(SamplerParams.builder().seed(1).dry(0.8f, 1.75f, 2, -1).build()).build())) {
            assertTrue(ts.text().length() > 4);
            assertEquals(model.vocabSize(), ctx.logits(-1).length);
        }
    }

    /**
     * A seeded stream with llama.cpp's default chain draws, inside the graph, what {@code llama-completion
     * --backend-sampling} draws with the same chain and seed on stories260K, and its logits never reached the host.
     */
    static void drawsInTheGraphLikeLlamaCompletion(LlamaModel model, int seed) throws Exception {
        String theirs = GenerationTest.llamaCompletion(List.of("-bs", "--seed", Integer.toString(seed), "--samplers",
                "top_k;top_p;min_p;temperature"), 32);
        try (LlamaContext ctx = LlamaContext.create(model, GenerationTest.ctxParams(128));
             TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().maxTokens(32)
                     .sampler(SamplerParams.builder().seed(seed).build()).build())) {
            String ours = ts.text();
            assertTrue(theirs.length() > 40, theirs);
            assertTrue(ours.startsWith(theirs), "llama-completion -bs: [" + theirs + "]\nours: [" + ours + "]");
            LlamaException e = assertThrows(LlamaException.class, () -> ctx.logits(-1));
            assertTrue(e.getMessage().contains("picked its token in llama.cpp's graph"), "drawn in the graph: " + e.getMessage());
        }
    }

    @Test
    void aBadSettingIsAClearException() {
        System.setProperty("llama.sampling.backend", "sometimes");
        try (LlamaContext c = LlamaContext.create(model, ContextParams.builder().contextSize(64).build())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> c.generate("Once", GenerationParams.builder().greedy().maxTokens(2).build()));
            assertEquals("llama.sampling.backend / LLAMA_BACKEND_SAMPLING must be auto, on or off, was 'sometimes'", e.getMessage());
            // sampled streams read it too; a stream with logprobs never samples in the graph, so it does not
            assertThrows(IllegalArgumentException.class,
                    () -> c.generate("Once", GenerationParams.builder().sampler(SamplerParams.builder().seed(1).build()).maxTokens(2).build()));
            // the refused streams left the context free
            try (TokenStream ts = c.generate("Once", GenerationParams.builder().greedy().logprobs(true).maxTokens(2).build())) {
                assertTrue(ts.hasNext());
            }
        } finally {
            System.setProperty("llama.sampling.backend", "on");
        }
    }

    @Test
    void streamsThatNeedLogitsGetThem() {
        GenerationParams greedy = GenerationParams.builder().greedy().maxTokens(12).build();
        GenerationParams sampled = GenerationParams.builder().sampler(SamplerParams.builder().seed(42).temperature(0.8f).build())
                .maxTokens(16).build();
        String fresh;
        try (LlamaContext c = LlamaContext.create(model, ContextParams.builder().contextSize(128).build());
             TokenStream ts = c.generate("One day", sampled)) {
            fresh = ts.text();
        }
        try (LlamaContext c = LlamaContext.create(model, ContextParams.builder().contextSize(128).build())) {
            String first;
            try (TokenStream ts = c.generate("Once upon a time", greedy)) {
                first = ts.text();
            }
            // continuing with no prompt: greedy reads the graph's last pick; a sampler needs logits that do not exist
            try (TokenStream ts = c.generate(new int[0], GenerationParams.builder().greedy().maxTokens(3).keepCache(true).build())) {
                assertTrue(ts.hasNext(), "greedy continues from the graph's token");
            }
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> c.generate(new int[0], GenerationParams.builder().sampler(SamplerParams.builder().seed(1).build()).keepCache(true).build()));
            assertTrue(e.getMessage().contains("kept no logits"), e.getMessage());
            // a sampled stream after a greedy graph-sampled one: the greedy chain detached, the stream's own chain drew (the
            // same text as on a fresh context)
            try (TokenStream ts = c.generate("One day", sampled)) {
                assertEquals(fresh, ts.text());
            }
            // logprobs need logits too
            try (TokenStream ts = c.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(12).logprobs(true).build())) {
                List<Token> tokens = ts.stream().toList();
                assertEquals(first, tokens.stream().map(Token::text).collect(Collectors.joining()));
                assertTrue(tokens.stream().allMatch(t -> Float.isFinite(t.logprob())), tokens.toString());
            }
            // a manual decode keeps its logits even after a graph-sampled stream
            try (TokenStream ts = c.generate("Once upon a time", greedy)) {
                assertEquals(first, ts.text());
            }
            int[] once = model.tokenize("Once", true, false);
            try (Batch b = Batch.create(once.length, 1)) {
                for (int i = 0; i < once.length; i++) b.add(once[i], i, 0, i == once.length - 1);
                c.clearCache();
                c.decode(b);
                assertEquals(model.vocabSize(), c.logits(-1).length);
            }
        }
    }
}
