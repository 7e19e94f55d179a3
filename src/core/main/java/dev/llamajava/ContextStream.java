package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.Settings;
import dev.llamajava.internal.TokenTexts;

import java.lang.foreign.MemorySegment;
import java.util.function.Consumer;

/**
 * A stream that decodes on its reader's thread over a context it keeps reserved until it ends (see
 * {@link TokenStream}). Closing the context from another thread while the reader is inside a decode cancels that
 * decode; the reader's call then ends the stream and frees the context.
 *
 * <p>Where {@code llama_decode} returns before the device has computed (the output layer on a GPU or an RPC server), a
 * sampled token is decoded before it is handed over ({@link Settings#DECODE_AHEAD}): the device computes the next
 * token's logits while Java makes the token's text, checks stop strings and returns it, and while the caller handles
 * it. A token that ends the stream (end of generation, {@code maxTokens}, a full context) is not decoded ahead; a stop
 * string found after the decode leaves that token in the cache, which {@link #decodedGenerated()} says.
 */
final class ContextStream extends TokenStream {

    private final LlamaContext context;
    private final GenerationParams params;
    private final MemorySegment ctx;
    private final MemorySegment vocab;
    private final Sampler sampler;
    private final int[] promptTokens;
    private final TokenEmitter emitter;
    private Consumer<ContextStream> onFinish;
    private final int nVocab;
    private final TokenTexts texts;
    private final boolean backendGreedy;
    /** Whether the sampler's chain runs in the graph (lent to the context until the stream ends). */
    private final boolean lentChain;
    /**
     * Whether a sampled token is decoded before it is handed over; never with log-probabilities (the decode ahead would
     * overwrite the logits they are read from).
     */
    private final boolean decodeAhead;
    /** What a decode started ahead returned when it failed (0: none): reported where the decode would have run lazily. */
    private int aheadRc;
    /** Whether a decode started ahead may still be running on the device: the context is synchronized before it is handed back. */
    private boolean aheadRunning;
    private final long startNanos = System.nanoTime();
    private volatile boolean cancelled;

    private boolean promptDone;
    private int pendingDecode = -1;
    private int kvTokens; // tokens in the KV cache: counted here instead of asking llama.cpp every token
    private long promptEndNanos;
    private long promptStartNanos;
    private boolean released;

    ContextStream(LlamaContext context, String prompt, int[] tokens, GenerationParams params) {
        this.context = context;
        this.params = params;
        this.ctx = context.acquire(); // exclusive: held until the stream ends
        LlamaModel model = context.model();
        this.vocab = model.vocab();   // valid while the context pins the model
        this.nVocab = model.nVocab;
        this.texts = model.texts;
        Sampler s = null;
        boolean ok = false;
        try {
            context.abort.begin(this);
            if (!params.keepCache()) llama_h.llama_memory_clear(llama_h.llama_get_memory(ctx), false); // metadata only: zeroing the KV buffers costs ~2 ms per call and nothing reads them
            int cached = LlamaContext.cachedTokens(ctx);
            this.kvTokens = cached;
            int[] t = tokens != null ? tokens : LlamaModel.tokenize(vocab, prompt, params.addSpecial() && cached == 0, params.parseSpecial());
            for (int id : t) {
                if (id < 0 || id >= nVocab) throw new IllegalArgumentException("prompt token " + id + " is outside the vocabulary [0, " + nVocab + ")");
            }
            if (t.length == 0 && cached == 0) throw new IllegalArgumentException("the prompt is empty (no tokens) and the context holds none");
            boolean greedyOnly = params.sampler().isPureGreedy();
            BackendGreedy.Place place = params.logprobs() ? BackendGreedy.Place.HOST : BackendGreedy.place(model);
            boolean backend = greedyOnly && place != BackendGreedy.Place.HOST;
            if (t.length == 0 && !(backend && context.greedy.lastPickGreedy) && context.logitsOrNull(ctx, -1) == null) {
                throw new IllegalStateException("the prompt is empty and the last decode kept no logits to sample from: "
                        + "give the last token of a manual Batch logits=true, or pass at least one prompt token");
            }
            if (cached + t.length > context.nCtx) {
                throw new ContextOverflowException("the prompt has " + t.length + " tokens" + (cached > 0 ? " after " + cached + " cached" : "")
                        + " but the context holds " + context.nCtx + " (ContextParams.contextSize)");
            }
            this.promptTokens = t;
            SamplerParams sp = params.sampler();
            if (sp.seed() == -1 && context.params().seed() != -1) sp = sp.toBuilder().seed(context.params().seed()).build();
            s = greedyOnly ? null : Sampler.forStream(vocab, nVocab, sp);
            if (s != null) s.acceptPrompt(t); // the penalty history starts with the prompt, as in llama.cpp's tools
            // in the graph where wanted (the logits stay in it): greedy with the context's own chain, a sampled stream
            // with that chain set to its settings (llama-java's ops) or its own chain lent (llama.cpp's samplers), each
            // after a prompt of its own (an empty one continues from a decode another chain picked); every other stream
            // needs raw logits
            boolean inGraph = context.greedy.placeFor(ctx, place, model.outputRemote, s, t.length > 0);
            this.lentChain = s != null && s.lent;
            this.backendGreedy = inGraph && !lentChain;
            this.decodeAhead = !params.logprobs() && Settings.DECODE_AHEAD.onOff(model.outputRemote);
            this.sampler = s;
            this.emitter = new TokenEmitter(params, texts, nVocab);
            ok = true;
        } finally {
            if (!ok) {
                context.greedy.detach(ctx); // before its sampler is freed, if the chain was lent
                if (s != null) s.close();
                context.abort.end(this);
                context.release();
            }
        }
    }

