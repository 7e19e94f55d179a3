package dev.llamajava;

import dev.llamajava.ffi.ggml_abort_callback;
import dev.llamajava.ffi.llama_batch;
import dev.llamajava.ffi.llama_context_params;
import dev.llamajava.ffi.llama_h;
import dev.llamajava.ffi.llamajava_abort_poll;
import dev.llamajava.internal.LogSoftmax;
import dev.llamajava.internal.NativeMemory;
import dev.llamajava.internal.loader.Natives;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A llama.cpp context over a model: the KV cache and the compute buffers. One thread at a time: a second concurrent
 * use throws {@link IllegalStateException} and never corrupts state. Closing it from another thread during a
 * generation aborts the running decode and frees the context when that ends.
 *
 * <p>A context pins its model: {@link LlamaModel#close()} while contexts are open makes the model unusable for new
 * work, but its native memory is freed only when the last context (and sampler) using it is closed, so every method
 * of a live context keeps working.
 *
 * <pre>{@code
 * try (LlamaModel model = LlamaModel.load(path);
 *      LlamaContext ctx = LlamaContext.create(model, ContextParams.defaults());
 *      TokenStream tokens = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(32).build())) {
 *     tokens.forEachRemaining(t -> System.out.print(t.text()));
 * }
 * }</pre>
 */
public final class LlamaContext extends NativeResource {

    /**
     * The prompt path's interrupt check: an upcall that the shim's {@code llamajava_abort_poll_callback} makes at the
     * first graph node of a prompt and then at most every {@link #POLL_NANOS} (it reads the abort flag itself at every
     * node). One stub per JVM.
     */
    private static final class PromptAbort {
        static final MemorySegment STUB = ggml_abort_callback.allocate(PromptAbort::interrupted, Arena.global());

        /** Time between two interrupt checks of a prompt's decode: how late an interrupt may stop it, beyond a node. */
        static final long POLL_NANOS = 1_000_000;

        private static boolean interrupted(MemorySegment poll) {
            try {
                return Thread.currentThread().isInterrupted();
            } catch (Throwable e) {
                return false;
            }
        }
    }

    /**
     * The native abort flag, written under a lock that the free also takes: a late {@code cancel()} or a close from
     * another thread never writes into freed memory, and a cancel never outlives its stream.
     */
    static final class AbortFlag {
        final MemorySegment flag;
        private boolean freed;
        private Object owner;

        AbortFlag(MemorySegment flag) {
            this.flag = flag;
        }

        /** Starts an operation of {@code owner} (a stream, or a manual decode): clears the flag. */
        synchronized void begin(Object owner) {
            this.owner = owner;
            if (!freed) flag.set(ValueLayout.JAVA_INT, 0, 0);
        }

        /** Ends it: a cancel requested by {@code owner} from now on does nothing. */
        synchronized void end(Object owner) {
            if (this.owner == owner) this.owner = null;
            if (!freed) flag.set(ValueLayout.JAVA_INT, 0, 0);
        }

        /** Aborts the running operation if it is {@code owner}'s ({@code null}: whatever runs). */
        synchronized void abort(Object owner) {
            if (!freed && this.owner != null && (owner == null || this.owner == owner)) flag.set(ValueLayout.JAVA_INT, 0, 1);
        }

        synchronized void markFreed() {
            freed = true;
        }
    }

    /**
     * The scope of the logits views handed out since the last decode: closed by the next decode and by the free, so
     * a view read after llama.cpp reused or freed its buffer throws instead of reading freed memory.
     */
    static final class Views {
        private Arena arena;

        synchronized MemorySegment view(MemorySegment row, long bytes) {
            if (arena == null) arena = Arena.ofShared();
            return row.reinterpret(bytes, arena, null).asReadOnly();
        }

        /** Cheap when no view is out: one field read on the per-token path. */
        void invalidate() {
            if (arena != null) close();
        }

        private synchronized void close() {
            if (arena != null) {
                arena.close();
                arena = null;
            }
        }
    }

    private final LlamaModel model;
    private final ContextParams params;
    final AbortFlag abort;
    final Views views;
    final MemorySegment tokenBuf;
    final MemorySegment batch;
    final int nCtx;
    final int nBatch;
    private final Map<String, Long> kvBuffers;
    private final Map<String, Long> computeBuffers;
    private final MemorySegment shimAbort;
    private final MemorySegment pollAbort;
    /** Greedy sampling in the graph, and whether the last decode's logits exist. */
    final BackendGreedy greedy;

