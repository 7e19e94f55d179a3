package dev.llamajava;

import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The call sequences that used to reach freed memory or a native abort (each crashed the JVM before the fix) and the
 * lifetime rules: a context pins its model, cancellation belongs to one stream, a forgotten context is freed.
 */
class LifecycleTest {

    static final GenerationParams GREEDY8 = GenerationParams.builder().greedy().maxTokens(8).build();

    static Batch prompt(LlamaModel m, String text, boolean lastLogits) {
        int[] ids = m.tokenize(text, true, false);
        Batch b = Batch.create(ids.length, 1);
        for (int i = 0; i < ids.length; i++) b.add(ids[i], i, 0, lastLogits && i == ids.length - 1);
        return b;
    }

    @Test
    void emptyPromptAfterABatchWithoutLogitsIsAnExceptionNotAnAbort() {
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K());
             LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(128).build());
             Batch b = prompt(m, "Once upon a time", false)) {
            ctx.decode(b);
            GenerationParams keep = GenerationParams.builder().greedy().maxTokens(4).keepCache(true).build();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> ctx.generate(new int[0], keep));
            assertTrue(e.getMessage().contains("no logits"), e.getMessage());
            assertThrows(LlamaException.class, () -> ctx.logits(-1));
            // the context is not left reserved or broken: with logits on the last token the same call generates
            try (Batch b2 = prompt(m, "Once upon a time", true)) {
                ctx.clearCache();
                ctx.decode(b2);
            }
            try (TokenStream ts = ctx.generate(new int[0], keep)) {
                assertEquals(4, ts.result().generatedTokens());
            }
        }
    }

    @Test
    void everyContextMethodWorksAfterTheModelIsClosed() throws Exception {
        Path state = TestSupport.workDir("lifecycle").resolve("after-model-close.state");
        LlamaModel m = LlamaModel.load(TestSupport.stories260K());
        String expected;
        try (LlamaContext ref = LlamaContext.create(m, ContextParams.builder().contextSize(128).build())) {
            expected = ref.generate("Once upon a time", GREEDY8).text();
        }
        LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(128).build());
        Sampler sampler = Sampler.create(m, SamplerParams.builder().seed(1).build());
        m.close(); // deferred: the context and the sampler pin the model
        assertTrue(m.isClosed());
        assertThrows(IllegalStateException.class, () -> m.tokenize("x"));
        assertThrows(IllegalStateException.class, () -> LlamaContext.create(m, ContextParams.defaults()));
        try (Batch b = Batch.create(4, 1)) {
            b.add(1, 0, 0, true);
            ctx.decode(b);
        }
        assertEquals(512, ctx.logits(-1).length);
        ctx.saveState(state, new int[]{1});
        assertArrayEquals(new int[]{1}, ctx.loadState(state));
        assertEquals(1, ctx.cachedTokens());
        try (TokenStream ts = ctx.generate("Once upon a time", GREEDY8)) {
            assertEquals(expected, ts.text());
        }
        sampler.accept(5);
        sampler.close();
        ctx.close();
        ctx.close(); // twice is safe
        assertThrows(IllegalStateException.class, () -> ctx.decode(Batch.create(1, 1)));
        assertThrows(IllegalStateException.class, () -> ctx.generate("x", GREEDY8));
    }

    @Test
    void cancelBelongsToOneStream() {
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K());
             LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(128).build())) {
            TokenStream first = ctx.generate("Once upon a time", GREEDY8);
            first.text();
            first.cancel(); // after the end: must not reach the next stream or decode
            try (Batch b = prompt(m, "The little dog", true)) {
                ctx.clearCache();
                ctx.decode(b); // used to fail with "llama_decode was aborted"
            }
            try (TokenStream second = ctx.generate("Once upon a time", GREEDY8)) {
                GenerationResult r = second.result();
                assertEquals(StopReason.MAX_TOKENS, r.stopReason());
                assertEquals(8, r.generatedTokens());
            }
            TokenStream third = ctx.generate("Once upon a time", GREEDY8);
            assertTrue(third.hasNext());
            third.cancel();
            assertFalse(third.hasNext());
            assertEquals(StopReason.CANCELLED, third.stopReason());
            try (TokenStream fourth = ctx.generate("Once upon a time", GREEDY8)) {
                assertEquals(8, fourth.result().generatedTokens());
            }
        }
    }

    @Test
    void cancelAfterTheContextClosedIsANoOp() {
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K())) {
            LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(128).build());
            TokenStream running = ctx.generate("Once upon a time", GREEDY8);
            assertTrue(running.hasNext());
            ctx.close(); // deferred while the stream holds it
            assertFalse(running.hasNext());
            assertEquals(StopReason.CLOSED, running.stopReason());
            running.cancel();
            running.close();
            TokenStream ended = null;
            try (LlamaContext ctx2 = LlamaContext.create(m, ContextParams.builder().contextSize(128).build())) {
                ended = ctx2.generate("Once upon a time", GREEDY8);
                ended.text();
            }
            ended.cancel();
            ended.close();
        }
    }

    /** A close from a second thread while the owner is inside llama_decode (a long prompt on the synthetic 1B model). */
    @Test
    void closeFromAnotherThreadDuringADecode() throws Exception {
        Path model = SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, "Q4_K_M", null);
        String longPrompt = "The quick brown fox jumps over the lazy dog. ".repeat(40);
        try (LlamaModel m = LlamaModel.load(model);
             LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(1024).build())) {
            int inDecode = 0;
            for (int i = 0; i < 12; i++) {
                TokenStream ts = ctx.generate(longPrompt, GenerationParams.builder().greedy().maxTokens(2).build());
                CountDownLatch started = new CountDownLatch(1);
                AtomicReference<Throwable> err = new AtomicReference<>();
                Thread reader = Thread.ofPlatform().start(() -> {
                    started.countDown();
                    try {
                        while (ts.hasNext()) ts.next();
                    } catch (Throwable t) {
                        err.set(t);
                    }
                });
                started.await();
                Thread.sleep(ThreadLocalRandom.current().nextInt(5, 120));
                ts.close();
                ts.close();
                reader.join(TimeUnit.SECONDS.toMillis(60));
                assertFalse(reader.isAlive(), "the reader did not finish after close");
                assertEquals(null, err.get());
                if (ts.stopReason() == StopReason.CANCELLED && ts.result().generatedTokens() == 0) inDecode++;
                // the context is free again and works
                try (TokenStream again = ctx.generate("Hello", GenerationParams.builder().greedy().maxTokens(1).build())) {
                    assertEquals(1, again.result().generatedTokens());
                }
            }
            assertTrue(inDecode > 0, "no close landed inside the prompt decode");
        }
    }

    /**
     * An interrupt of the thread inside a long prompt's llama_decode stops that decode (the shim polls the interrupt
     * about once a millisecond, not at every graph node): the stream ends cancelled, well before the whole prompt would
     * have been decoded, and the context works afterwards.
     */
    @Test
    void interruptStopsAPromptDecode() throws Exception {
        Path model = SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, "Q4_K_M", null);
        String longPrompt = "The quick brown fox jumps over the lazy dog. ".repeat(40);
        GenerationParams one = GenerationParams.builder().greedy().maxTokens(1).build();
        try (LlamaModel m = LlamaModel.load(model);
             LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(1024).build())) {
            long whole;
            try (TokenStream ts = ctx.generate(longPrompt, one)) {
                whole = ts.result().promptNanos();
            }
            for (int i = 0; i < 3; i++) {
                TokenStream ts = ctx.generate(longPrompt, one);
                AtomicReference<Throwable> err = new AtomicReference<>();
                AtomicLong ended = new AtomicLong();
                Thread reader = Thread.ofPlatform().start(() -> {
                    try {
                        while (ts.hasNext()) ts.next();
                    } catch (Throwable t) {
                        err.set(t);
                    }
                    ended.set(System.nanoTime());
                });
                Thread.sleep(TimeUnit.NANOSECONDS.toMillis(whole / 10)); // inside the prompt's decode
                long interrupted = System.nanoTime();
                reader.interrupt();
                reader.join(TimeUnit.SECONDS.toMillis(60));
                assertFalse(reader.isAlive(), "the reader did not finish after the interrupt");
                assertEquals(null, err.get());
                assertEquals(StopReason.CANCELLED, ts.stopReason());
                assertEquals(0, ts.result().generatedTokens());
                long after = ended.get() - interrupted;
                assertTrue(after < whole / 2, "stopped " + after / 1e6 + " ms after the interrupt; the whole prompt takes "
                        + whole / 1e6 + " ms");
                ts.close();
                try (TokenStream again = ctx.generate("Hello", one)) {
                    assertEquals(1, again.result().generatedTokens());
                }
            }
        }
    }

    /** A forgotten context is freed by the cleaner (its upcall no longer keeps it reachable) with a warning each. */
    @Test
    void forgottenContextsAreFreedByTheCleaner() throws Exception {
        List<String> warnings = new CopyOnWriteArrayList<>();
        Handler h = new Handler() {
            @Override public void publish(LogRecord r) {
                if (r.getMessage() != null && r.getMessage().startsWith("LlamaContext was not closed")) warnings.add(r.getMessage());
            }
            @Override public void flush() { }
            @Override public void close() { }
        };
        Logger jul = Logger.getLogger("dev.llamajava");
        jul.addHandler(h);
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K())) {
            // a 40 MiB KV cache each (n_ctx 32768, F32): above glibc's largest mmap threshold, so a free gives it back
            ContextParams big = ContextParams.builder().contextSize(32768).typeK(ContextParams.KvCacheType.F32)
                    .typeV(ContextParams.KvCacheType.F32).build();
            LlamaContext.create(m, big).close();
            System.gc();
            long before = Rss.now();
            long peak = before;
            for (int i = 0; i < 200; i++) {
                LlamaContext.create(m, big); // dropped without close
                if (i % 10 == 9) {
                    peak = Math.max(peak, Rss.now());
                    System.gc(); // the heap barely grows: without a GC the cleaner would never run
                }
            }
            for (int i = 0; i < 50 && warnings.size() < 200; i++) {
                System.gc();
                Thread.sleep(100);
            }
            long after = Rss.now();
            System.out.printf("forgotten contexts: RSS before %d MB, after creating 200 %d MB, after GC %d MB, warnings %d%n",
                    before >> 20, peak >> 20, after >> 20, warnings.size());
            assertEquals(200, warnings.size(), "one warning per forgotten context");
            assertTrue(peak - before > 200L << 20, "ten contexts should take 400 MB: " + ((peak - before) >> 20) + " MB");
            // 200 live contexts would hold 8 GB; freed ones hold nothing
            assertTrue(after - before < 100L << 20, "the cleaner gave the KV memory back: before " + (before >> 20)
                    + " MB, peak " + (peak >> 20) + " MB, after " + (after >> 20) + " MB");
        } finally {
            jul.removeHandler(h);
        }
    }

    /** Reads this process's resident set size. */
    static final class Rss {
        static long now() throws Exception {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmRSS:")) return Long.parseLong(l.replaceAll("\\D", "")) * 1024;
            }
            throw new IllegalStateException("no VmRSS");
        }
    }
}
