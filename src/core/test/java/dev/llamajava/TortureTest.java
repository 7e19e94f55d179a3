package dev.llamajava;

import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Lifecycle torture: a seeded random scheduler drives 2-4 threads through random interleavings of load, create
 * context, generate, read, cancel, close stream, close context and close model on shared handles. The only outcomes
 * allowed are results and the documented exceptions; a watchdog fails the test on a stuck thread; the seed is printed.
 * Steps: {@code -Dllama.torture.steps} (default 2,000); seed: {@code -Dllama.torture.seed}.
 */
class TortureTest {

    enum Op { LOAD, CREATE_CONTEXT, GENERATE, READ, CANCEL, CLOSE_STREAM, CLOSE_CONTEXT, CLOSE_MODEL, DECODE_BATCH, TOKENIZE }

    final List<LlamaModel> models = new CopyOnWriteArrayList<>();
    final List<LlamaContext> contexts = new CopyOnWriteArrayList<>();
    final List<TokenStream> streams = new CopyOnWriteArrayList<>();
    final Map<String, AtomicInteger> outcomes = new ConcurrentHashMap<>();
    Path tiny;

    static int intProp(String name, int def) {
        String v = System.getProperty(name);
        return v == null || v.isBlank() || v.startsWith("${") ? def : Integer.parseInt(v.trim());
    }

    @AfterEach
    void defaultSampling() {
        System.clearProperty("llama.sampling.backend");
        System.clearProperty("llama.decode.ahead");
    }

