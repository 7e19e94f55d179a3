package dev.llamajava;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Generation on the real stories260K model, checked against llama.cpp's own llama-simple. */
class GenerationTest {

    static LlamaModel model;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestSupport.stories260K());
    }

    @AfterAll
    static void free() {
        model.close();
    }

    static ContextParams ctxParams(int n) {
        return ContextParams.builder().contextSize(n).batchSize(Math.max(n, 1)).microBatchSize(Math.min(n, 512)).build();
    }

    /** What llama-simple prints to stdout: the prompt's pieces (special tokens rendered) then the generated pieces. */
    static String llamaSimple(String prompt, int n) throws Exception {
        var r = TestSupport.run(List.of(TestSupport.tool("llama-simple").toString(), "-m", TestSupport.stories260K().toString(),
                "-n", Integer.toString(n), prompt), null, TestSupport.toolLogEnv(), 300);
        assertEquals(0, r.exit(), r.stderr());
        return r.stdout();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "Once upon a time|40",
            "The little dog|64",
            "Lily and Tom went to the park. They|24",
            "One day|100"})
    void greedyEqualsLlamaSimple(String prompt, int n) throws Exception {
        String expected = llamaSimple(prompt, n);
        int[] promptIds = model.tokenize(prompt, true, true);
        ByteArrayOutputStream rendered = new ByteArrayOutputStream();
        for (int id : promptIds) rendered.writeBytes(model.tokenBytes(id, true));
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(promptIds.length + n - 1));
             TokenStream ts = ctx.generate(prompt, GenerationParams.builder().greedy().maxTokens(n).build())) {
            List<Token> tokens = ts.stream().toList();
            GenerationResult r = ts.result();
            String ours = rendered.toString(StandardCharsets.UTF_8) + tokens.stream().map(Token::text).collect(Collectors.joining()) + "\n";
            assertEquals(expected, ours);
            assertTrue(r.stopReason() == StopReason.MAX_TOKENS || r.stopReason() == StopReason.END_OF_GENERATION, r.toString());
            if (r.stopReason() == StopReason.MAX_TOKENS) assertEquals(n, r.generatedTokens());
            assertEquals(promptIds.length, r.promptTokens());
            assertTrue(r.timeToFirstTokenNanos() > 0);
        }
    }

    /** llama-completion's output after the echoed prompt (it prints the prompt with SentencePiece's leading space). */
    static String llamaCompletion(List<String> samplerArgs, int n) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(TestSupport.tool("llama-completion").toString(), "-m",
                TestSupport.stories260K().toString(), "-p", "Once upon a time", "-n", Integer.toString(n), "-no-cnv", "--no-warmup"));
        cmd.addAll(samplerArgs);
        var r = TestSupport.run(cmd, null, TestSupport.toolLogEnv(), 300); // its last lines reach stdout only with the flush
        assertEquals(0, r.exit(), r.stderr());
        String echo = " Once upon a time";
        assertTrue(r.stdout().startsWith(echo), r.stdout());
        return r.stdout().substring(echo.length()).stripTrailing();
    }

    @Test
    void seededSamplingEqualsLlamaCompletion() throws Exception {
        // llama.cpp's default chain (top-k 40, top-p 0.95, min-p 0.05, temperature 0.8) with seed 42
        String theirs = llamaCompletion(List.of("--seed", "42"), 32);
        String ours;
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(128));
             TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().maxTokens(32)
                     .sampler(SamplerParams.builder().seed(42).build()).build())) {
            ours = ts.text();
        }
        assertTrue(theirs.length() > 40, theirs);
        assertTrue(ours.startsWith(theirs), "llama-completion: [" + theirs + "]\nours: [" + ours + "]");
        // temperature 1 over the whole vocabulary, seed 1234
        theirs = llamaCompletion(List.of("--seed", "1234", "--temp", "1.0", "--top-k", "0", "--top-p", "1.0", "--min-p", "0",
                "--samplers", "temperature"), 32);
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(128));
             TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().maxTokens(32)
                     .sampler(SamplerParams.builder().temperature(1f).topK(0).topP(1f).minP(0f).seed(1234).build()).build())) {
            ours = ts.text();
        }
        assertTrue(theirs.length() > 40, theirs);
        assertTrue(ours.startsWith(theirs), "llama-completion: [" + theirs + "]\nours: [" + ours + "]");
    }

    /** Repeat, frequency and presence penalties see the prompt, as in llama-completion (seeded, token for token). */
    @Test
    void penaltiesSeeThePromptLikeLlamaCompletion() throws Exception {
        String prompt = "Once upon a time, there was a little girl named Lily. She loved to play. One day, Lily";
        var r = TestSupport.run(List.of(TestSupport.tool("llama-completion").toString(), "-m", TestSupport.stories260K().toString(),
                "-p", prompt, "-n", "40", "-no-cnv", "--no-warmup", "--seed", "7", "--temp", "0.3", "--top-k", "0", "--top-p", "1.0",
                "--min-p", "0", "--repeat-penalty", "3.0", "--frequency-penalty", "1.0", "--presence-penalty", "1.5",
                "--repeat-last-n", "64"), null, TestSupport.toolLogEnv(), 300);
        assertEquals(0, r.exit(), r.stderr());
        assertTrue(r.stdout().startsWith(" " + prompt), r.stdout());
        String theirs = r.stdout().substring(prompt.length() + 1).stripTrailing();
        SamplerParams sp = SamplerParams.builder().temperature(0.3f).topK(0).topP(1f).minP(0f).seed(7)
                .penalties(64, 3.0f, 1.0f, 1.5f).build();
        String ours;
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(128));
             TokenStream ts = ctx.generate(prompt, GenerationParams.builder().maxTokens(40).sampler(sp).build())) {
            ours = ts.text();
        }
        assertTrue(theirs.length() > 40, theirs);
        assertTrue(ours.startsWith(theirs), "llama-completion: [" + theirs + "]\nours: [" + ours + "]");
    }

    @Test
    void manualDecodingWithABatch() {
        int[] ids = model.tokenize("Once upon a time", true, true);
        int first;
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(64));
             TokenStream ts = ctx.generate(ids, GenerationParams.builder().greedy().maxTokens(1).build())) {
            first = ts.next().id();
        }
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(64)); Batch b = Batch.create(16, 1)) {
            for (int i = 0; i < ids.length; i++) b.add(ids[i], i, 0, i == ids.length - 1);
            assertEquals(ids.length, b.size());
            ctx.decode(b);
            float[] logits = ctx.logits(-1);
            assertEquals(512, logits.length);
            int best = 0;
            for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
            assertEquals(first, best, "the batch's logits pick the token greedy generation picked");
            assertEquals(ids.length, ctx.cachedTokens());
            b.clear();
            assertEquals(0, b.size());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ctx.decode(b));
            assertEquals("the batch is empty", e.getMessage());
            for (int i = 0; i < 16; i++) b.add(1, i, 0, false);
            IllegalStateException full = assertThrows(IllegalStateException.class, () -> b.add(1, 16, 0, false));
            assertEquals("Batch is full (16 tokens)", full.getMessage());
            b.close();
            assertThrows(IllegalStateException.class, () -> b.add(1, 0, 0, false));
            b.close();
        }
    }

    @Test
    void modelInfo() {
        ModelInfo i = model.info();
        assertEquals("llama", i.architecture());
        assertEquals(292_800, i.parameterCount());
        assertEquals(512, i.vocabSize());
        assertEquals("SPM", i.vocabType());
        assertEquals(1, i.bos());
        assertEquals(2, i.eos());
        assertEquals(128, i.trainContext());
        assertTrue(i.chatTemplate().isEmpty());
        assertEquals(i.metadata(), model.metadata());
    }

    @Test
    void seededSamplingIsReproducibleAndSeedMatters() {
        SamplerParams a = SamplerParams.builder().temperature(1.0f).topK(0).topP(1f).minP(0f).seed(1234).build();
        SamplerParams b = a.toBuilder().seed(99).build();
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(128))) {
            List<Integer> x = ids(ctx, a, 48);
            List<Integer> y = ids(ctx, a, 48);
            List<Integer> z = ids(ctx, b, 48);
            assertEquals(x, y);
            assertNotEquals(x, z);
        }
    }

    static List<Integer> ids(LlamaContext ctx, SamplerParams sp, int n) {
        try (TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().sampler(sp).maxTokens(n).build())) {
            return ts.stream().map(Token::id).toList();
        }
    }

    @Test
    void stopStringIsMatchedAcrossTokensAndNotEmitted() {
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(128))) {
            String full;
            try (TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(60).build())) {
                full = ts.text();
            }
            // a stop string that starts inside one token and ends in a later one
            int cut = full.indexOf(' ', 10);
            String stop = full.substring(cut - 2, cut + 3);
            assertTrue(stop.length() == 5);
            try (TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(60).stop("zzz", stop).build())) {
                List<Token> tokens = ts.stream().toList();
                String text = tokens.stream().map(Token::text).collect(Collectors.joining());
                assertEquals(full.substring(0, full.indexOf(stop)), text);
                assertEquals(StopReason.STOP_STRING, ts.stopReason());
                assertEquals(text, ts.result().text());
            }
        }
    }

    @Test
    void maxTokensAndLogprobs() {
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(128));
             TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(5).logprobs(true).build())) {
            List<Token> t = new ArrayList<>();
            ts.forEachRemaining(t::add);
            assertEquals(5, t.size());
            assertEquals(StopReason.MAX_TOKENS, ts.stopReason());
            for (Token k : t) assertTrue(k.logprob() <= 0 && k.logprob() > -30, "logprob " + k.logprob());
            assertEquals(List.of(0, 1, 2, 3, 4), t.stream().map(Token::index).toList());
        }
    }

    @Test
    void cancelFromCallbackAndFromAnotherThread() throws Exception {
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(128))) {
            try (TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(100).build())) {
                List<Token> got = new ArrayList<>();
                GenerationResult r = ts.collect(tok -> {
                    got.add(tok);
                    if (got.size() == 3) ts.cancel();
                });
                assertEquals(StopReason.CANCELLED, r.stopReason());
                assertEquals(3, got.size());
            }
            // the context is usable again after a cancel
            try (TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(4).build())) {
                assertEquals(4, ts.stream().count());
            }
            // cancel before the prompt is decoded
            TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(100).build());
            Thread t = new Thread(ts::cancel);
            t.start();
            t.join();
            assertFalse(ts.hasNext());
            assertEquals(StopReason.CANCELLED, ts.stopReason());
            assertEquals(0, ts.result().generatedTokens());
        }
    }

    @Test
    void interruptCancels() {
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(128));
             TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(100).build())) {
            assertTrue(ts.hasNext());
            ts.next();
            Thread.currentThread().interrupt();
            try {
                assertFalse(ts.hasNext());
                assertEquals(StopReason.CANCELLED, ts.stopReason());
            } finally {
                Thread.interrupted();
            }
        }
    }

    @Test
    void secondConcurrentUseThrowsAndCloseReleases() {
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(128))) {
            TokenStream first = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(10).build());
            first.next();
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> ctx.generate("Hello", GenerationParams.defaults()));
            assertEquals("LlamaContext is in use by another thread or stream; a LlamaContext may be used by one thread at a time", e.getMessage());
            assertThrows(IllegalStateException.class, ctx::clearCache);
            first.close();
            assertEquals(StopReason.CANCELLED, first.stopReason());
            try (TokenStream again = ctx.generate("Hello", GenerationParams.builder().greedy().maxTokens(2).build())) {
                assertEquals(2, again.stream().count());
            }
        }
    }

    @Test
    void closeDuringGenerationFromAnotherThread() throws Exception {
        LlamaContext ctx = LlamaContext.create(model, ctxParams(128));
        TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(100).build());
        ts.next();
        Thread closer = new Thread(ctx::close);
        closer.start();
        closer.join();
        assertTrue(ctx.isClosed());
        assertFalse(ts.hasNext());
        assertEquals(StopReason.CLOSED, ts.stopReason());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ctx.generate("x", GenerationParams.defaults()));
        assertEquals("LlamaContext is closed", e.getMessage());
        ctx.close();
    }

    @Test
    void contextOverflowAndContextFull() {
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(16))) {
            int n = ctx.contextSize();
            String longPrompt = "Once upon a time ".repeat(n);
            int len = model.tokenize(longPrompt, true, true).length;
            ContextOverflowException e = assertThrows(ContextOverflowException.class,
                    () -> ctx.generate(longPrompt, GenerationParams.defaults()));
            assertEquals("the prompt has " + len + " tokens but the context holds " + n + " (ContextParams.contextSize)", e.getMessage());
            try (TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(-1).build())) {
                long count = ts.stream().count();
                assertTrue(ts.stopReason() == StopReason.CONTEXT_FULL || ts.stopReason() == StopReason.END_OF_GENERATION, ts.stopReason().toString());
                if (ts.stopReason() == StopReason.CONTEXT_FULL) assertEquals(n - model.tokenize("Once upon a time").length + 1, count);
            }
        }
    }

    @Test
    void invalidParameters() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GenerationParams.builder().maxTokens(0).build());
        assertEquals("maxTokens must be -1 or >= 1, was 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SamplerParams.builder().topP(1.5f).build());
        assertEquals("topP must be in (0, 1], was 1.5", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ContextParams.builder().threads(0).build());
        assertEquals("threads must be >= 1, was 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ContextParams.builder().batchSize(64).microBatchSize(128).build());
        assertEquals("microBatchSize (128) must be <= batchSize (64)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> GenerationParams.builder().stop("").build());
        assertEquals("stopStrings must not contain an empty string", e.getMessage());
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(64))) {
            e = assertThrows(IllegalArgumentException.class, () -> ctx.generate(new int[]{5, 99999}, GenerationParams.defaults()));
            assertEquals("prompt token 99999 is outside the vocabulary [0, 512)", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ctx.generate("x",
                    GenerationParams.builder().sampler(SamplerParams.builder().grammar("root ::= (").build()).build()));
            assertTrue(e.getMessage().startsWith("grammar does not parse: "), e.getMessage());
            // and the context is still usable
            try (TokenStream ts = ctx.generate("Once", GenerationParams.builder().greedy().maxTokens(2).build())) {
                assertEquals(2, ts.stream().count());
            }
        }
    }

    @Test
    void grammarConstrainsOutput() {
        String gbnf = "root ::= (\"yes\" | \"no\") \" \" [a-z ]+";
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(128));
             TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder()
                     .sampler(SamplerParams.builder().grammar(gbnf).seed(7).build()).maxTokens(12).build())) {
            String text = ts.text();
            assertTrue(text.matches("(yes|no)( [a-z ]*)?|yes|no|y|ye|n"), text);
        }
    }

    @Test
    void flowPublisherHonoursDemand() throws Exception {
        try (LlamaContext ctx = LlamaContext.create(model, ctxParams(128))) {
            String expected;
            try (TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(12).build())) {
                expected = ts.text();
            }
            TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(12).build());
            StringBuilder sb = new StringBuilder();
            CountDownLatch done = new CountDownLatch(1);
            AtomicReference<Throwable> err = new AtomicReference<>();
            ts.publisher().subscribe(new Flow.Subscriber<>() {
                Flow.Subscription s;
                @Override public void onSubscribe(Flow.Subscription s) { this.s = s; s.request(1); }
                @Override public void onNext(Token t) { sb.append(t.text()); s.request(1); }
                @Override public void onError(Throwable t) { err.set(t); done.countDown(); }
                @Override public void onComplete() { done.countDown(); }
            });
            assertTrue(done.await(60, TimeUnit.SECONDS));
            assertEquals(null, err.get());
            assertEquals(expected, sb.toString());
        }
    }

    @Test
    void useAfterCloseOfModel() {
        LlamaModel m = LlamaModel.load(TestSupport.stories260K());
        m.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> LlamaContext.create(m, ctxParams(64)));
        assertEquals("LlamaModel is closed", e.getMessage());
    }
}