    private LlamaContext(LlamaModel model, ContextParams params, MemorySegment ptr, Arena arena, AbortFlag abort, Views views,
                         BackendGreedy greedy, Map<String, Long> kvBuffers, Map<String, Long> computeBuffers) {
        super("LlamaContext", ptr, p -> {
            abort.markFreed();
            views.invalidate();
            llama_h.llama_free(p);
            greedy.freeAfterContext();
            arena.close();
            NativeMemory.trim();
        }, true, model);
        this.greedy = greedy;
        this.model = model;
        this.params = params;
        this.abort = abort;
        this.views = views;
        this.kvBuffers = kvBuffers;
        this.computeBuffers = computeBuffers;
        this.nCtx = llama_h.llama_n_ctx(ptr);
        this.nBatch = llama_h.llama_n_batch(ptr);
        this.tokenBuf = arena.allocate(ValueLayout.JAVA_INT, nBatch);
        this.batch = llama_batch.allocate(arena); // zeroed: embd, pos, seq ids and logits stay NULL (llama.cpp's defaults)
        llama_batch.token(batch, tokenBuf);
        this.shimAbort = llama_h.llamajava_abort_flag_callback$address();
        this.pollAbort = llama_h.llamajava_abort_poll_callback$address();
        llama_h.llama_set_abort_callback(ptr, shimAbort, abort.flag);
    }

