package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.LogSoftmax;
import dev.llamajava.internal.StopFilter;
import dev.llamajava.internal.TokenPublisher;
import dev.llamajava.internal.TokenTexts;
import dev.llamajava.internal.Utf8Accumulator;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.Flow;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * The tokens of one generation, produced lazily: an {@link Iterator}, a {@link Stream} ({@link #stream()}), a callback
 * ({@link #collect}), or a {@link Flow.Publisher} ({@link #publisher()}). It ends on an end-of-generation token,
 * {@code maxTokens}, a stop string (never emitted, matched across token boundaries), a full context, or cancellation:
 * {@link #cancel()} from any thread, {@link #close()}, or an interrupt of the reading thread (a long prompt batch stops
 * too, through llama.cpp's abort callback). The context stays reserved for this stream until it ends or is closed.
 *
 * <p>Reading is serialised: {@code hasNext}/{@code next} from two threads never run at once. {@link #cancel()} affects
 * only this stream, and is a no-op once it ended or its context closed. {@link #close()} from another thread while the
 * reader is inside a decode cancels that decode; the reader's call then ends the stream and frees the context.
 * If the last token leaves a UTF-8 character incomplete, one more token with id {@link Token#INCOMPLETE_UTF8} carries
 * U+FFFD for those bytes.
 */
public final class TokenStream implements Iterator<Token>, AutoCloseable {

    private final LlamaContext context;
    private final GenerationParams params;
    private final MemorySegment ctx;
    private final MemorySegment vocab;
    private final Sampler sampler;
    private final int[] promptTokens;
    private final int nVocab;
    private final TokenTexts texts;
    private final boolean backendGreedy;
    private final long startNanos = System.nanoTime();
    private final ReentrantLock lock = new ReentrantLock();
    private final ArrayDeque<Token> ready = new ArrayDeque<>();
    private final StopFilter filter;
    private final Utf8Accumulator utf8 = new Utf8Accumulator();
    private final StringBuilder text = new StringBuilder();
    private volatile boolean cancelled;

    private boolean promptDone;
    private int pendingDecode = -1;
    private int kvTokens; // tokens in the KV cache: counted here instead of asking llama.cpp every token
    private int generated;
    private long firstTokenNanos;
    private long promptEndNanos;
    private long promptStartNanos;
    private long decodeNanos;
    private long sampleNanos;
    private long logitsNanos;
    private long pieceNanos;
    private long stopNanos;
    private volatile StopReason stopReason;
    private GenerationResult result;
    private boolean released;
    private int[] generatedIds = new int[64];
    private Consumer<TokenStream> onFinish;

    TokenStream(LlamaContext context, String prompt, int[] tokens, GenerationParams params) {
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
            boolean backend = greedyOnly && !params.logprobs() && BackendGreedy.wanted(model);
            if (t.length == 0 && !(backend && context.greedy.lastDecodeSampled) && context.logitsOrNull(ctx, -1) == null) {
                throw new IllegalStateException("the prompt is empty and the last decode kept no logits to sample from: "
                        + "give the last token of a manual Batch logits=true, or pass at least one prompt token");
            }
            // greedy in the graph where wanted (the logits stay on the device); every other stream needs raw logits
            if (backend) backend = context.greedy.attach(ctx);
            else context.greedy.detach(ctx);
            this.backendGreedy = backend;
            if (cached + t.length > context.nCtx) {
                throw new ContextOverflowException("the prompt has " + t.length + " tokens" + (cached > 0 ? " after " + cached + " cached" : "")
                        + " but the context holds " + context.nCtx + " (ContextParams.contextSize)");
            }
            this.promptTokens = t;
            SamplerParams sp = params.sampler();
            if (sp.seed() == -1 && context.params().seed() != -1) sp = sp.toBuilder().seed(context.params().seed()).build();
            s = greedyOnly ? null : Sampler.forStream(vocab, nVocab, sp);
            if (s != null) s.acceptPrompt(t); // the penalty history starts with the prompt, as in llama.cpp's tools
            this.sampler = s;
            this.filter = new StopFilter(params.stopStrings());
            ok = true;
        } finally {
            if (!ok) {
                if (s != null) s.close();
                context.abort.end(this);
                context.release();
            }
        }
    }

    /** Requests cancellation; safe from any thread, any time. The stream ends with {@link StopReason#CANCELLED}. */
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

    @Override
    public Token next() {
        lock.lock();
        try {
            if (!hasNext()) throw new NoSuchElementException("the generation ended: " + stopReason);
            return ready.poll();
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
            } else if (pendingDecode >= 0) {
                if (kvTokens >= context.nCtx) {
                    finish(StopReason.CONTEXT_FULL);
                    return;
                }
                long t0 = System.nanoTime();
                int rc = context.decodeOne(ctx, pendingDecode);
                decodeNanos += System.nanoTime() - t0;
                pendingDecode = -1;
                if (decodeFailed(rc)) return;
                kvTokens++;
            }
            if (checkStop()) return;
            long s0 = System.nanoTime();
            int id = backendGreedy ? context.greedy.sampledToken(ctx, nVocab) : -1;
            MemorySegment logits = MemorySegment.NULL;
            if (id < 0) {
                logits = context.greedy.lastDecodeSampled ? MemorySegment.NULL : llama_h.llama_get_logits_ith(ctx, -1);
                if (logits.equals(MemorySegment.NULL)) {
                    finish(StopReason.CANCELLED);
                    throw new LlamaException("llama.cpp has no logits for the last token (see the dev.llamajava.native log)");
                }
            }
            long s1 = System.nanoTime();
            if (id < 0) id = sampler != null ? sampler.sample(ctx, -1) : llama_h.llamajava_argmax(logits, nVocab);
            long s2 = System.nanoTime();
            if (texts.isEog(id)) {
                finish(StopReason.END_OF_GENERATION);
                return;
            }
            float lp = Float.NaN;
            List<Token.Alternative> top = List.of();
            if (params.logprobs()) {
                MemorySegment row = logits.reinterpret((long) nVocab * 4);
                double lse = LogSoftmax.logSumExp(row, nVocab);
                lp = (float) (row.getAtIndex(ValueLayout.JAVA_FLOAT, id) - lse);
                if (params.topLogprobs() > 0) top = alternatives(row, lse, params.topLogprobs());
            }
            String piece = piece(id);
            long s3 = System.nanoTime();
            if (generated == 0) firstTokenNanos = s3;
            if (generated == generatedIds.length) generatedIds = Arrays.copyOf(generatedIds, generated * 2);
            generatedIds[generated] = id;
            Token tok = new Token(id, piece, lp, generated, top);
            pendingDecode = id;
            boolean stop = filter.offer(tok, ready, text);
            if (generated++ > 0) {
                logitsNanos += s1 - s0;
                sampleNanos += s2 - s1;
                pieceNanos += s3 - s2;
                stopNanos += System.nanoTime() - s3;
            }
            if (stop) {
                finish(StopReason.STOP_STRING);
                return;
            }
            if (params.maxTokens() > 0 && generated >= params.maxTokens()) finish(StopReason.MAX_TOKENS);
        } catch (RuntimeException | Error e) {
            finish(StopReason.CANCELLED);
            throw e;
        }
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

    /** The token's text: its cached piece, through the UTF-8 accumulator only when bytes of a character are pending or split. */
    private String piece(int id) {
        TokenTexts.Piece p = texts.piece(id);
        if (p.text() != null && !utf8.hasPending()) return p.text();
        return utf8.append(p.bytes(), p.bytes().length);
    }

    /** The k most probable tokens of the logits row, most probable first, with their log-probabilities. */
    private List<Token.Alternative> alternatives(MemorySegment row, double lse, int k) {
        int[] best = LogSoftmax.top(row, nVocab, k);
        List<Token.Alternative> out = new ArrayList<>(best.length);
        for (int id : best) {
            out.add(new Token.Alternative(id, new String(texts.piece(id).bytes(), StandardCharsets.UTF_8),
                    (float) (row.getAtIndex(ValueLayout.JAVA_FLOAT, id) - lse)));
        }
        return out;
    }

    private void finish(StopReason reason) {
        if (stopReason != null) return;
        stopReason = reason;
        if (reason != StopReason.STOP_STRING) {
            String tail = utf8.flush();
            if (!tail.isEmpty()) filter.offer(new Token(Token.INCOMPLETE_UTF8, tail, Float.NaN, generated), ready, text);
            filter.flush(ready, text);
        }
        long end = System.nanoTime();
        if (!promptDone) promptEndNanos = promptStartNanos = end;
        result = new GenerationResult(promptDone ? promptTokens.length : 0, generated,
                generated > 0 ? firstTokenNanos - startNanos : 0, promptEndNanos - promptStartNanos,
                generated > 0 ? end - firstTokenNanos : 0, reason, text.toString(), decodeNanos, sampleNanos,
                logitsNanos, pieceNanos, stopNanos);
        releaseAll();
        if (onFinish != null) onFinish.accept(this);
    }

    void onFinish(Consumer<TokenStream> f) {
        onFinish = f;
    }

    String resultText() {
        return result.text();
    }

    /** Generated ids that are in the KV cache (the last sampled one is decoded lazily, so it may not be). */
    int[] decodedGenerated() {
        int n = pendingDecode >= 0 ? generated - 1 : generated;
        return Arrays.copyOf(generatedIds, Math.max(0, n));
    }

    private void releaseAll() {
        if (released) return;
        released = true;
        try {
            if (sampler != null) sampler.close();
        } finally {
            context.abort.end(this);
            context.release();
        }
    }

    /** @return why it ended, or null while running */
    public StopReason stopReason() {
        return stopReason;
    }

    /** @return the prompt's token ids */
    public int[] promptTokens() {
        return promptTokens.clone();
    }

    /**
     * @return the summary; reads the stream to its end first
     * @throws LlamaException when llama.cpp fails while reading the rest
     */
    public GenerationResult result() {
        lock.lock();
        try {
            while (hasNext()) next();
            return result;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Reads to the end and returns the text.
     *
     * @return the generated text
     * @throws LlamaException when llama.cpp fails while reading the rest
     */
    public String text() {
        return result().text();
    }

    /**
     * Reads to the end, calling {@code onToken} for each token.
     *
     * @param onToken the callback
     * @return the summary
     * @throws LlamaException when llama.cpp fails while reading the rest
     */
    public GenerationResult collect(Consumer<? super Token> onToken) {
        forEachRemaining(onToken);
        return result();
    }

    /** @return the remaining tokens as a sequential stream; closing it closes this */
    public Stream<Token> stream() {
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(this, Spliterator.ORDERED | Spliterator.NONNULL), false)
                .onClose(this::close);
    }

    /**
     * A publisher of the remaining tokens for one subscriber, honouring its demand and the Reactive Streams rules;
     * tokens are produced on a virtual thread. Cancelling the subscription cancels the generation; the stream is
     * closed when the publisher is done.
     *
     * @return the publisher
     */
    public Flow.Publisher<Token> publisher() {
        return new TokenPublisher<>(new TokenPublisher.Source<>() {
            @Override public boolean hasNext() { return TokenStream.this.hasNext(); }
            @Override public Token next() { return TokenStream.this.next(); }
            @Override public void cancel() { TokenStream.this.cancel(); }
            @Override public void close() { TokenStream.this.close(); }
        });
    }

    /**
     * Ends the generation (cancelling it if it runs) and frees the context for the next one. Safe to call twice and
     * from any thread: while another thread is inside a decode, this cancels it and that thread's call ends the stream.
     */
    @Override
    public void close() {
        if (stopReason != null) return;
        cancel();
        if (lock.tryLock()) {
            try {
                finish(StopReason.CANCELLED);
            } finally {
                lock.unlock();
            }
        }
    }
}
