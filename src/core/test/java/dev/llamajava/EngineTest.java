package dev.llamajava;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Continuous batching: every stream of an engine under load yields the tokens the same request yields alone on a
 * plain context (whose greedy and seeded output the generation tests check against llama.cpp's own tools).
 *
 * <p>Seeded sampling is compared bit for bit on a model whose llama.cpp kernels are batch-invariant: K-quant weights
 * without the CPU repack go through ggml's own dot products, one output element at a time, whatever the number of
 * rows. Elsewhere llama.cpp picks kernels by batch shape (llamafile's tinyBLAS for two rows or more of F32/F16/Q8_0/Q4_0
 * and gemv for one, the repacked gemm and gemv, flash attention's tiled path), and those sums round differently:
 * measured here, 3 to 6 of 8 sampled streams leave the solo path at some token near a boundary of the distribution,
 * while greedy streams stay equal.
 */
class EngineTest {

    static LlamaModel stories;
    static LlamaModel tiny;
    /** Tiny synthetic model 256 wide, quantized to Q4_K_M, loaded without the CPU repack: batch-invariant kernels. */
    static LlamaModel invariant;

    /** Eight prompts of different lengths, each with its own length to generate. */
    static final String[] PROMPTS = {
            "Once upon a time", "The little dog", "Lily and Tom went to the park. They", "One day",
            "A big red ball rolled down the hill and", "Mom said", "The cat sat on the mat. It was very happy because", "Ben"};
    static final int[] LENGTHS = {40, 64, 24, 100, 33, 57, 12, 80};

    @BeforeAll
    static void load() throws Exception {
        stories = LlamaModel.load(TestSupport.stories260K());
        Path dir = TestSupport.workDir("engine");
        tiny = LlamaModel.load(TestSupport.writeTinyModel(dir.resolve("tiny-engine.gguf"), 13));
        Path f16 = dir.resolve("tiny256-F16.gguf");
        Path q = dir.resolve("tiny256-Q4_K_M.gguf");
        SyntheticModel.writeF16(f16, new SyntheticModel.Shape("tiny 256-wide synthetic", 2, 256, 512, 4, 2, 4096), 17,
                TestSupport.llamaSource().resolve("models/ggml-vocab-llama-bpe.gguf"), null);
        Quantizer.quantize(f16, q, "Q4_K_M", Quantizer.Options.defaults());
        invariant = LlamaModel.load(q, ModelParams.builder().cpuRepack(false).build());
    }

    @AfterAll
    static void free() {
        stories.close();
        tiny.close();
        invariant.close();
    }

    static LlamaModel model(String name) {
        return switch (name) {
            case "stories" -> stories;
            case "tiny" -> tiny;
            default -> invariant;
        };
    }

    static ContextParams threads() {
        return ContextParams.builder().threads(2).threadsBatch(2).build();
    }

    static GenerationParams params(int i, boolean sampled) {
        GenerationParams.Builder b = GenerationParams.builder().maxTokens(LENGTHS[i]);
        if (sampled) b.sampler(SamplerParams.builder().temperature(0.9f).topK(40).topP(0.95f).seed(1000 + i).build());
        else b.greedy();
        return b.build();
    }

    /** The ids a request yields alone, on a plain context. */
    static int[] solo(LlamaModel m, String prompt, GenerationParams p) {
        return solo(m, prompt, p, threads());
    }

    static int[] solo(LlamaModel m, String prompt, GenerationParams p, ContextParams cp) {
        try (LlamaContext ctx = LlamaContext.create(m, cp.toBuilder().contextSize(512).build());
             TokenStream ts = ctx.generate(prompt, p)) {
            return ts.stream().mapToInt(Token::id).toArray();
        }
    }

    static int[] ids(TokenStream ts) {
        try (ts) {
            return ts.stream().mapToInt(Token::id).toArray();
        }
    }

    /** Starts every request at once from its own virtual thread and returns each stream's ids. */
    static List<int[]> concurrently(Engine e, List<String> prompts, List<GenerationParams> params) throws Exception {
        CountDownLatch go = new CountDownLatch(1);
        try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<int[]>> fs = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                String p = prompts.get(i);
                GenerationParams gp = params.get(i);
                fs.add(ex.submit(() -> {
                    go.await();
                    return ids(e.generate(p, gp));
                }));
            }
            go.countDown();
            List<int[]> out = new ArrayList<>();
            for (Future<int[]> f : fs) out.add(f.get(300, TimeUnit.SECONDS));
            return out;
        }
    }

    /** Greedy on the real and the tiny model; seeded sampling on the batch-invariant one (see the class comment); both KV layouts. */
    @ParameterizedTest
    @ValueSource(strings = {"stories/greedy", "tiny/greedy", "invariant/greedy", "invariant/sampled",
            "stories/greedy/unified", "tiny/greedy/unified"})
    void eightConcurrentStreamsEqualTheirSoloStreams(String which) throws Exception {
        LlamaModel m = model(which.split("/")[0]);
        boolean sampled = which.contains("sampled");
        ContextParams cp = threads();
        List<String> prompts = Arrays.asList(PROMPTS);
        List<GenerationParams> ps = new ArrayList<>();
        for (int i = 0; i < PROMPTS.length; i++) ps.add(params(i, sampled));
        List<int[]> expected = new ArrayList<>();
        for (int i = 0; i < PROMPTS.length; i++) expected.add(solo(m, PROMPTS[i], ps.get(i), cp));
        // a small step budget, so prompts are split into chunks and decoded beside running generations
        try (Engine e = Engine.create(m, EngineParams.builder().slots(8).slotContext(256).context(cp).stepTokens(16)
                .unifiedKv(which.endsWith("unified")).build())) {
            List<int[]> got = concurrently(e, prompts, ps);
            for (int i = 0; i < PROMPTS.length; i++) {
                assertArrayEquals(expected.get(i), got.get(i), "stream " + i + " (" + PROMPTS[i] + ") under load");
            }
            Engine.Stats st = e.stats();
            assertEquals(8, st.requests());
            assertTrue(st.steps() < Arrays.stream(LENGTHS).sum(), "steps were shared between streams: " + st);
            assertEquals(expected.stream().mapToInt(a -> a.length).sum(), st.generatedTokens(), st.toString());
        }
    }

    @Test
    void moreRequestsThanSlotsWaitAndAllFinishEqualToSolo() throws Exception {
        List<String> prompts = new ArrayList<>();
        List<GenerationParams> ps = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            for (int i = 0; i < PROMPTS.length; i++) {
                prompts.add(PROMPTS[i]);
                ps.add(params(i, r == 1));
            }
        }
        try (Engine e = Engine.create(invariant, EngineParams.builder().slots(3).slotContext(256).context(threads()).queueCapacity(32).build())) {
            List<int[]> got = concurrently(e, prompts, ps);
            for (int i = 0; i < prompts.size(); i++) {
                assertArrayEquals(solo(invariant, prompts.get(i), ps.get(i)), got.get(i), "request " + i);
            }
            assertEquals(24, e.stats().requests());
            assertEquals(0, e.stats().activeSlots());
        }
    }

    @Test
    void cancellingOneStreamMidBatchLeavesTheOthersUnchanged() throws Exception {
        int[][] expected = new int[4][];
        for (int i = 0; i < 4; i++) expected[i] = solo(invariant, PROMPTS[i], params(i, true));
        try (Engine e = Engine.create(invariant, EngineParams.builder().slots(4).slotContext(256).context(threads()).build())) {
            TokenStream[] s = new TokenStream[4];
            for (int i = 0; i < 4; i++) s[i] = e.generate(PROMPTS[i], params(i, true));
            List<List<Integer>> got = new ArrayList<>();
            for (int i = 0; i < 4; i++) got.add(new ArrayList<>());
            // read round-robin; cancel stream 1 after its 10th token while the others run in the same steps
            boolean any = true;
            while (any) {
                any = false;
                for (int i = 0; i < 4; i++) {
                    if (s[i].hasNext()) {
                        got.get(i).add(s[i].next().id());
                        any = true;
                        if (i == 1 && got.get(1).size() == 10) s[1].cancel();
                    }
                }
            }
            assertEquals(StopReason.CANCELLED, s[1].stopReason());
            assertEquals(10, got.get(1).size());
            assertArrayEquals(Arrays.copyOf(expected[1], 10), got.get(1).stream().mapToInt(Integer::intValue).toArray());
            for (int i : new int[]{0, 2, 3}) {
                assertArrayEquals(expected[i], got.get(i).stream().mapToInt(Integer::intValue).toArray(), "stream " + i);
            }
            // the engine goes on serving after a cancel
            assertArrayEquals(expected[1], ids(e.generate(PROMPTS[1], params(1, true))));
        }
    }

    @Test
    void aSharedPrefixIsCopiedNotDecodedAgain() throws Exception {
        String system = "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. One day, ";
        String[] tails = {"she saw a bird", "her mom said", "a big dog came", "Lily went to"};
        GenerationParams p = GenerationParams.builder().greedy().maxTokens(30).build();
        for (boolean unified : new boolean[]{false, true}) {
        try (Engine e = Engine.create(stories, EngineParams.builder().slots(4).slotContext(512).context(threads()).unifiedKv(unified).build())) {
            int[] first = ids(e.generate(system + tails[0], p)); // leaves its cache in a slot
            assertArrayEquals(solo(stories, system + tails[0], p), first);
            List<String> prompts = new ArrayList<>();
            for (String t : tails) prompts.add(system + t);
            List<int[]> got = concurrently(e, prompts, List.of(p, p, p, p));
            for (int i = 0; i < tails.length; i++) assertArrayEquals(solo(stories, prompts.get(i), p), got.get(i), tails[i]);
            int prefix = stories.tokenize(system, true, true).length;
            Engine.Stats st = e.stats();
            assertTrue(prefix >= Engine.MIN_COPY, "prefix " + prefix);
            assertTrue(st.reusedTokens() >= 4L * (prefix - 2), "each of the 4 later prompts reused about " + prefix + " tokens: " + st);
        }
        }
        // without reuse nothing is reused, and the tokens are the same
        try (Engine e = Engine.create(stories, EngineParams.builder().slots(2).slotContext(512).context(threads()).prefixReuse(false).build())) {
            ids(e.generate(system + tails[0], p));
            assertArrayEquals(solo(stories, system + tails[1], p), ids(e.generate(system + tails[1], p)));
            assertEquals(0, e.stats().reusedTokens());
        }
    }

    @Test
    void stopStringsGrammarsAndLogprobsWorkPerStream() throws Exception {
        GenerationParams stop = GenerationParams.builder().greedy().maxTokens(80).stop(".").build();
        GenerationParams json = GenerationParams.builder().greedy().maxTokens(60).json().build();
        GenerationParams lp = GenerationParams.builder().greedy().maxTokens(20).topLogprobs(3).build();
        try (Engine e = Engine.create(tiny, EngineParams.builder().slots(3).slotContext(256).context(threads()).build())) {
            TokenStream a = e.generate("Once upon a time", stop);
            TokenStream b = e.generate("Give me JSON:", json);
            TokenStream c = e.generate("The little dog", lp);
            List<Token> ct = c.stream().toList();
            String at = a.text();
            String bt = b.text();
            try (LlamaContext ctx = LlamaContext.create(tiny, threads().toBuilder().contextSize(512).build())) {
                assertEquals(ctx.generate("Once upon a time", stop).text(), at);
                assertEquals(ctx.generate("Give me JSON:", json).text(), bt);
                List<Token> ref = ctx.generate("The little dog", lp).stream().toList();
                assertEquals(ref.size(), ct.size());
                for (int i = 0; i < ref.size(); i++) {
                    assertEquals(ref.get(i).id(), ct.get(i).id());
                    assertEquals(ref.get(i).logprob(), ct.get(i).logprob(), 1e-3); // batched sums round differently
                    assertEquals(ref.get(i).topLogprobs().size(), ct.get(i).topLogprobs().size());
                }
            }
            assertFalse(at.contains("."), at);
            if (b.result().stopReason() == StopReason.END_OF_GENERATION) new ObjectMapper().readTree(bt);
        }
    }

    @Test
    void aFullQueueThrowsAndTheEngineKeepsServing() throws Exception {
        GenerationParams longRun = GenerationParams.builder().greedy().maxTokens(2000).build();
        try (Engine e = Engine.create(stories, EngineParams.builder().slots(1).slotContext(2048).context(threads()).queueCapacity(1).build())) {
            TokenStream running = e.generate("Once upon a time", longRun);
            assertTrue(running.hasNext()); // admitted: its slot is busy
            TokenStream waiting = e.generate("One day", GenerationParams.builder().greedy().maxTokens(10).build());
            EngineBusyException busy = assertThrows(EngineBusyException.class, () -> e.generate("Ben", longRun));
            assertTrue(busy.getMessage().contains("slots are busy"), busy.getMessage());
            assertEquals(1, e.stats().rejected());
            running.close();
            assertEquals(StopReason.CANCELLED, running.stopReason());
            assertArrayEquals(solo(stories, "One day", GenerationParams.builder().greedy().maxTokens(10).build()), ids(waiting));
        }
        // with a queue timeout, generate waits for a place instead of throwing
        try (Engine e = Engine.create(stories, EngineParams.builder().slots(1).slotContext(256).context(threads())
                .queueCapacity(0).queueTimeout(Duration.ofSeconds(60)).build())) {
            TokenStream a = e.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(5).build());
            TokenStream b = e.generate("One day", GenerationParams.builder().greedy().maxTokens(5).build());
            GenerationParams five = GenerationParams.builder().greedy().maxTokens(5).build();
            assertArrayEquals(solo(stories, "Once upon a time", five), ids(a));
            assertArrayEquals(solo(stories, "One day", five), ids(b));
        }
    }

    @Test
    void badRequestsAreRefusedWithClearExceptions() {
        try (Engine e = Engine.create(stories, EngineParams.builder().slots(2).slotContext(64).context(threads()).build())) {
            GenerationParams p = GenerationParams.builder().greedy().maxTokens(5).build();
            assertThrows(IllegalArgumentException.class, () -> e.generate(new int[0], p));
            assertThrows(IllegalArgumentException.class, () -> e.generate(new int[]{1, 999_999}, p));
            ContextOverflowException o = assertThrows(ContextOverflowException.class, () -> e.generate("word ".repeat(200), p));
            assertTrue(o.getMessage().contains("slotContext"), o.getMessage());
            assertThrows(IllegalArgumentException.class, () -> e.generate("x", GenerationParams.builder()
                    .sampler(SamplerParams.builder().grammar("root ::= (").build()).build()));
            // a generation that reaches the slot's end stops with CONTEXT_FULL
            try (TokenStream s = e.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(-1).build())) {
                s.forEachRemaining(t -> { });
                assertTrue(s.stopReason() == StopReason.CONTEXT_FULL || s.stopReason() == StopReason.END_OF_GENERATION, s.stopReason().toString());
            }
            assertEquals(5, ids(e.generate("One day", p)).length);
        }
    }

    @Test
    void closeEndsRunningAndQueuedStreamsAndRefusesNewOnes() throws Exception {
        Engine e = Engine.create(stories, EngineParams.builder().slots(2).slotContext(2048).context(threads()).build());
        GenerationParams longRun = GenerationParams.builder().greedy().maxTokens(2000).build();
        List<TokenStream> streams = new ArrayList<>();
        for (int i = 0; i < 4; i++) streams.add(e.generate(PROMPTS[i], longRun));
        assertTrue(streams.getFirst().hasNext());
        e.close();
        e.close();
        for (TokenStream s : streams) {
            s.forEachRemaining(t -> { });
            assertTrue(s.stopReason() == StopReason.CLOSED || s.stopReason() == StopReason.END_OF_GENERATION, String.valueOf(s.stopReason()));
        }
        assertThrows(IllegalStateException.class, () -> e.generate("Once", longRun));
        // graceful: a shutdown with time to spare lets a short generation finish
        Engine g = Engine.create(stories, EngineParams.builder().slots(2).slotContext(256).context(threads()).build());
        TokenStream s = g.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(20).build());
        assertTrue(g.shutdown(Duration.ofSeconds(60)));
        assertArrayEquals(solo(stories, "Once upon a time", GenerationParams.builder().greedy().maxTokens(20).build()), ids(s));
    }

    @Test
    void manyThreadsCancellingAndClosingAtRandomNeverCrash() throws Exception {
        try (Engine e = Engine.create(tiny, EngineParams.builder().slots(4).slotContext(128).context(threads()).queueCapacity(8).build());
             ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 16; t++) {
                int seed = t;
                fs.add(ex.submit(() -> {
                    java.util.Random r = new java.util.Random(seed);
                    for (int k = 0; k < 6; k++) {
                        try (TokenStream s = e.generate(PROMPTS[r.nextInt(PROMPTS.length)],
                                GenerationParams.builder().greedy().maxTokens(1 + r.nextInt(40)).build())) {
                            int stopAt = r.nextInt(20);
                            int n = 0;
                            while (s.hasNext()) {
                                s.next();
                                if (n++ == stopAt) {
                                    if (r.nextBoolean()) s.cancel();
                                    else break;
                                }
                            }
                        } catch (EngineBusyException busy) {
                            Thread.sleep(5);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get(300, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (e.stats().activeSlots() > 0 && System.nanoTime() < deadline) Thread.sleep(10);
            assertEquals(0, e.stats().activeSlots());
            GenerationParams ten = GenerationParams.builder().greedy().maxTokens(10).build();
            assertArrayEquals(solo(tiny, "One day", ten), ids(e.generate("One day", ten)));
        }
    }

    @Test
    void aSequenceSavedFromOneContextContinuesInAnother() throws Exception {
        String prompt = "Lily and Tom went to the park. They";
        GenerationParams p = GenerationParams.builder().greedy().maxTokens(30).build();
        int[] expected = solo(invariant, prompt, p);
        int[] ids = invariant.tokenize(prompt, true, true);
        int[] head = Arrays.copyOf(ids, ids.length - 1);
        Path file = TestSupport.workDir("engine").resolve("seq1.state");
        try (LlamaContext a = LlamaContext.create(invariant, threads().toBuilder().contextSize(512).sequences(2).kvUnified(false).build());
             Batch b = Batch.create(512, 1)) {
            for (int i = 0; i < head.length; i++) b.add(head[i], i, 1, false);
            a.decode(b);
            assertTrue(a.saveSequence(file, 1, head) > 0);
            assertThrows(IllegalArgumentException.class, () -> a.saveSequence(file, 2, head));
        }
        // into sequence 0 of another context of the same layout (llama.cpp refuses another stream count)
        try (LlamaContext c = LlamaContext.create(invariant, threads().toBuilder().contextSize(512).sequences(2).kvUnified(false).build())) {
            assertArrayEquals(head, c.loadSequence(file, 0));
            assertEquals(head.length, c.cachedTokens());
            try (TokenStream ts = c.generate(new int[]{ids[ids.length - 1]}, p.toBuilder().keepCache(true).build())) {
                assertArrayEquals(expected, ts.stream().mapToInt(Token::id).toArray());
            }
            assertThrows(LlamaException.class, () -> c.loadSequence(file.resolveSibling("missing.state"), 0));
        }
        // a sequence saved from another model is refused, not loaded
        try (LlamaContext t = LlamaContext.create(tiny, threads().toBuilder().contextSize(512).sequences(2).kvUnified(false).build())) {
            assertThrows(LlamaException.class, () -> t.loadSequence(file, 0));
            assertEquals(0, t.cachedTokens());
        }
    }
}
