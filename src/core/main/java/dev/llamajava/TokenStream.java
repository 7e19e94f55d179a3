package dev.llamajava;

import dev.llamajava.ffi.llama_h;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * The tokens of one generation, produced lazily: an {@link Iterator}, a {@link Stream} ({@link #stream()}),
 * a callback ({@link #forEachRemaining}), or a {@link Flow.Publisher} ({@link #publisher()}).
 * It ends on an end-of-generation token, {@code maxTokens}, a stop string (never emitted, matched across
 * token boundaries), a full context, or cancellation: {@link #cancel()} from any thread, {@link #close()},
 * or an interrupt of the reading thread (a long prompt batch stops too, through llama.cpp's abort callback).
 * The context stays reserved for this stream until it ends or is closed.
 */
public final class TokenStream implements Iterator<Token>, AutoCloseable {

    private final LlamaContext context;
    private final LlamaModel model;
    private final GenerationParams params;
    private final MemorySegment ctx;
    private final MemorySegment vocab;
    private final Sampler sampler;
    private final int[] promptTokens;
    private final long startNanos = System.nanoTime();
    private final AtomicBoolean cancelled = new AtomicBoolean();
    private final ArrayDeque<Token> ready = new ArrayDeque<>();
    private final StopFilter filter;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
    private final ByteBuffer pending = ByteBuffer.allocate(512);
    private final CharBuffer chars = CharBuffer.allocate(512);
    private final byte[] pieceBytes = new byte[256];
    private final StringBuilder text = new StringBuilder();
    private final int nVocab;

    private boolean promptDone;
    private int pendingDecode = -1;
    private int kvTokens; // tokens in the KV cache: counted here instead of asking llama.cpp every token
    private int generated;
    private long firstTokenNanos;
    private long promptEndNanos;
    private long promptStartNanos;
    private long decodeNanos;
    private long sampleNanos;
    private StopReason stopReason;
    private GenerationResult result;
    private boolean released;
    private int[] generatedIds = new int[64];
    private Consumer<TokenStream> onFinish;

    TokenStream(LlamaContext context, String prompt, int[] tokens, GenerationParams params) {
        this.context = context;
        this.model = context.model();
        this.params = params;
        this.ctx = context.acquire();
        boolean ok = false;
        Sampler s = null;
        try {
            model.acquire();
            try {
                this.vocab = model.vocab();
                this.nVocab = llama_h.llama_vocab_n_tokens(vocab);
                context.setAbort(false);
                if (!params.keepCache()) llama_h.llama_memory_clear(llama_h.llama_get_memory(ctx), false); // metadata only: zeroing the KV buffers costs ~2 ms per call and nothing reads them
                int cached = LlamaContext.cachedTokens(ctx);
                this.kvTokens = cached;
                int[] t = tokens != null ? tokens
                        : model.tokenize(prompt, params.addSpecial() && cached == 0, params.parseSpecial());
                for (int id : t) {
                    if (id < 0 || id >= nVocab) throw new IllegalArgumentException("prompt token " + id + " is outside the vocabulary [0, " + nVocab + ")");
                }
                if (t.length == 0 && cached == 0) throw new IllegalArgumentException("the prompt is empty (no tokens) and the context holds none");
                if (cached + t.length > context.nCtx) {
                    throw new ContextOverflowException("the prompt has " + t.length + " tokens" + (cached > 0 ? " after " + cached + " cached" : "")
                            + " but the context holds " + context.nCtx + " (ContextParams.contextSize)");
                }
                this.promptTokens = t;
                SamplerParams sp = params.sampler();
                if (sp.seed() == -1 && context.params().seed() != -1) sp = sp.toBuilder().seed(context.params().seed()).build();
                s = sp.isPureGreedy() ? null : Sampler.create(model, sp);
                this.sampler = s;
                this.filter = new StopFilter(params.stopStrings());
                ok = true;
            } finally {
                if (!ok) model.release();
            }
        } finally {
            if (!ok) {
                if (s != null) s.close();
                context.release();
            }
        }
    }

    /** Requests cancellation; safe from any thread. The stream ends with {@link StopReason#CANCELLED}. */
    public void cancel() {
        cancelled.set(true);
        context.setAbort(true);
    }

    @Override
    public boolean hasNext() {
        while (ready.isEmpty() && stopReason == null) step();
        return !ready.isEmpty();
    }

    @Override
    public Token next() {
        if (!hasNext()) throw new NoSuchElementException("the generation ended: " + stopReason);
        return ready.poll();
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
            int id = sampler != null ? sampler.sample(ctx, -1)
                    : llama_h.llamajava_argmax(llama_h.llama_get_logits_ith(ctx, -1), nVocab);
            if (generated > 0) sampleNanos += System.nanoTime() - s0;
            if (llama_h.llama_vocab_is_eog(vocab, id)) {
                finish(StopReason.END_OF_GENERATION);
                return;
            }
            float lp = params.logprobs() ? logprob(id) : Float.NaN;
            String piece = piece(id);
            if (generated == 0) firstTokenNanos = System.nanoTime();
            if (generated == generatedIds.length) generatedIds = java.util.Arrays.copyOf(generatedIds, generated * 2);
            generatedIds[generated] = id;
            Token tok = new Token(id, piece, lp, generated++);
            pendingDecode = id;
            if (filter.offer(tok, ready, text)) {
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
        if (cancelled.get() || Thread.currentThread().isInterrupted()) {
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
            throw new LlamaException("llama_decode failed with code " + rc);
        }
        return true;
    }

    private String piece(int id) {
        int n = llama_h.llama_token_to_piece(vocab, id, context.pieceBuf, 256, 0, false);
        if (n < 0) n = 0;
        MemorySegment.copy(context.pieceBuf, ValueLayout.JAVA_BYTE, 0, pieceBytes, 0, n);
        if (pending.remaining() < n) pending.clear();
        pending.put(pieceBytes, 0, n);
        pending.flip();
        chars.clear();
        utf8.decode(pending, chars, false);
        pending.compact();
        chars.flip();
        return chars.toString();
    }

    private float logprob(int id) {
        MemorySegment logits = llama_h.llama_get_logits_ith(ctx, -1).reinterpret((long) nVocab * 4);
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < nVocab; i++) max = Math.max(max, logits.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        double sum = 0;
        for (int i = 0; i < nVocab; i++) sum += Math.exp(logits.getAtIndex(ValueLayout.JAVA_FLOAT, i) - max);
        return (float) (logits.getAtIndex(ValueLayout.JAVA_FLOAT, id) - max - Math.log(sum));
    }

    private void finish(StopReason reason) {
        if (stopReason != null) return;
        stopReason = reason;
        if (reason != StopReason.STOP_STRING) filter.flush(ready, text);
        long end = System.nanoTime();
        if (!promptDone) promptEndNanos = promptStartNanos = end;
        result = new GenerationResult(promptDone ? promptTokens.length : 0, generated,
                generated > 0 ? firstTokenNanos - startNanos : 0, promptEndNanos - promptStartNanos,
                generated > 0 ? end - firstTokenNanos : 0, reason, text.toString(), decodeNanos, sampleNanos);
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
        return java.util.Arrays.copyOf(generatedIds, Math.max(0, n));
    }

    private void releaseAll() {
        if (released) return;
        released = true;
        try {
            if (sampler != null) sampler.close();
        } finally {
            model.release();
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
     */
    public GenerationResult result() {
        while (hasNext()) next();
        return result;
    }

    /**
     * Reads to the end and returns the text.
     *
     * @return the generated text
     */
    public String text() {
        return result().text();
    }

    /**
     * Reads to the end, calling {@code onToken} for each token.
     *
     * @param onToken the callback
     * @return the summary
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
     * A publisher of the remaining tokens for one subscriber, honouring its demand; tokens are produced on a
     * virtual thread. Cancelling the subscription cancels the generation.
     *
     * @return the publisher
     */
    public Flow.Publisher<Token> publisher() {
        AtomicBoolean subscribed = new AtomicBoolean();
        return subscriber -> {
            if (!subscribed.compareAndSet(false, true)) {
                subscriber.onSubscribe(new Flow.Subscription() {
                    @Override public void request(long n) { }
                    @Override public void cancel() { }
                });
                subscriber.onError(new IllegalStateException("a TokenStream publisher accepts one subscriber"));
                return;
            }
            AtomicLong demand = new AtomicLong();
            Object lock = new Object();
            AtomicBoolean done = new AtomicBoolean();
            Thread.ofVirtual().name("llama-java-publisher").start(() -> {
                try {
                    while (!done.get()) {
                        synchronized (lock) {
                            while (demand.get() == 0 && !done.get()) lock.wait();
                        }
                        if (done.get()) break;
                        if (!hasNext()) {
                            done.set(true);
                            subscriber.onComplete();
                            break;
                        }
                        Token t = next();
                        demand.decrementAndGet();
                        subscriber.onNext(t);
                    }
                } catch (Throwable e) {
                    done.set(true);
                    close();
                    subscriber.onError(e);
                } finally {
                    close();
                }
            });
            subscriber.onSubscribe(new Flow.Subscription() {
                @Override
                public void request(long n) {
                    if (n <= 0) {
                        done.set(true);
                        TokenStream.this.cancel();
                        subscriber.onError(new IllegalArgumentException("request(" + n + "): demand must be positive (rule 3.9)"));
                    }
                    demand.accumulateAndGet(n, (a, b) -> a + b < 0 ? Long.MAX_VALUE : a + b);
                    synchronized (lock) {
                        lock.notifyAll();
                    }
                }

                @Override
                public void cancel() {
                    done.set(true);
                    TokenStream.this.cancel();
                    synchronized (lock) {
                        lock.notifyAll();
                    }
                }
            });
        };
    }

    /** Ends the generation (cancelling it if it runs) and frees the context for the next one. Safe to call twice. */
    @Override
    public void close() {
        if (stopReason == null) {
            cancelled.set(true);
            finish(StopReason.CANCELLED);
        }
    }

    /** Holds back text that may be the start of a stop string; cuts the text at a stop string. */
    static final class StopFilter {
        private final List<String> stops;
        private final ArrayDeque<Token> held = new ArrayDeque<>();
        private final StringBuilder heldText = new StringBuilder();

        StopFilter(List<String> stops) {
            this.stops = stops;
        }

        /** @return true when a stop string was found (tokens before it have been emitted) */
        boolean offer(Token t, ArrayDeque<Token> out, StringBuilder all) {
            if (stops.isEmpty()) {
                out.add(t);
                all.append(t.text());
                return false;
            }
            held.add(t);
            heldText.append(t.text());
            int at = -1;
            for (String s : stops) {
                int i = heldText.indexOf(s);
                if (i >= 0 && (at < 0 || i < at)) at = i;
            }
            if (at >= 0) {
                emitUpTo(at, out, all, true);
                return true;
            }
            int hold = 0;
            for (String s : stops) {
                for (int k = Math.min(s.length() - 1, heldText.length()); k > hold; k--) {
                    if (heldText.substring(heldText.length() - k).equals(s.substring(0, k))) {
                        hold = k;
                        break;
                    }
                }
            }
            emitUpTo(heldText.length() - hold, out, all, false);
            return false;
        }

        /** Emits held tokens whose text ends at or before {@code limit}; with {@code cut}, the one spanning it is cut. */
        private void emitUpTo(int limit, ArrayDeque<Token> out, StringBuilder all, boolean cut) {
            int pos = 0;
            while (!held.isEmpty()) {
                Token t = held.peek();
                int end = pos + t.text().length();
                if (end <= limit) {
                    out.add(held.poll());
                    all.append(t.text());
                    pos = end;
                } else {
                    if (cut && limit > pos) {
                        String part = t.text().substring(0, limit - pos);
                        out.add(new Token(t.id(), part, t.logprob(), t.index()));
                        all.append(part);
                    }
                    break;
                }
            }
            heldText.delete(0, pos);
            if (cut) {
                held.clear();
                heldText.setLength(0);
            }
        }

        void flush(ArrayDeque<Token> out, StringBuilder all) {
            while (!held.isEmpty()) {
                Token t = held.poll();
                out.add(t);
                all.append(t.text());
            }
            heldText.setLength(0);
        }
    }
}