    @Override
    public int[] promptTokens() {
        return promptTokens.clone();
    }

    @Override
    public void cancel() {
        cancelled = true;
        context.abort.abort(this);
    }

    @Override
    public boolean hasNext() {
        lock.lock();
        try {
            if (stopReason == null && (cancelled || context.isClosed())) {
                finish(cancelled ? StopReason.CANCELLED : StopReason.CLOSED);
            }
            if (stopReason == StopReason.CANCELLED || stopReason == StopReason.CLOSED) ready.clear(); // nothing after a cancel
            while (ready.isEmpty() && stopReason == null) step();
            if (cancelled && stopReason == null) finish(StopReason.CANCELLED);
            return !ready.isEmpty();
        } finally {
            lock.unlock();
        }
    }

    private void step() {
        try {
            if (checkStop()) return;
            if (!promptDone) {
                promptStartNanos = System.nanoTime();
                int rc = promptTokens.length == 0 ? 0 : context.decodeTokens(ctx, promptTokens, 0, promptTokens.length);
                promptEndNanos = System.nanoTime();
                promptDone = true;
                if (decodeFailed(rc)) return;
                kvTokens += promptTokens.length;
            } else if (aheadRc != 0) {
                decodeFailed(aheadRc); // ends the stream
                return;
            } else if (pendingDecode >= 0) {
                if (kvTokens >= context.nCtx) {
                    finish(StopReason.CONTEXT_FULL);
                    return;
                }
                long t0 = System.nanoTime();
                int rc = context.decodeOne(ctx, pendingDecode);
                emitter.decodeNanos += System.nanoTime() - t0;
                pendingDecode = -1;
                if (decodeFailed(rc)) return;
                kvTokens++;
            }
            if (checkStop()) return;
            long s0 = System.nanoTime();
            boolean graphPick = backendGreedy && context.greedy.lastDecodeSampled;
            // the logits row as a Java segment only where Java reads it (log-probabilities): the argmax and the
            // sampler fetch it in the shim, so a token allocates no segment
            MemorySegment logits = MemorySegment.NULL;
            if (!graphPick && !lentChain && (params.logprobs() || context.greedy.lastDecodeSampled)) {
                logits = context.greedy.lastDecodeSampled ? MemorySegment.NULL : llama_h.llama_get_logits_ith(ctx, -1);
                if (logits.equals(MemorySegment.NULL)) throw noLogits();
            }
            long s1 = System.nanoTime();
            int id = graphPick ? context.greedy.sampledAt(ctx, -1, nVocab) : -1;
            if (graphPick && id < 0) throw noLogits();
            if (id < 0 && sampler != null) {
                id = sampler.sample(ctx, -1);
            } else if (id < 0) {
                id = logits.equals(MemorySegment.NULL) ? llama_h.llamajava_argmax_ith(ctx, -1, nVocab) : llama_h.llamajava_argmax(logits, nVocab);
                if (id < 0) throw noLogits();
            }
            aheadRunning = false; // reading the token synchronized the context
            long s2 = System.nanoTime();
            boolean ahead = decodeAhead && goesOn(id);
            if (ahead) {
                int rc = context.decodeOne(ctx, id);
                emitter.decodeNanos += System.nanoTime() - s2;
                if (rc == 0) {
                    kvTokens++;
                    aheadRunning = true;
                } else {
                    aheadRc = rc;
                }
            }
            StopReason end = emitter.emit(id, logits, ready, s1 - s0, s2 - s1);
            if (!ahead && end != StopReason.END_OF_GENERATION) pendingDecode = id;
            if (end != null) finish(end);
        } catch (RuntimeException | Error e) {
            finish(StopReason.CANCELLED);
            throw e;
        }
    }