    @Test
    void randomInterleavingsNeverCrashOrHang() throws Exception {
        int steps = intProp("llama.torture.steps", 2000);
        long seed = Long.getLong("llama.torture.seed", System.nanoTime());
        Random master = new Random(seed);
        int threads = 2 + master.nextInt(3);
        System.out.println("torture: seed " + seed + " (-Dllama.torture.seed=" + seed + "), " + threads + " threads, " + steps + " steps");
        // stories260K (512 tokens: host sampling by default) and the tiny synthetic model (the Llama 3 vocabulary: on a
        // CPU, tokens picked in the graph by llama-java's ops by default)
        Path model = TestSupport.stories260K();
        tiny = SyntheticModels.cached(SyntheticModel.TINY, 42, "F16", null);
        AtomicInteger next = new AtomicInteger();
        AtomicLong[] heartbeat = new AtomicLong[threads];
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            long threadSeed = master.nextLong();
            AtomicLong beat = heartbeat[t] = new AtomicLong(System.nanoTime());
            workers.add(Thread.ofPlatform().name("torture-" + t).start(() -> {
                Random r = new Random(threadSeed);
                while (next.getAndIncrement() < steps && failures.isEmpty()) {
                    beat.set(System.nanoTime());
                    Op op = Op.values()[r.nextInt(Op.values().length)];
                    try {
                        step(op, r, model);
                        count(op + " ok");
                    } catch (IllegalStateException | LlamaException | NoSuchElementException e) {
                        count(op + " " + e.getClass().getSimpleName()); // documented: closed, in use, no room, ended
                    } catch (Throwable e) {
                        failures.add(new AssertionError(op + " threw an undocumented " + e + " (seed " + seed + ")", e));
                    }
                }
                beat.set(Long.MAX_VALUE);
            }));
        }
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(8);
        for (Thread w : workers) {
            while (w.isAlive()) {
                w.join(1000);
                for (AtomicLong b : heartbeat) {
                    long last = b.get();
                    if (last != Long.MAX_VALUE && System.nanoTime() - last > TimeUnit.SECONDS.toNanos(60)) {
                        fail("a torture thread is stuck for 60 s (deadlock?), seed " + seed + "\n" + dump(workers));
                    }
                }
                if (System.nanoTime() > deadline) fail("torture did not finish in 8 minutes, seed " + seed);
            }
        }
        for (TokenStream s : streams) s.close();
        for (LlamaContext c : contexts) c.close();
        for (LlamaModel m : models) m.close();
        System.out.println("torture outcomes (seed " + seed + "): " + new TreeMap<>(outcomes));
        if (!failures.isEmpty()) throw new AssertionError(failures.getFirst());
        assertTrue(outcomes.keySet().stream().anyMatch(k -> k.startsWith("READ ok")), "some reads succeeded");
        // everything still works afterwards
        try (LlamaModel m = LlamaModel.load(model);
             LlamaContext c = LlamaContext.create(m, ContextParams.builder().contextSize(128).build());
             TokenStream s = c.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(4).build())) {
            assertEquals(4, s.result().generatedTokens());
        }
        // and so do the tiny model's tokens picked in the graph by llama-java's ops (the default there), which the torture
        // ran beside cancels and closes: the same greedy tokens as llama.cpp's own sampler on the host
        try (LlamaModel m = LlamaModel.load(tiny);
             LlamaContext c = LlamaContext.create(m, ContextParams.builder().contextSize(64).build())) {
            System.clearProperty("llama.sampling.backend");
            Greedy graph = greedy(c);
            System.setProperty("llama.sampling.backend", "off");
            Greedy host = greedy(c);
            assertTrue(graph.result().graphSampleNanos() > 0, "picked in the graph by default: " + graph.result());
            assertEquals(0, host.result().graphSampleNanos(), "picked on the host: " + host.result());
            assertEquals(host.ids(), graph.ids());
        }
    }

    private void step(Op op, Random r, Path model) {
        switch (op) {
            case LOAD -> {
                if (models.size() < 3) models.add(LlamaModel.load(r.nextBoolean() ? model : tiny));
            }
            case CREATE_CONTEXT -> {
                LlamaModel m = pick(models, r);
                if (m != null && contexts.size() < 4) contexts.add(LlamaContext.create(m, ContextParams.builder().contextSize(64 + r.nextInt(128)).build()));
            }
            case GENERATE -> {
                LlamaContext c = pick(contexts, r);
                if (c != null) {
                    SamplerParams sp = r.nextBoolean() ? SamplerParams.greedy() : SamplerParams.builder().seed(r.nextInt(100)).build();
                    // a third each: the default (llama-java's graph ops on the tiny model), llama.cpp's graph samplers
                    // (greedy: the context's chain; sampled: the stream's own, lent), the host
                    System.setProperty("llama.sampling.backend", List.of("auto", "on", "off").get(r.nextInt(3)));
                    // half decode each token before handing it over (a stop, cancel or close may then find a decode done ahead)
                    System.setProperty("llama.decode.ahead", r.nextBoolean() ? "on" : "off");
                    streams.add(c.generate(r.nextBoolean() ? "Once upon a time" : "The little dog",
                            GenerationParams.builder().sampler(sp).maxTokens(1 + r.nextInt(6)).keepCache(r.nextBoolean()).build()));
                }
            }
            case READ -> {
                TokenStream s = pick(streams, r);
                if (s != null) {
                    int n = 1 + r.nextInt(3);
                    for (int i = 0; i < n && s.hasNext(); i++) s.next();
                    if (!s.hasNext() && s.result().graphSampleNanos() > 0) count("READ to the end, tokens picked by llama-java's graph ops");
                }
            }
            case CANCEL -> {
                TokenStream s = pick(streams, r);
                if (s != null) s.cancel();
            }
            case CLOSE_STREAM -> {
                TokenStream s = pick(streams, r);
                if (s != null) {
                    s.close();
                    streams.remove(s);
                }
            }
            case CLOSE_CONTEXT -> {
                LlamaContext c = pick(contexts, r);
                if (c != null) {
                    c.close();
                    contexts.remove(c);
                }
            }
            case CLOSE_MODEL -> {
                LlamaModel m = pick(models, r);
                if (m != null) {
                    m.close();
                    models.remove(m);
                }
            }
            case DECODE_BATCH -> {
                LlamaContext c = pick(contexts, r);
                if (c != null) {
                    try (Batch b = Batch.create(4, 1)) {
                        int at = r.nextInt(32);
                        for (int i = 0; i < 1 + r.nextInt(4); i++) b.add(1 + r.nextInt(600), at + i, 0, r.nextBoolean());
                        c.decode(b);
                    } catch (IllegalArgumentException e) {
                        count("DECODE_BATCH IllegalArgumentException"); // a token outside stories260K's 512-token vocabulary
                    }
                }
            }
            case TOKENIZE -> {
                LlamaModel m = pick(models, r);
                if (m != null) m.detokenize(m.tokenize("Once upon a time"));
            }
        }
    }

    /** Greedy tokens of a short prompt, with the run's result. */
    record Greedy(List<Integer> ids, GenerationResult result) {
    }

    private static Greedy greedy(LlamaContext c) {
        try (TokenStream s = c.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(8).build())) {
            List<Integer> ids = new ArrayList<>();
            s.forEachRemaining(t -> ids.add(t.id()));
            assertEquals(8, ids.size());
            return new Greedy(List.copyOf(ids), s.result());
        }
    }

    private void count(String k) {
        outcomes.computeIfAbsent(k, x -> new AtomicInteger()).incrementAndGet();
    }

    private static <T> T pick(List<T> l, Random r) {
        try {
            return l.isEmpty() ? null : l.get(r.nextInt(l.size()));
        } catch (IndexOutOfBoundsException e) {
            return null; // another thread removed it meanwhile
        }
    }

    private static String dump(List<Thread> threads) {
        StringBuilder sb = new StringBuilder();
        for (Thread t : threads) {
            sb.append(t.getName()).append(' ').append(t.getState()).append('\n');
            for (StackTraceElement e : t.getStackTrace()) sb.append("    at ").append(e).append('\n');
        }
        return sb.toString();
    }
}
