package dev.llamajava;

import dev.llamajava.ffi.ggml_abort_callback;
import dev.llamajava.ffi.llama_batch;
import dev.llamajava.ffi.llama_context_params;
import dev.llamajava.ffi.llama_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * A llama.cpp context over a model: the KV cache and the compute buffers. One thread at a time: a
 * second concurrent use throws {@link IllegalStateException} and never corrupts state. Closing it from
 * another thread during a generation aborts the running decode and frees the context when that ends.
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

    private final LlamaModel model;
    private final ContextParams params;
    final MemorySegment abortFlag;
    final MemorySegment tokenBuf;
    final MemorySegment batch;
    final MemorySegment pieceBuf;
    private final MemorySegment shimAbort;
    private final MemorySegment promptAbort;
    final int nCtx;
    final int nBatch;
    private volatile Thread decodingThread;

    private LlamaContext(LlamaModel model, ContextParams params, MemorySegment ptr, Arena arena, MemorySegment abortFlag) {
        super("LlamaContext", ptr, p -> {
            llama_h.llama_free(p);
            arena.close();
        }, true);
        this.model = model;
        this.params = params;
        this.abortFlag = abortFlag;
        this.nCtx = llama_h.llama_n_ctx(ptr);
        this.nBatch = llama_h.llama_n_batch(ptr);
        this.tokenBuf = arena.allocate(ValueLayout.JAVA_INT, nBatch);
        this.batch = llama_batch.allocate(arena); // zeroed: embd, pos, seq ids and logits stay NULL (llama.cpp's defaults)
        llama_batch.token(batch, tokenBuf);
        this.pieceBuf = arena.allocate(256);
        this.shimAbort = llama_h.llamajava_abort_flag_callback$address();
        this.promptAbort = ggml_abort_callback.allocate(this::promptAbortCheck, arena);
        llama_h.llama_set_abort_callback(ptr, shimAbort, abortFlag);
    }

    /**
     * Creates a context.
     *
     * @param model  the model; it must stay open while the context is used
     * @param params context settings
     * @return the context; close it when done
     * @throws IllegalStateException when the model is closed
     * @throws LlamaException        when llama.cpp cannot create the context (e.g. not enough memory)
     */
    public static LlamaContext create(LlamaModel model, ContextParams params) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(params, "params");
        MemorySegment m = model.acquire();
        Arena arena = Arena.ofShared();
        try {
            MemorySegment abortFlag = arena.allocate(ValueLayout.JAVA_INT);
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
            llama_context_params.no_perf(p, false);
            dev.llamajava.internal.loader.Natives.beginCapture();
            MemorySegment ctx;
            java.util.List<String> errors;
            java.util.List<dev.llamajava.internal.loader.Natives.Line> lines;
            try {
                ctx = llama_h.llama_init_from_model(m, p);
            } finally {
                lines = dev.llamajava.internal.loader.Natives.endCaptureAll();
                errors = lines.stream().filter(dev.llamajava.internal.loader.Natives.Line::isProblem).map(dev.llamajava.internal.loader.Natives.Line::text).toList();
            }
            if (ctx.equals(MemorySegment.NULL)) {
                throw new LlamaException("llama.cpp could not create a context (" + params + "): "
                        + (errors.isEmpty() ? "no reason given" : String.join("; ", errors)));
            }
            LlamaContext c = new LlamaContext(model, params, ctx, arena, abortFlag);
            c.kvBuffers = MemoryReport.buffers(lines, "KV buffer size");
            c.computeBuffers = MemoryReport.buffers(lines, "compute buffer size");
            return c;
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        } finally {
            model.release();
        }
    }

    private java.util.Map<String, Long> kvBuffers = java.util.Map.of();
    private java.util.Map<String, Long> computeBuffers = java.util.Map.of();

    /** @return KV cache buffers (buffer name to bytes) as llama.cpp's log reported them */
    public java.util.Map<String, Long> kvCacheBuffers() {
        return kvBuffers;
    }

    /** @return compute buffers (buffer name to bytes) as llama.cpp's log reported them */
    public java.util.Map<String, Long> computeBuffers() {
        return computeBuffers;
    }

    /** @return the model */
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
        MemorySegment c = acquire();
        try {
            return cachedTokens(c);
        } finally {
            release();
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
        MemorySegment c = acquire();
        try {
            llama_h.llama_memory_clear(llama_h.llama_get_memory(c), true);
        } finally {
            release();
        }
    }

    /**
     * Decodes a batch (manual decoding; {@link #generate} does this for you).
     *
     * @param batch the tokens
     * @throws IllegalStateException    when closed or in use, or the batch is closed
     * @throws ContextOverflowException when the KV cache has no room for the batch
     * @throws LlamaException           when llama.cpp fails
     */
    public void decode(Batch batch) {
        java.util.Objects.requireNonNull(batch, "batch");
        MemorySegment c = acquire();
        try {
            MemorySegment b = batch.acquire();
            try {
                if (batch.size() == 0) throw new IllegalArgumentException("the batch is empty");
                if (batch.size() > nBatch) throw new IllegalArgumentException("the batch has " + batch.size() + " tokens, more than batchSize " + nBatch);
                int rc = llama_h.llama_decode(c, b);
                if (rc == 1) throw new ContextOverflowException("no room in the KV cache for " + batch.size() + " tokens (context " + nCtx + ")");
                if (rc == 2) throw new LlamaException("llama_decode was aborted");
                if (rc != 0) throw new LlamaException("llama_decode failed with code " + rc);
            } finally {
                batch.release();
            }
        } finally {
            release();
        }
    }

    /**
     * The logits of the i-th token of the last decoded batch that asked for logits.
     *
     * @param i index among the batch's tokens with logits ({@code -1}: the last)
     * @return a copy of the vocabulary-sized logits
     * @throws IllegalStateException when closed or in use
     * @throws LlamaException        when there are no such logits
     */
    public float[] logits(int i) {
        MemorySegment c = acquire();
        try {
            MemorySegment l = llama_h.llama_get_logits_ith(c, i);
            if (l.equals(MemorySegment.NULL)) throw new LlamaException("no logits for index " + i);
            int n = llama_h.llama_vocab_n_tokens(llama_h.llama_model_get_vocab(llama_h.llama_get_model(c)));
            return l.reinterpret((long) n * 4).toArray(ValueLayout.JAVA_FLOAT);
        } finally {
            release();
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
    public void saveState(java.nio.file.Path file, int[] tokens) {
        MemorySegment c = acquire();
        try (Arena a = Arena.ofConfined()) {
            if (!llama_h.llama_state_save_file(c, a.allocateFrom(file.toAbsolutePath().toString()),
                    a.allocateFrom(ValueLayout.JAVA_INT, tokens), tokens.length)) {
                throw new LlamaException("llama.cpp could not save the state to " + file);
            }
        } finally {
            release();
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
    public int[] loadState(java.nio.file.Path file) {
        if (!java.nio.file.Files.isRegularFile(file)) throw new LlamaException("no saved state at " + file);
        MemorySegment c = acquire();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment toks = a.allocate(ValueLayout.JAVA_INT, nCtx);
            MemorySegment n = a.allocate(ValueLayout.JAVA_LONG);
            if (!llama_h.llama_state_load_file(c, a.allocateFrom(file.toAbsolutePath().toString()), toks, nCtx, n)) {
                throw new LlamaException("llama.cpp could not load the state from " + file + " (saved from another model or a larger context?)");
            }
            return toks.asSlice(0, n.get(ValueLayout.JAVA_LONG, 0) * 4).toArray(ValueLayout.JAVA_INT);
        } finally {
            release();
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
        return new TokenStream(this, prompt, null, params);
    }

    /**
     * Starts a generation from prompt tokens.
     *
     * @param promptTokens token ids
     * @param params       generation settings
     * @return the token stream
     * @throws IllegalStateException    when closed or in use by another generation
     * @throws ContextOverflowException when the prompt does not fit the context
     */
    public TokenStream generate(int[] promptTokens, GenerationParams params) {
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(params, "params");
        return new TokenStream(this, null, promptTokens.clone(), params);
    }

    /**
     * Decodes tokens into the KV cache (sequence 0, positions after what is cached), in chunks of the batch size.
     * The last token's logits are kept for sampling. Uses an abort check that also honours thread interrupts.
     *
     * @return llama_decode's code: 0 ok, 1 no KV slot, 2 aborted
     */
    int decodeTokens(MemorySegment ctx, int[] tokens, int from, int to) {
        decodingThread = Thread.currentThread();
        llama_h.llama_set_abort_callback(ctx, promptAbort, MemorySegment.NULL);
        try {
            for (int i = from; i < to; i += nBatch) {
                int n = Math.min(nBatch, to - i);
                MemorySegment.copy(tokens, i, tokenBuf, ValueLayout.JAVA_INT, 0, n);
                llama_batch.n_tokens(batch, n);
                int rc = llama_h.llama_decode(ctx, batch);
                if (rc != 0) return rc;
            }
            return 0;
        } finally {
            llama_h.llama_set_abort_callback(ctx, shimAbort, abortFlag);
            decodingThread = null;
        }
    }

    /** Decodes one token: the hot path, no allocation, no upcall. */
    int decodeOne(MemorySegment ctx, int token) {
        tokenBuf.set(ValueLayout.JAVA_INT, 0, token);
        llama_batch.n_tokens(batch, 1);
        return llama_h.llama_decode(ctx, batch);
    }

    private boolean promptAbortCheck(MemorySegment ignored) {
        try {
            if (abortFlag.get(ValueLayout.JAVA_INT, 0) != 0) return true;
            Thread t = decodingThread;
            return t != null && t.isInterrupted();
        } catch (Throwable e) {
            return false;
        }
    }

    void setAbort(boolean on) {
        abortFlag.set(ValueLayout.JAVA_INT, 0, on ? 1 : 0);
    }

    @Override
    void onCloseWhileInUse() {
        setAbort(true);
    }

    @Override
    public String toString() {
        return "LlamaContext[n_ctx=" + nCtx + (isClosed() ? ", closed]" : "]");
    }
}
