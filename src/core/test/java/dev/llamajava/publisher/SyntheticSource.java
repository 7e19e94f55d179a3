package dev.llamajava.publisher;

import dev.llamajava.Token;
import dev.llamajava.internal.TokenPublisher;

import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A {@link TokenPublisher.Source} of exactly {@code elements} synthetic tokens ({@code Long.MAX_VALUE}: endless) that
 * records how the publisher drives it: cancel and close calls, and every breach of the source contract (overlapping
 * calls, {@code next()} without a preceding {@code hasNext() == true}, calls after {@code close()}, a second close).
 */
final class SyntheticSource implements TokenPublisher.Source<Token> {

    private final long elements;
    private final RuntimeException failure;
    private volatile long produced; // written by the producer thread only
    private boolean hasNextTrue;
    private final AtomicBoolean busy = new AtomicBoolean();
    final AtomicInteger hasNextCalls = new AtomicInteger();
    final AtomicInteger cancels = new AtomicInteger();
    final AtomicInteger closes = new AtomicInteger();
    private final List<String> violations = new ArrayList<>();

    /** @param elements how many tokens it yields; {@code Long.MAX_VALUE} for an endless source */
    SyntheticSource(long elements) {
        this(elements, null);
    }

    /** A source whose {@code hasNext()} throws {@code failure} (when not null). */
    SyntheticSource(long elements, RuntimeException failure) {
        this.elements = elements;
        this.failure = failure;
    }

    static Token token(long i) {
        return new Token((int) i, "t" + i, Float.NaN, (int) i);
    }

    @Override
    public boolean hasNext() {
        enter("hasNext");
        try {
            hasNextCalls.incrementAndGet();
            if (failure != null) throw failure;
            hasNextTrue = elements == Long.MAX_VALUE || produced < elements;
            return hasNextTrue;
        } finally {
            leave();
        }
    }

    @Override
    public Token next() {
        enter("next");
        try {
            if (!hasNextTrue) {
                violation("next() without hasNext() == true before it");
                throw new NoSuchElementException();
            }
            hasNextTrue = false;
            return token(produced++);
        } finally {
            leave();
        }
    }

    @Override
    public void cancel() {
        cancels.incrementAndGet(); // any thread, any time
    }

    @Override
    public void close() {
        enter("close");
        try {
            if (closes.incrementAndGet() > 1) violation("close() called " + closes.get() + " times");
        } finally {
            leave();
        }
    }

    /** @return how many tokens {@code next()} handed out */
    long produced() {
        return produced;
    }

    /** @return the contract breaches seen so far */
    synchronized List<String> violations() {
        return List.copyOf(violations);
    }

    private void enter(String what) {
        if (!busy.compareAndSet(false, true)) violation(what + "() overlapped another call");
        if (closes.get() > 0 && !what.equals("close")) violation(what + "() after close()");
    }

    private void leave() {
        busy.set(false);
    }

    private synchronized void violation(String v) {
        violations.add(v);
    }
}