    /**
     * Creates a context.
     *
     * @param model  the model; the context pins it until the context is closed
     * @param params context settings
     * @return the context; close it when done
     * @throws IllegalStateException when the model is closed
     * @throws LlamaException        when llama.cpp cannot create the context (e.g. not enough memory)
     */
    public static LlamaContext create(LlamaModel model, ContextParams params) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(params, "params");
        try (Borrow m = model.use()) {
            Arena arena = Arena.ofShared();
            MemorySegment ctx = MemorySegment.NULL;
            try {
                MemorySegment poll = llamajava_abort_poll.allocate(arena); // zeroed: the flag down
                llamajava_abort_poll.interval_ns(poll, PromptAbort.POLL_NANOS);
                llamajava_abort_poll.check(poll, PromptAbort.STUB);
                AbortFlag abort = new AbortFlag(poll);
                MemorySegment p = llama_h.llama_context_default_params(arena);
                llama_context_params.n_ctx(p, params.contextSize());
                llama_context_params.n_batch(p, params.batchSize());
                llama_context_params.n_ubatch(p, params.microBatchSize());
                llama_context_params.n_threads(p, params.threads());
                llama_context_params.n_threads_batch(p, params.threadsBatch());
                llama_context_params.flash_attn_type(p, params.flashAttention().value);
                llama_context_params.type_k(p, params.typeK().ggmlType);
                llama_context_params.type_v(p, params.typeV().ggmlType);
                llama_context_params.embeddings(p, params.embeddings());
                llama_context_params.pooling_type(p, params.pooling().value);
                llama_context_params.n_seq_max(p, params.sequences());
                llama_context_params.kv_unified(p, params.sequences() > 1 && params.kvUnified());
                llama_context_params.no_perf(p, false);
                Natives.beginCapture();
                List<Natives.Line> lines;
                try {
                    ctx = llama_h.llama_init_from_model(m.ptr(), p);
                } finally {
                    lines = Natives.endCaptureAll();
                }
                if (ctx.equals(MemorySegment.NULL)) {
                    List<String> errors = lines.stream().filter(Natives.Line::isProblem).map(Natives.Line::text).toList();
                    throw new LlamaException("llama.cpp could not create a context (" + params + "): "
                            + (errors.isEmpty() ? "no reason given" : String.join("; ", errors))
                            + "; try a smaller contextSize or batchSize");
                }
                MemorySegment created = ctx;
                ctx = MemorySegment.NULL;
                NativeMemory.trim(); // the graph reservation's temporaries
                return new LlamaContext(model, params, created, arena, abort, new Views(), new BackendGreedy(0), MemoryReport.buffers(lines, "KV buffer size"),
                        MemoryReport.buffers(lines, "compute buffer size"));
            } catch (RuntimeException | Error e) {
                if (!ctx.equals(MemorySegment.NULL)) llama_h.llama_free(ctx);
                if (arena.scope().isAlive()) arena.close(); // a failed pin has freed both already
                throw e;
            }
        }
    }

    /** @return KV cache buffers (buffer name to bytes) as llama.cpp's log reported them */
    public Map<String, Long> kvCacheBuffers() {
        return kvBuffers;
    }

    /** @return compute buffers (buffer name to bytes) as llama.cpp's log reported them */
    public Map<String, Long> computeBuffers() {
        return computeBuffers;
    }

    /** @return the model (it may be closed; this context keeps its native memory alive) */
    public LlamaModel model() {
        return model;
    }

    /** @return the settings it was created with */
    public ContextParams params() {
        return params;
    }

    /** @return the KV cache size in tokens, as llama.cpp allocated it */
    public int contextSize() {
        return nCtx;
    }

    /** @return the logical batch size */
    public int batchSize() {
        return nBatch;
    }

    /**
     * @return tokens currently held in the KV cache (sequence 0)
     * @throws IllegalStateException when closed or in use
     */
    public int cachedTokens() {
        try (Borrow c = use()) {
            return cachedTokens(c.ptr());
        }
    }

    static int cachedTokens(MemorySegment c) {
        return llama_h.llama_memory_seq_pos_max(llama_h.llama_get_memory(c), 0) + 1;
    }

    /**
     * Empties the KV cache.
     *
     * @throws IllegalStateException when closed or in use
     */
    public void clearCache() {
        try (Borrow c = use()) {
            llama_h.llama_memory_clear(llama_h.llama_get_memory(c.ptr()), true);
        }
    }

    /**
     * Decodes a batch (manual decoding; {@link #generate} does this for you). Tokens outside the vocabulary are
     * refused before llama.cpp sees them.
     *
     * @param batch the tokens
     * @throws IllegalArgumentException when the batch is empty, larger than the batch size, or holds a token outside
     *                                  the vocabulary
     * @throws IllegalStateException    when closed or in use, or the batch is closed
     * @throws ContextOverflowException when the KV cache has no room for the batch
     * @throws LlamaException           when llama.cpp fails or the decode was aborted by a close from another thread
     */
    public void decode(Batch batch) {
        Objects.requireNonNull(batch, "batch");
        try (Borrow c = use()) {
            decodeBatch(c.ptr(), batch);
        }
    }

    /**
     * Decodes a batch on this context's pointer, which the caller holds borrowed: the checks, the logits kept (backend
     * sampling detached, views closed), the abort flag around the call, and llama.cpp's code as an exception.
     */
    void decodeBatch(MemorySegment c, Batch batch) {
        try (Borrow b = batch.use()) {
            int n = batch.size();
            if (n == 0) throw new IllegalArgumentException("the batch is empty");
            if (n > nBatch) throw new IllegalArgumentException("the batch has " + n + " tokens, more than batchSize " + nBatch);
            int nVocab = model.nVocab;
            int bad = batch.firstTokenOutside(b.ptr(), nVocab);
            if (bad >= 0) throw new IllegalArgumentException("batch token " + bad + " is outside the vocabulary [0, " + nVocab + ")");
            greedy.detach(c); // a manual decode keeps its logits
            views.invalidate();
            abort.begin(batch);
            int rc;
            try {
                rc = llama_h.llama_decode(c, b.ptr());
            } finally {
                abort.end(batch);
                greedy.lastDecodeSampled = false;
            }
            checkDecode(rc, n);
        }
    }

    /** Throws what llama_decode's code {@code rc} for {@code n} tokens means (0 is success). */
    void checkDecode(int rc, int n) {
        if (rc == 1) throw new ContextOverflowException("no room in the KV cache for " + n + " tokens (context " + nCtx + ")");
        if (rc == 2) throw new LlamaException("llama_decode was aborted: the context was closed, or the decoding thread interrupted");
        if (rc != 0) throw new LlamaException("llama_decode failed with code " + rc + " on " + n + " tokens (see the dev.llamajava.native log)");
    }

    /**
     * The logits of the i-th token of the last decoded batch that asked for logits.
     *
     * @param i index among the batch's tokens ({@code -1}: the last output)
     * @return a copy of the vocabulary-sized logits
     * @throws IllegalStateException when closed or in use
     * @throws LlamaException        when there are no such logits (the token did not ask for them)
     */
    public float[] logits(int i) {
        try (Borrow c = use()) {
            if (greedy.lastDecodeSampled) {
                throw new LlamaException("no logits: the last decode picked its token in llama.cpp's graph (greedy backend sampling, "
                        + "llama.sampling.backend); decode a Batch, or generate with logprobs or a sampler, to get logits");
            }
            MemorySegment l = logitsOrNull(c.ptr(), i);
            if (l == null) throw new LlamaException("no logits for index " + i + ": the last decoded batch did not ask for them");
            return l.reinterpret((long) model.nVocab * 4).toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /**
     * A read-only view of the logits of the i-th token of the last decoded batch, without a copy. It is valid until
     * the next decode of this context (any: a generation step, {@link #decode}, an embedding) or its close; reading it
     * later throws {@link IllegalStateException} (its scope is closed), never reads freed memory.
     *
     * @param i index among the batch's tokens ({@code -1}: the last output)
     * @return {@code vocabSize} floats ({@link ValueLayout#JAVA_FLOAT})
     * @throws IllegalStateException when closed or in use
     * @throws LlamaException        when there are no such logits
     */
    public MemorySegment logitsView(int i) {
        try (Borrow c = use()) {
            MemorySegment l = logitsOrNull(c.ptr(), i);
            if (l == null) throw new LlamaException("no logits for index " + i + ": the last decoded batch did not ask for them"
                    + (greedy.lastDecodeSampled ? " (the last decode picked its token in llama.cpp's graph)" : ""));
            return views.view(l, (long) model.nVocab * 4);
        }
    }

    /**
     * The log-probabilities (log-softmax of the logits) of the i-th token of the last decoded batch.
     *
     * @param i index among the batch's tokens ({@code -1}: the last output)
     * @return a vocabulary-sized copy
     * @throws IllegalStateException when closed or in use
     * @throws LlamaException        when there are no such logits
     */
    public float[] logProbabilities(int i) {
        float[] l = logits(i);
        float lse = (float) LogSoftmax.logSumExp(l);
        for (int k = 0; k < l.length; k++) l[k] -= lse;
        return l;
    }

    /**
     * The logits as a read-only buffer over a copy.
     *
     * @param i index among the batch's tokens ({@code -1}: the last output)
     * @return the copy, as a read-only {@link FloatBuffer}
     * @throws IllegalStateException when closed or in use
     * @throws LlamaException        when there are no such logits
     */
    public FloatBuffer logitsBuffer(int i) {
        return FloatBuffer.wrap(logits(i)).asReadOnlyBuffer();
    }

    /**
     * @return the logits row, or null when llama.cpp has none (it logs why; the capture keeps that out of the log) or
     *         the last decode picked its token in the graph (the row would be stale)
     */
    MemorySegment logitsOrNull(MemorySegment ctx, int i) {
        if (greedy.lastDecodeSampled) return null;
        Natives.beginCapture();
        try {
            MemorySegment l = llama_h.llama_get_logits_ith(ctx, i);
            return l.equals(MemorySegment.NULL) ? null : l;
        } finally {
            Natives.endCaptureAll();
        }
    }

    /**
     * The embedding of a text, L2-normalised (as {@code llama-embedding} prints it by default). The text is tokenized
     * with the model's special tokens (BOS) and decoded from an empty KV cache; the cache is empty afterwards.
     *
     * @param text the text
     * @return a vector of the model's output embedding size
     * @throws IllegalStateException    when closed or in use, not created with {@code embeddings(true)}, or its pooling
     *                                  is {@link ContextParams.Pooling#NONE} (see {@link #tokenEmbeddings})
     * @throws IllegalArgumentException when the text has no tokens or more than the micro-batch size
     * @throws LlamaException           when llama.cpp fails
     */
    public float[] embed(String text) {
        return embed(text, true);
    }

    /**
     * The pooled embedding of a text.
     *
     * @param text      the text
     * @param normalize L2-normalise the vector
     * @return the vector
     * @throws IllegalStateException    see {@link #embed(String)}
     * @throws IllegalArgumentException see {@link #embed(String)}
     * @throws LlamaException           when llama.cpp fails
     */
    public float[] embed(String text, boolean normalize) {
        Objects.requireNonNull(text, "text");
        return embed(List.of(text), normalize).getFirst();
    }

    /**
     * The pooled embedding of tokens, decoded as given (add BOS yourself if the model wants it).
     *
     * @param tokens    token ids
     * @param normalize L2-normalise the vector
     * @return the vector
     * @throws IllegalStateException    see {@link #embed(String)}
     * @throws IllegalArgumentException when there are no tokens, more than the micro-batch size, or one is outside
     *                                  the vocabulary
     * @throws LlamaException           when llama.cpp fails
     */
    public float[] embed(int[] tokens, boolean normalize) {
        Objects.requireNonNull(tokens, "tokens");
        try (Borrow c = use()) {
            return new Embedder(this, c.ptr()).pooled(List.of(tokens.clone()), normalize).getFirst();
        }
    }

    /**
     * The pooled embeddings of several texts, in order. Up to {@link ContextParams#sequences()} texts (and at most
     * one micro-batch of tokens) go into each decode, one sequence each, as {@code llama-embedding} batches them.
     *
     * @param texts     the texts
     * @param normalize L2-normalise each vector
     * @return one vector per text
     * @throws IllegalStateException    see {@link #embed(String)}
     * @throws IllegalArgumentException when a text has no tokens or more than the micro-batch size (the message
     *                                  gives its index)
     * @throws LlamaException           when llama.cpp fails
     */
    public List<float[]> embed(List<String> texts, boolean normalize) {
        Objects.requireNonNull(texts, "texts");
        List<int[]> inputs = texts.stream().map(t -> model.tokenize(Objects.requireNonNull(t, "text"), true, true)).toList();
        try (Borrow c = use()) {
            return new Embedder(this, c.ptr()).pooled(inputs, normalize);
        }
    }

    /**
     * One embedding per token of a text, for a context created with {@code pooling(Pooling.NONE)}.
     *
     * @param text      the text (tokenized with special tokens)
     * @param normalize L2-normalise each vector
     * @return {@code [token][dimension]}
     * @throws IllegalStateException    when closed or in use, not created for embeddings, or the context pools
     * @throws IllegalArgumentException when the text has no tokens or more than the micro-batch size
     * @throws LlamaException           when llama.cpp fails
     */
    public float[][] tokenEmbeddings(String text, boolean normalize) {
        Objects.requireNonNull(text, "text");
        int[] tokens = model.tokenize(text, true, true);
        try (Borrow c = use()) {
            return new Embedder(this, c.ptr()).perToken(tokens, normalize);
        }
    }

    /**
     * Scores documents against a query with a reranking model, for a context created with
     * {@code embeddings(true).pooling(Pooling.RANK)}: each pair is formatted as {@code llama-embedding} does (the
     * model's {@code rerank} template, else query, EOS/SEP as the vocabulary adds them, document) and its score is
     * the first output of the classification head (higher is more relevant; not normalised).
     *
     * @param query     the query
     * @param documents the documents
     * @return one score per document, in order
     * @throws IllegalStateException    when closed or in use, not created for embeddings, or its pooling is not RANK
     * @throws IllegalArgumentException when a pair has more tokens than the micro-batch size
     * @throws LlamaException           when llama.cpp fails
     */
    public float[] rerank(String query, List<String> documents) {
        Objects.requireNonNull(query, "query");
        Objects.requireNonNull(documents, "documents");
        try (Borrow c = use()) {
            Embedder e = new Embedder(this, c.ptr());
            if (e.pooling != ContextParams.Pooling.RANK) {
                throw new IllegalStateException("rerank needs a context created with pooling(Pooling.RANK); this one pools " + e.pooling);
            }
            List<int[]> inputs = documents.stream().map(d -> e.rerankInput(query, Objects.requireNonNull(d, "document"))).toList();
            List<float[]> vectors = e.pooled(inputs, false);
            float[] scores = new float[vectors.size()];
            for (int i = 0; i < scores.length; i++) scores[i] = vectors.get(i)[0];
            return scores;
        }
    }

    /**
     * @return the pooling llama.cpp uses for this context (the model's when {@link ContextParams.Pooling#UNSPECIFIED})
     * @throws IllegalStateException when closed or in use
     */
    public ContextParams.Pooling pooling() {
        try (Borrow c = use()) {
            return ContextParams.Pooling.of(llama_h.llama_pooling_type(c.ptr()));
        }
    }

    /**
     * Saves the KV cache and the given tokens (what the cache holds) to a file, llama.cpp's session format.
     *
     * @param file   the file
     * @param tokens the tokens in the cache
     * @throws IllegalStateException when closed or in use
     * @throws LlamaException        when llama.cpp cannot write it
     */
    public void saveState(Path file, int[] tokens) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(tokens, "tokens");
        try (Borrow c = use(); Arena a = Arena.ofConfined()) {
            if (!llama_h.llama_state_save_file(c.ptr(), a.allocateFrom(file.toAbsolutePath().toString()),
                    a.allocateFrom(ValueLayout.JAVA_INT, tokens), tokens.length)) {
                throw new LlamaException("llama.cpp could not save the state to " + file);
            }
        }
    }

    /**
     * Restores a state saved by {@link #saveState}.
     *
     * @param file the file
     * @return the tokens the cache now holds
     * @throws IllegalStateException when closed or in use
     * @throws LlamaException        when the file is missing or does not fit this context and model
     */
    public int[] loadState(Path file) {
        Objects.requireNonNull(file, "file");
        if (!Files.isRegularFile(file)) throw new LlamaException("no saved state at " + file);
        try (Borrow c = use(); Arena a = Arena.ofConfined()) {
            views.invalidate();
            MemorySegment toks = a.allocate(ValueLayout.JAVA_INT, nCtx);
            MemorySegment n = a.allocate(ValueLayout.JAVA_LONG);
            if (!llama_h.llama_state_load_file(c.ptr(), a.allocateFrom(file.toAbsolutePath().toString()), toks, nCtx, n)) {
                throw new LlamaException("llama.cpp could not load the state from " + file + " (saved from another model or a larger context?)");
            }
            return savedTokens(toks, n, file);
        }
    }

    /**
     * Saves one sequence's KV cache and the tokens it holds to a file (llama.cpp's {@code llama_state_seq_save_file}),
     * for example a long shared prefix to restore later into any sequence of a context over the same model with the
     * same {@code sequences} and KV layout ({@code kvUnified}); llama.cpp refuses another stream count.
     *
     * @param file   the file
     * @param seq    the sequence, {@code 0} to {@code sequences() - 1}
     * @param tokens the tokens in that sequence's cache
     * @return the bytes written
     * @throws IllegalArgumentException when {@code seq} is out of range
     * @throws IllegalStateException    when closed or in use
     * @throws LlamaException           when llama.cpp cannot write it
     */
    public long saveSequence(Path file, int seq, int[] tokens) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(tokens, "tokens");
        checkSequence(seq);
        try (Borrow c = use(); Arena a = Arena.ofConfined()) {
            long n = llama_h.llama_state_seq_save_file(c.ptr(), a.allocateFrom(file.toAbsolutePath().toString()), seq,
                    a.allocateFrom(ValueLayout.JAVA_INT, tokens), tokens.length);
            if (n == 0) throw new LlamaException("llama.cpp could not save sequence " + seq + " to " + file);
            return n;
        }
    }

    /**
     * Restores a sequence saved by {@link #saveSequence} into sequence {@code seq} (which is cleared first).
     *
     * @param file the file
     * @param seq  the sequence to fill
     * @return the tokens it now holds
     * @throws IllegalArgumentException when {@code seq} is out of range
     * @throws IllegalStateException    when closed or in use
     * @throws LlamaException           when the file is missing or does not fit this context and model
     */
    public int[] loadSequence(Path file, int seq) {
        Objects.requireNonNull(file, "file");
        checkSequence(seq);
        if (!Files.isRegularFile(file)) throw new LlamaException("no saved sequence at " + file);
        try (Borrow c = use(); Arena a = Arena.ofConfined()) {
            views.invalidate();
            llama_h.llama_memory_seq_rm(llama_h.llama_get_memory(c.ptr()), seq, -1, -1);
            MemorySegment toks = a.allocate(ValueLayout.JAVA_INT, nCtx);
            MemorySegment n = a.allocate(ValueLayout.JAVA_LONG);
            long read;
            Natives.beginCapture();
            List<String> errors;
            try {
                read = llama_h.llama_state_seq_load_file(c.ptr(), a.allocateFrom(file.toAbsolutePath().toString()), seq, toks, nCtx, n);
            } finally {
                errors = Natives.endCapture();
            }
            if (read == 0) {
                throw new LlamaException("llama.cpp could not load a sequence from " + file + " (saved from another model, or more tokens than this context holds?)"
                        + (errors.isEmpty() ? "" : ": " + String.join("; ", errors)));
            }
            return savedTokens(toks, n, file);
        }
    }

    /** The tokens a state load wrote ({@code n} of them into {@code toks}), checked against the context size. */
    private int[] savedTokens(MemorySegment toks, MemorySegment n, Path file) {
        long count = n.get(ValueLayout.JAVA_LONG, 0);
        if (count < 0 || count > nCtx) throw new LlamaException("the state in " + file + " claims " + count + " tokens");
        return toks.asSlice(0, count * 4).toArray(ValueLayout.JAVA_INT);
    }

    private void checkSequence(int seq) {
        if (seq < 0 || seq >= params.sequences()) {
            throw new IllegalArgumentException("seq must be in [0, " + params.sequences() + ") (ContextParams.sequences), was " + seq);
        }
    }

    /**
     * Starts a generation. The prompt is decoded on the first {@code hasNext()}.
     *
     * @param prompt text
     * @param params generation settings
     * @return the token stream; close it (or read it to the end) before using the context again
     * @throws IllegalStateException    when closed or in use by another generation
     * @throws ContextOverflowException when the prompt does not fit the context
     */
    public TokenStream generate(String prompt, GenerationParams params) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(params, "params");
        return new ContextStream(this, prompt, null, params);
    }

    /**
     * Starts a generation from prompt tokens. An empty prompt continues from the KV cache (with
     * {@code keepCache(true)}), sampling from the logits of the last decoded token.
     *
     * @param promptTokens token ids
     * @param params       generation settings
     * @return the token stream
     * @throws IllegalStateException    when closed or in use by another generation, or when the prompt is empty and
     *                                  the last decode kept no logits to sample from
     * @throws ContextOverflowException when the prompt does not fit the context
     */
    public TokenStream generate(int[] promptTokens, GenerationParams params) {
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(params, "params");
        return start(promptTokens.clone(), params);
    }

    /** {@link #generate(int[], GenerationParams)} on tokens the caller gives up, as the stream's own type. */
    ContextStream start(int[] promptTokens, GenerationParams params) {
        return new ContextStream(this, null, promptTokens, params);
    }

    /**
     * Decodes tokens into the KV cache (sequence 0, positions after what is cached), in chunks of the batch size.
     * The last token's logits are kept for sampling. Uses an abort check that also honours thread interrupts.
     *
     * @return llama_decode's code: 0 ok, 1 no KV slot, 2 aborted
     */
    int decodeTokens(MemorySegment ctx, int[] tokens, int from, int to) {
        views.invalidate();
        llamajava_abort_poll.next_ns(abort.flag, 0); // the interrupt checked at the first node
        llama_h.llama_set_abort_callback(ctx, pollAbort, abort.flag);
        try {
            for (int i = from; i < to; i += nBatch) {
                int n = Math.min(nBatch, to - i);
                MemorySegment.copy(tokens, i, tokenBuf, ValueLayout.JAVA_INT, 0, n);
                llama_batch.n_tokens(batch, n);
                int rc = llama_h.llama_decode(ctx, batch);
                greedy.decoded(rc);
                if (rc != 0) return rc;
            }
            return 0;
        } finally {
            llama_h.llama_set_abort_callback(ctx, shimAbort, abort.flag);
        }
    }

    /** Decodes one token: the hot path, no allocation, no upcall. */
    int decodeOne(MemorySegment ctx, int token) {
        views.invalidate();
        tokenBuf.set(ValueLayout.JAVA_INT, 0, token);
        llama_batch.n_tokens(batch, 1);
        int rc = llama_h.llama_decode(ctx, batch);
        greedy.decoded(rc);
        return rc;
    }

    @Override
    void onCloseWhileInUse() {
        abort.abort(null);
    }

    @Override
    public String toString() {
        return "LlamaContext[n_ctx=" + nCtx + (isClosed() ? ", closed]" : "]");
    }
}