    /**
     * @return whether the stream goes on after the sampled {@code id} as far as is known before its text: not the end
     *         of generation, not the last of {@code maxTokens}, room in the context, not cancelled
     */
    private boolean goesOn(int id) {
        return !cancelled && kvTokens < context.nCtx && (params.ignoreEos() || !texts.isEog(id))
                && (params.maxTokens() <= 0 || emitter.generated() + 1 < params.maxTokens());
    }

    /** Ends the stream: llama.cpp kept no logits for the last decode. @return the exception to throw */
    private LlamaException noLogits() {
        finish(StopReason.CANCELLED);
        return new LlamaException("llama.cpp has no logits for the last token (see the dev.llamajava.native log)");
    }

    private boolean checkStop() {
        if (context.isClosed()) {
            finish(StopReason.CLOSED);
            return true;
        }
        if (cancelled || Thread.currentThread().isInterrupted()) {
            finish(StopReason.CANCELLED);
            return true;
        }
        return false;
    }

    private boolean decodeFailed(int rc) {
        if (rc == 0) return false;
        if (rc == 1) {
            finish(StopReason.CONTEXT_FULL);
        } else if (rc == 2) {
            finish(context.isClosed() ? StopReason.CLOSED : StopReason.CANCELLED);
        } else {
            finish(StopReason.CANCELLED);
            throw new LlamaException("llama_decode failed with code " + rc + " (see the dev.llamajava.native log)");
        }
        return true;
    }

    private void finish(StopReason reason) {
        if (stopReason != null) return;
        stopReason = reason;
        emitter.flush(reason, ready);
        emitter.graphNanos = context.greedy.opsNanosSincePlaced();
        result = emitter.result(reason, promptDone ? promptTokens.length : 0, startNanos, promptDone ? promptEndNanos - promptStartNanos : 0);
        releaseAll();
        if (onFinish != null) onFinish.accept(this);
    }

    void onFinish(Consumer<ContextStream> f) {
        onFinish = f;
    }

    String resultText() {
        return result.text();
    }

    /**
     * Generated ids that are in the KV cache: the last one handed over is decoded when the stream goes on (or ahead of
     * it, {@link Settings#DECODE_AHEAD}), so it may not be.
     */
    int[] decodedGenerated() {
        int n = emitter.generated();
        return emitter.ids(pendingDecode >= 0 || aheadRc != 0 ? n - 1 : n);
    }

    private void releaseAll() {
        if (released) return;
        released = true;
        try {
            if (aheadRunning) llama_h.llama_synchronize(ctx); // the context is handed back with its decodes done
            if (lentChain) context.greedy.detach(ctx); // the context must not keep a chain that is about to be freed
            if (sampler != null) sampler.close();
        } finally {
            context.abort.end(this);
            context.release();
        }
    }

    @Override
    void endNow() {
        finish(StopReason.CANCELLED);
    }
}
