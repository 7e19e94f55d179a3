package dev.llamajava;

import dev.llamajava.internal.TokenPublisher;

import java.util.ArrayDeque;
import java.util.Iterator;
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
 * {@link #cancel()} from any thread, {@link #close()}, or an interrupt of the reading thread.
 *
 * <p>Two kinds exist. {@link LlamaContext#generate} gives a stream that decodes on the reading thread and keeps its
 * context reserved until it ends or is closed (a long prompt batch stops on cancel too, through llama.cpp's abort
 * callback). {@link Engine#generate} gives a stream whose tokens are decoded by the engine's scheduler, batched with
 * other streams; reading waits for the next token.
 *
 * <p>Reading is serialised: {@code hasNext}/{@code next} from two threads never run at once. {@link #cancel()} affects
 * only this stream, and is a no-op once it ended. If the last token leaves a UTF-8 character incomplete, one more
 * token with id {@link Token#INCOMPLETE_UTF8} carries U+FFFD for those bytes.
 */
public abstract sealed class TokenStream implements Iterator<Token>, AutoCloseable permits ContextStream, EngineStream {

    final ReentrantLock lock = new ReentrantLock();
    final ArrayDeque<Token> ready = new ArrayDeque<>();
    volatile StopReason stopReason;
    GenerationResult result;

    TokenStream() { }

    /** Requests cancellation; safe from any thread, any time. The stream ends with {@link StopReason#CANCELLED}. */
    public abstract void cancel();

    /**
     * Ends the generation (cancelling it if it runs) and frees what it holds (a context's stream frees the context for
     * the next generation). Safe to call twice and from any thread: while another thread is reading (inside a decode,
     * or waiting for the engine), this cancels and that thread's call ends the stream.
     */
    @Override
    public void close() {
        if (stopReason != null) return;
        cancel();
        if (lock.tryLock()) {
            try {
                endNow();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Ends the stream now, as cancelled; called holding the lock. */
    abstract void endNow();

    /** @return the prompt's token ids */
    public abstract int[] promptTokens();

    /**
     * @return whether another token comes; may decode (or wait for the engine) until one does
     * @throws LlamaException when llama.cpp fails
     */
    @Override
    public abstract boolean hasNext();

    /**
     * @return the next token
     * @throws NoSuchElementException when the generation ended
     * @throws LlamaException         when llama.cpp fails
     */
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

    /** @return why it ended, or null while running */
    public StopReason stopReason() {
        return stopReason;
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
}
