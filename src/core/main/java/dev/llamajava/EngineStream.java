package dev.llamajava;

import java.util.concurrent.LinkedBlockingQueue;

/**
 * A stream whose tokens the {@link Engine}'s scheduler decodes, batched with other streams (see {@link TokenStream}).
 * Reading waits for the next token. {@link #cancel()} ends the stream for its reader at once; the engine frees the
 * slot at its next step, and the other streams' tokens do not change.
 */
final class EngineStream extends TokenStream {

    /** What the scheduler hands over after the tokens: the summary, or the failure that ended the generation. */
    record End(GenerationResult result, RuntimeException error) { }

    final int[] prompt;
    final GenerationParams params;
    /** The sampler (null for plain greedy), created on the caller's thread; the scheduler closes it. */
    final Sampler sampler;
    final long submitNanos = System.nanoTime();
    /** Tokens, then one {@link End}: written by the scheduler only. */
    final LinkedBlockingQueue<Object> handoff = new LinkedBlockingQueue<>();
    volatile boolean cancelled;
    private final StringBuilder seen = new StringBuilder();
    private int seenTokens;

    EngineStream(int[] prompt, GenerationParams params, Sampler sampler) {
        this.prompt = prompt;
        this.params = params;
        this.sampler = sampler;
    }

    @Override
    public int[] promptTokens() {
        return prompt.clone();
    }

    @Override
    public void cancel() {
        cancelled = true;
    }

    @Override
    public boolean hasNext() {
        lock.lock();
        try {
            while (ready.isEmpty() && stopReason == null) {
                if (cancelled || Thread.currentThread().isInterrupted()) {
                    cancelled = true;
                    endHere(StopReason.CANCELLED);
                    break;
                }
                Object o;
                try {
                    o = handoff.take();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt(); // the caller sees it; the loop ends the stream as cancelled
                    continue;
                }
                if (o instanceof Token t) {
                    if (!cancelled) ready.add(t);
                } else {
                    End end = (End) o;
                    result = end.result();
                    stopReason = result.stopReason();
                    if (end.error() != null) throw end.error();
                }
            }
            if (cancelled) {
                ready.clear(); // nothing after a cancel
                if (stopReason == null) endHere(StopReason.CANCELLED);
            }
            return !ready.isEmpty();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Token next() {
        lock.lock();
        try {
            Token t = super.next();
            seenTokens++;
            seen.append(t.text());
            return t;
        } finally {
            lock.unlock();
        }
    }

    /** Ends the stream for its reader without waiting for the scheduler: the summary covers what was read. */
    private void endHere(StopReason reason) {
        long now = System.nanoTime();
        result = new GenerationResult(prompt.length, seenTokens, 0, 0, now - submitNanos, reason, seen.toString(), 0, 0, 0, 0, 0, 0);
        stopReason = reason;
    }

    @Override
    void endNow() {
        if (stopReason == null) endHere(StopReason.CANCELLED);
    }
}
