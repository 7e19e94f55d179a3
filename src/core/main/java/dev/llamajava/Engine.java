package dev.llamajava;

import dev.llamajava.NativeResource.Borrow;
import dev.llamajava.ffi.llama_batch;
import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.TokenTexts;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Many generations at once over one model: continuous batching of parallel sequences in one llama.cpp context.
 *
 * <p>Each of the {@link EngineParams#slots()} slots is a sequence of the context's (unified) KV cache. A scheduler
 * thread runs decode steps: every step gathers the next token of every running generation plus chunks of waiting
 * prompts (up to {@link EngineParams#stepTokens()} tokens, prompts taking turns) into one {@code llama_decode}, then
 * samples each generation's token from its own logits row with its own sampler (grammars, seeds, penalties), applies
 * stop strings and limits, and hands the tokens to that generation's {@link TokenStream}. Where the output layer is on
 * a GPU or an RPC server ({@code llama.sampling.backend=auto}; {@code on} forces it), each slot's sampler runs in
 * llama.cpp's graph ({@code llama_set_sampler} per sequence: a greedy chain of the slot's own, kept while greedy streams
 * follow one another, or the stream's chain lent for its life), so a step's logits never leave the device; streams that
 * need logits (log-probabilities) or a sampler without a graph form (a grammar, DRY, typical, mirostat) sample on the
 * host in the same step. A new request joins at the
 * next step; a finished or cancelled one frees its slot at once.
 *
 * <p>Callers on any number of threads (virtual threads welcome) call {@link #generate} and read their own stream.
 * When every slot is busy, requests wait in a bounded queue ({@link EngineParams#queueCapacity()}); when that is full
 * too, {@code generate} waits up to {@link EngineParams#queueTimeout()} for a place and then throws
 * {@link EngineBusyException}. With {@link EngineParams#prefixReuse()}, a prompt that starts with tokens already in
 * a slot's KV cache (a shared system prompt, a conversation's earlier turns) starts after them.
 *
 * <p>A stream's tokens are the tokens it produces alone (greedy or seeded) up to the floating-point rounding of the
 * batched matrix products, which can differ from one batch shape to the next on some backends.
 *
 * <pre>{@code
 * try (LlamaModel model = LlamaModel.load(path);
 *      Engine engine = Engine.create(model, EngineParams.builder().slots(8).build())) {
 *     // on each request's own (virtual) thread:
 *     try (TokenStream s = engine.generate(prompt, GenerationParams.builder().maxTokens(64).build())) {
 *         s.forEachRemaining(t -> send(t.text()));
 *     }
 * }
 * }</pre>
 */
public final class Engine implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger("dev.llamajava.engine");
    private static final AtomicInteger THREADS = new AtomicInteger();
    /** The shortest prefix copied from another slot when slots have KV streams of their own (the copy moves the whole buffer). */
    public static final int MIN_COPY = 32;

    /**
     * A snapshot of the engine's counters.
     *
     * @param slots           slots in all
     * @param activeSlots     slots running a generation now
     * @param queued          requests waiting for a slot
     * @param requests        requests started since creation
     * @param rejected        requests refused with {@link EngineBusyException}
     * @param promptTokens    prompt tokens of started requests
     * @param reusedTokens    prompt tokens taken from a cached prefix instead of being decoded
     * @param generatedTokens tokens generated
     * @param steps           decode steps
     * @param decodeNanos     time inside {@code llama_decode}
     * @param graphSampledTokens tokens picked in llama.cpp's graph (backend sampling) rather than from logits on the host
     */
    public record Stats(int slots, int activeSlots, int queued, long requests, long rejected, long promptTokens,
                        long reusedTokens, long generatedTokens, long steps, long decodeNanos, long graphSampledTokens) { }

    /** The scheduler's view of one sequence. Touched by the scheduler thread only. */
    private static final class Slot {
        final int seq;
        EngineStream stream;
        TokenEmitter emitter;
        /** Tokens in this sequence's KV cache, in position order. */
        int[] cache;
        int nCache;
        int promptPos;
        int pending = -1;
        int out = -1;
        int added;
        long lastUsed;
        long promptNanos;
        final ArrayDeque<Token> tokens = new ArrayDeque<>();
        /** The sequence's sampler in llama.cpp's graph: the slot's greedy chain, a stream's lent one, or none. */
        final BackendGreedy graph;

        Slot(int seq, int capacity) {
            this.seq = seq;
            this.cache = new int[capacity];
            this.graph = new BackendGreedy(seq);
        }
    }

    private final LlamaModel model;
    private final LlamaContext context;
    private final EngineParams params;
    private final int nVocab;
    private final TokenTexts texts;
    private final int slotContext;
    private final BlockingQueue<EngineStream> queue = new LinkedBlockingQueue<>();
    /** Places for requests: one per slot plus the queue's; taken by generate, given back when the request ends. */
    private final Semaphore places;
    private final Slot[] slots;
    private final Thread loop;
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong reusedTokens = new AtomicLong();
    private final AtomicLong generatedTokens = new AtomicLong();
    private final AtomicLong steps = new AtomicLong();
    private final AtomicLong decodeNanos = new AtomicLong();
    private final AtomicInteger active = new AtomicInteger();
    /** Where slots pick their tokens when their stream allows the graph ({@code llama.sampling.backend}). */
    private final BackendGreedy.Place graphSampling;
    private final AtomicLong graphSampled = new AtomicLong();
    /** No new requests. */
    private volatile boolean closing;
    /** Cancel what runs and exit. */
    private volatile boolean stopping;
    /** The scheduler has exited (guarded by this). */
    private boolean exited;
    private volatile Throwable failure;
    private int roundRobin;
    /** The context's memory, set by the scheduler thread. */
    private MemorySegment mem;
    /** The context's pointer, set by the scheduler thread. */
    private MemorySegment ctx;
    private long clock;

    private Engine(LlamaModel model, LlamaContext context, EngineParams params, BackendGreedy.Place graphSampling) {
        this.model = model;
        this.graphSampling = graphSampling;
        this.context = context;
        this.params = params;
        this.nVocab = model.nVocab;
        this.texts = model.texts;
        this.slotContext = params.slotContext();
        this.places = new Semaphore(params.slots() + params.queueCapacity());
        this.slots = new Slot[params.slots()];
        for (int i = 0; i < slots.length; i++) slots[i] = new Slot(i, 64);
        this.loop = Thread.ofPlatform().daemon().name("llama-engine-" + THREADS.incrementAndGet()).unstarted(this::run);
    }

    /**
     * Creates an engine and its context, and starts its scheduler thread.
     *
     * @param model  the model; the engine's context pins it until the engine is closed
     * @param params the engine's settings
     * @return the engine; close it when done
     * @throws IllegalStateException when the model is closed
     * @throws LlamaException        when llama.cpp cannot create the context
     */
    public static Engine create(LlamaModel model, EngineParams params) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(params, "params");
        BackendGreedy.Place graph = BackendGreedy.place(model);
        LlamaContext ctx = LlamaContext.create(model, params.contextParams());
        Engine e = new Engine(model, ctx, params, graph);
        e.loop.start();
        return e;
    }

    /** @return the settings */
    public EngineParams params() {
        return params;
    }

    /** @return the model */
    public LlamaModel model() {
        return model;
    }

    /** @return a snapshot of the counters */
    public Stats stats() {
        return new Stats(slots.length, active.get(), queue.size(), requests.get(), rejected.get(), promptTokens.get(),
                reusedTokens.get(), generatedTokens.get(), steps.get(), decodeNanos.get(), graphSampled.get());
    }

    /**
     * Starts a generation; its prompt is tokenized here (with BOS as {@code params.addSpecial()} says).
     *
     * @param prompt the prompt text
     * @param params generation settings ({@code keepCache} is ignored: prefixes are reused by the engine)
     * @return the stream; read it on any thread, close it to cancel
     * @throws IllegalArgumentException when the prompt has no tokens, or the sampler settings are refused
     * @throws ContextOverflowException when the prompt does not fit a slot ({@link EngineParams#slotContext()})
     * @throws EngineBusyException      when every slot is busy and the queue stays full for the queue timeout
     * @throws IllegalStateException    when the engine is closed or failed
     */
    public TokenStream generate(String prompt, GenerationParams params) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(params, "params");
        return submit(model.tokenize(prompt, params.addSpecial(), params.parseSpecial()), params);
    }

    /**
     * Starts a generation from prompt tokens.
     *
     * @param promptTokens token ids (at least one)
     * @param params       generation settings
     * @return the stream
     * @throws IllegalArgumentException when there are no tokens or one is outside the vocabulary
     * @throws ContextOverflowException when the prompt does not fit a slot
     * @throws EngineBusyException      when every slot is busy and the queue stays full for the queue timeout
     * @throws IllegalStateException    when the engine is closed or failed
     */
    public TokenStream generate(int[] promptTokens, GenerationParams params) {
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(params, "params");
        return submit(promptTokens.clone(), params);
    }

    private TokenStream submit(int[] tokens, GenerationParams gp) {
        checkOpen();
        if (tokens.length == 0) throw new IllegalArgumentException("the prompt is empty (no tokens)");
        for (int id : tokens) {
            if (id < 0 || id >= nVocab) throw new IllegalArgumentException("prompt token " + id + " is outside the vocabulary [0, " + nVocab + ")");
        }
        if (tokens.length >= slotContext) {
            throw new ContextOverflowException("the prompt has " + tokens.length + " tokens but a slot holds " + slotContext
                    + " (EngineParams.slotContext), and at least one must be left to generate");
        }
        SamplerParams sp = gp.sampler();
        if (sp.seed() == -1 && params.context().seed() != -1) sp = sp.toBuilder().seed(params.context().seed()).build();
        Sampler sampler;
        try (Borrow m = model.use()) {
            sampler = sp.isPureGreedy() ? null : Sampler.forStream(model.vocab(), nVocab, sp);
        }
        boolean ok = false;
        try {
            if (sampler != null) sampler.acceptPrompt(tokens);
            EngineStream s = new EngineStream(tokens, gp, sampler);
            boolean placed;
            try {
                long wait = params.queueTimeout().toNanos();
                placed = wait == 0 ? places.tryAcquire() : places.tryAcquire(wait, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new EngineBusyException("interrupted while waiting for a place in the engine's queue");
            }
            if (!placed) {
                rejected.incrementAndGet();
                throw new EngineBusyException("all " + slots.length + " slots are busy and " + params.queueCapacity()
                        + " requests wait (EngineParams.slots, queueCapacity" + (params.queueTimeout().isZero() ? "" : ", after waiting " + params.queueTimeout()) + ")");
            }
            queue.add(s);
            synchronized (this) {
                if (exited && queue.remove(s)) {
                    places.release();
                    throw new IllegalStateException("the engine is closed");
                }
            }
            ok = true;
            return s;
        } finally {
            if (!ok && sampler != null) sampler.close();
        }
    }

    private void checkOpen() {
        Throwable f = failure;
        if (f != null) throw new IllegalStateException("the engine failed and stopped: " + f, f);
        if (closing) throw new IllegalStateException("the engine is closed");
    }

    /**
     * Stops taking requests, lets running and queued generations finish for up to {@code grace}, then cancels what is
     * left and frees the context. Safe to call twice.
     *
     * @param grace how long to let generations finish
     * @return true when everything finished within the grace period
     */
    public boolean shutdown(Duration grace) {
        Objects.requireNonNull(grace, "grace");
        closing = true;
        boolean finished = false;
        try {
            finished = loop.join(grace.isZero() ? Duration.ofNanos(1) : grace);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        stopping = true;
        context.abort.abort(this);
        boolean interrupted = false;
        while (loop.isAlive()) {
            try {
                loop.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
        context.close();
        return finished;
    }

    /** Cancels every generation (their streams end with {@link StopReason#CLOSED}) and frees the context. Safe to call twice. */
    @Override
    public void close() {
        shutdown(Duration.ZERO);
    }

    // ---- the scheduler thread ----

    private void run() {
        MemorySegment ctx;
        try {
            ctx = context.acquire();
            this.ctx = ctx; // for the slots' graph samplers, set and taken out on this thread
        } catch (RuntimeException e) {
            failure = e;
            drain(StopReason.CLOSED, e);
            return;
        }
        int stepTokens = Math.min(params.stepTokens(), context.nBatch); // llama.cpp may have lowered the batch size
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment batch = llama_h.llama_batch_init(arena, context.nBatch, 0, 1);
            try {
                context.abort.begin(this);
                schedule(ctx, batch, stepTokens);
            } catch (Throwable t) {
                failure = t;
                LOG.log(System.Logger.Level.ERROR, "the engine's scheduler failed; its streams end", t);
                RuntimeException err = t instanceof RuntimeException r ? r : new LlamaException("the engine's scheduler failed: " + t, t);
                for (Slot s : slots) if (s.stream != null) end(s, StopReason.CANCELLED, err);
            } finally {
                for (Slot s : slots) if (s.stream != null) end(s, StopReason.CLOSED, null);
                for (Slot s : slots) s.graph.detach(ctx); // frees the slots' greedy chains
                context.abort.end(this);
                llama_h.llama_batch_free(batch);
            }
        } finally {
            synchronized (this) {
                exited = true;
            }
            drain(StopReason.CLOSED, null);
            context.release();
        }
    }

    /** Ends every queued request. */
    private void drain(StopReason reason, RuntimeException error) {
        EngineStream s;
        while ((s = queue.poll()) != null) {
            if (s.sampler != null) s.sampler.close();
            places.release();
            s.handoff.add(new EngineStream.End(emptyResult(reason), error));
        }
    }

    /** The summary of a request that never reached a slot. */
    private static GenerationResult emptyResult(StopReason reason) {
        return new GenerationResult(0, 0, 0, 0, 0, reason, "", 0, 0, 0, 0, 0, 0);
    }

    private void schedule(MemorySegment ctx, MemorySegment batch, int stepTokens) throws InterruptedException {
        mem = llama_h.llama_get_memory(ctx);
        long cap = context.nBatch;
        MemorySegment tok = llama_batch.token(batch).reinterpret(cap * 4);
        MemorySegment pos = llama_batch.pos(batch).reinterpret(cap * 4);
        MemorySegment nSeq = llama_batch.n_seq_id(batch).reinterpret(cap * 4);
        MemorySegment logits = llama_batch.logits(batch).reinterpret(cap);
        MemorySegment seqPtrs = llama_batch.seq_id(batch).reinterpret(cap * 8);
        MemorySegment[] seqIds = new MemorySegment[(int) cap];
        for (int i = 0; i < cap; i++) {
            seqIds[i] = seqPtrs.getAtIndex(ValueLayout.ADDRESS, i).reinterpret(4);
            nSeq.setAtIndex(ValueLayout.JAVA_INT, i, 1);
        }
        List<Slot> inBatch = new ArrayList<>(slots.length);
        while (!stopping) {
            for (Slot s : slots) {
                if (s.stream != null && s.stream.cancelled) end(s, StopReason.CANCELLED, null);
            }
            admit();
            if (active.get() == 0) {
                if (closing && queue.isEmpty()) return;
                EngineStream next = queue.poll(20, TimeUnit.MILLISECONDS);
                if (next != null) start(next);
                continue;
            }
            // one decode step: every running generation's pending token, then prompt chunks in turn
            int n = 0;
            inBatch.clear();
            for (Slot s : slots) {
                s.out = -1;
                s.added = 0;
                if (s.stream == null || s.pending < 0) continue;
                if (s.nCache >= slotContext) {
                    end(s, StopReason.CONTEXT_FULL, null);
                    continue;
                }
                tok.setAtIndex(ValueLayout.JAVA_INT, n, s.pending);
                pos.setAtIndex(ValueLayout.JAVA_INT, n, s.nCache);
                seqIds[n].set(ValueLayout.JAVA_INT, 0, s.seq);
                logits.set(ValueLayout.JAVA_BYTE, n, (byte) 1);
                s.out = n++;
                s.added = 1;
                inBatch.add(s);
            }
            int budget = stepTokens - n;
            for (int k = 0; k < slots.length && budget > 0; k++) {
                Slot s = slots[(roundRobin + k) % slots.length];
                if (s.stream == null || s.promptPos >= s.stream.prompt.length) continue;
                int[] p = s.stream.prompt;
                int take = Math.min(budget, p.length - s.promptPos);
                for (int i = 0; i < take; i++) {
                    tok.setAtIndex(ValueLayout.JAVA_INT, n, p[s.promptPos + i]);
                    pos.setAtIndex(ValueLayout.JAVA_INT, n, s.nCache + i);
                    seqIds[n].set(ValueLayout.JAVA_INT, 0, s.seq);
                    logits.set(ValueLayout.JAVA_BYTE, n, (byte) 0);
                    n++;
                }
                if (s.promptPos + take == p.length) {
                    logits.set(ValueLayout.JAVA_BYTE, n - 1, (byte) 1);
                    s.out = n - 1;
                }
                s.added = take;
                budget -= take;
                inBatch.add(s);
            }
            roundRobin = (roundRobin + 1) % slots.length;
            if (n == 0) continue;
            llama_batch.n_tokens(batch, n);
            long t0 = System.nanoTime();
            int rc = llama_h.llama_decode(ctx, batch);
            long dt = System.nanoTime() - t0;
            steps.incrementAndGet();
            decodeNanos.addAndGet(dt);
            if (rc != 0) {
                if (stopping || rc == 2) return;
                RuntimeException err = rc == 1 ? null
                        : new LlamaException("llama_decode failed with code " + rc + " on a step of " + n + " tokens (see the dev.llamajava.native log)");
                for (Slot s : inBatch) {
                    llama_h.llama_memory_seq_rm(mem, s.seq, -1, -1);
                    s.nCache = 0;
                    end(s, rc == 1 ? StopReason.CONTEXT_FULL : StopReason.CANCELLED, err);
                }
                continue;
            }
            for (Slot s : inBatch) {
                if (s.pending >= 0) {
                    append(s, s.pending);
                    s.pending = -1;
                    s.emitter.decodeNanos += dt;
                } else {
                    int[] p = s.stream.prompt;
                    for (int i = 0; i < s.added; i++) append(s, p[s.promptPos + i]);
                    s.promptPos += s.added;
                    s.promptNanos += dt;
                }
                if (s.out >= 0) sample(ctx, s);
            }
        }
    }

    private static void append(Slot s, int token) {
        if (s.nCache == s.cache.length) s.cache = Arrays.copyOf(s.cache, s.cache.length * 2);
        s.cache[s.nCache++] = token;
    }

    /** Moves queued requests into free slots. */
    private void admit() {
        while (!stopping && active.get() < slots.length) {
            EngineStream s = queue.poll();
            if (s == null) return;
            start(s);
        }
    }

    /** Puts a request into the free slot that shares the longest prefix with it, copying a longer one from a busy slot. */
    private void start(EngineStream r) {
        if (r.cancelled) {
            if (r.sampler != null) r.sampler.close();
            places.release();
            r.handoff.add(new EngineStream.End(emptyResult(StopReason.CANCELLED), null));
            return;
        }
        int[] p = r.prompt;
        Slot dst = null;
        int dstLcp = -1;
        for (Slot s : slots) {
            if (s.stream != null) continue;
            int l = params.prefixReuse() ? lcp(s, p) : 0;
            if (dst == null || l > dstLcp || (l == dstLcp && s.lastUsed < dst.lastUsed)) {
                dst = s;
                dstLcp = l;
            }
        }
        Slot src = null;
        int srcLcp = dstLcp;
        if (params.prefixReuse()) {
            for (Slot s : slots) {
                if (s == dst) continue;
                int l = lcp(s, p);
                if (l > srcLcp) {
                    src = s;
                    srcLcp = l;
                }
            }
        }
        if (src != null && !params.unifiedKv() && srcLcp < MIN_COPY) src = null;
        int keep = Math.min(src != null ? srcLcp : dstLcp, p.length - 1); // at least one token is decoded for its logits
        if (src != null) {
            llama_h.llama_memory_seq_rm(mem, dst.seq, -1, -1);
            if (params.unifiedKv()) {
                llama_h.llama_memory_seq_cp(mem, src.seq, dst.seq, 0, keep); // shares the cells
            } else {
                // across KV streams llama.cpp copies only whole buffers (a partial copy aborts the process)
                llama_h.llama_memory_seq_cp(mem, src.seq, dst.seq, -1, -1);
                llama_h.llama_memory_seq_rm(mem, dst.seq, keep, -1);
            }
            if (dst.cache.length < keep) dst.cache = new int[Math.max(keep, 64)];
            System.arraycopy(src.cache, 0, dst.cache, 0, keep);
        } else if (!llama_h.llama_memory_seq_rm(mem, dst.seq, keep, -1)) {
            llama_h.llama_memory_seq_rm(mem, dst.seq, -1, -1);
            keep = 0;
        }
        dst.nCache = keep;
        dst.stream = r;
        dst.emitter = new TokenEmitter(r.params, texts, nVocab);
        dst.promptPos = keep;
        dst.pending = -1;
        dst.promptNanos = 0;
        dst.lastUsed = ++clock;
        // the slot's sampling for its new stream: in the graph where wanted and the stream allows it (no
        // log-probabilities; greedy, or a chain with a graph form), else on the host; a greedy chain (and llama-java's
        // ops chain) stays set from stream to stream, since every change makes llama.cpp re-reserve its graph
        dst.graph.placeFor(ctx, r.params.logprobs() ? BackendGreedy.Place.HOST : graphSampling, model.outputRemote, r.sampler, true);
        active.incrementAndGet();
        requests.incrementAndGet();
        promptTokens.addAndGet(p.length);
        reusedTokens.addAndGet(keep);
    }

    private static int lcp(Slot s, int[] p) {
        int n = Math.min(s.nCache, p.length);
        int i = 0;
        while (i < n && s.cache[i] == p[i]) i++;
        return i;
    }

    private static LlamaException noLogits(Slot s) {
        return new LlamaException("llama.cpp has no logits for batch index " + s.out + " (see the dev.llamajava.native log)");
    }

    /** Samples the slot's next token from its logits row and hands what it emits to the stream. */
    private void sample(MemorySegment ctx, Slot s) {
        EngineStream r = s.stream;
        long s0 = System.nanoTime();
        // the row as a Java segment only where Java reads it (log-probabilities); the argmax and the sampler fetch it
        // in the shim, so a token allocates no segment
        MemorySegment row = r.params.logprobs() ? llama_h.llama_get_logits_ith(ctx, s.out) : MemorySegment.NULL;
        if (r.params.logprobs() && row.equals(MemorySegment.NULL)) {
            end(s, StopReason.CANCELLED, noLogits(s));
            return;
        }
        long s1 = System.nanoTime();
        int id;
        try {
            if (s.graph.attached()) {
                id = s.graph.sampledAt(ctx, s.out, nVocab);
                if (id < 0) throw new LlamaException("llama.cpp picked no token in its graph for batch index " + s.out + " (see the dev.llamajava.native log)");
                graphSampled.incrementAndGet();
            } else if (r.sampler != null) {
                id = r.sampler.sample(ctx, s.out);
            } else {
                id = row.equals(MemorySegment.NULL) ? llama_h.llamajava_argmax_ith(ctx, s.out, nVocab) : llama_h.llamajava_argmax(row, nVocab);
                if (id < 0) throw noLogits(s);
            }
        } catch (RuntimeException e) {
            end(s, StopReason.CANCELLED, e);
            return;
        }
        StopReason stop = s.emitter.emit(id, row, s.tokens, s1 - s0, System.nanoTime() - s1);
        Token t;
        while ((t = s.tokens.poll()) != null) r.handoff.add(t);
        if (stop == null) s.pending = id; // decoded in the next step
        else end(s, stop, null);
    }

    /** Ends the slot's generation: flushes held text, hands over the summary, frees the slot (its cache stays for reuse). */
    private void end(Slot s, StopReason reason, RuntimeException error) {
        EngineStream r = s.stream;
        if (r == null) return;
        TokenEmitter e = s.emitter;
        if (reason != StopReason.CANCELLED && error == null) {
            e.flush(reason, s.tokens);
            Token t;
            while ((t = s.tokens.poll()) != null) r.handoff.add(t);
        }
        s.tokens.clear();
        generatedTokens.addAndGet(e.generated());
        e.graphNanos = s.graph.opsNanosSincePlaced();
        GenerationResult result = e.result(reason, r.prompt.length, r.submitNanos, s.promptNanos);
        // a stream's chain leaves the graph before it is freed; the slot's greedy chain stays for the next greedy stream
        if (r.sampler != null && r.sampler.lent) s.graph.detach(ctx);
        try {
            if (r.sampler != null) r.sampler.close();
        } finally {
            s.stream = null;
            s.emitter = null;
            s.pending = -1;
            s.lastUsed = ++clock;
            active.decrementAndGet();
            places.release();
            if (!params.prefixReuse()) {
                llama_h.llama_memory_seq_rm(mem, s.seq, -1, -1);
                s.nCache = 0;
            }
            r.handoff.add(new EngineStream.End(result, error));
        }
    }
}
