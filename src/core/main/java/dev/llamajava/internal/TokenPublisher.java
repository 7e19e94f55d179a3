package dev.llamajava.internal;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.Objects;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A {@link Flow.Publisher} over a one-shot source, for one subscriber, following the Reactive Streams rules: every
 * signal after {@code onSubscribe} comes from one producer thread (a virtual thread), so signals never overlap;
 * {@code request(n <= 0)} signals {@code onError} once and stops (rule 3.9); cancel stops the source; demand is
 * honoured and capped at {@code Long.MAX_VALUE}; an exception thrown by the subscriber cancels (rule 2.13).
 *
 * @param <T> the element type
 */
public final class TokenPublisher<T> implements Flow.Publisher<T> {

    private static final Logger LOG = System.getLogger("dev.llamajava");

    /** What the publisher reads. */
    public interface Source<T> {
        /** @return whether another element follows (may block to produce it) */
        boolean hasNext();

        /** @return the next element */
        T next();

        /** Requests that a running {@link #hasNext()} stop soon; any thread. */
        void cancel();

        /** Releases the source; called once, on the producer thread, when the publisher is done. */
        void close();
    }

    private final Source<T> source;
    private final AtomicBoolean subscribed = new AtomicBoolean();

    /** @param source the one-shot source */
    public TokenPublisher(Source<T> source) {
        this.source = Objects.requireNonNull(source, "source");
    }

    @Override
    public void subscribe(Flow.Subscriber<? super T> subscriber) {
        Objects.requireNonNull(subscriber, "subscriber"); // rule 1.9
        if (!subscribed.compareAndSet(false, true)) {
            subscriber.onSubscribe(new Flow.Subscription() {
                @Override public void request(long n) { }
                @Override public void cancel() { }
            });
            subscriber.onError(new IllegalStateException("this publisher accepts one subscriber"));
            return;
        }
        Subscription s = new Subscription(subscriber);
        try {
            subscriber.onSubscribe(s);
        } catch (Throwable t) {
            LOG.log(Level.WARNING, "onSubscribe threw; the subscription is cancelled", t);
            s.cancel();
        }
        Thread.ofVirtual().name("llama-java-publisher").start(s::run);
    }

    private final class Subscription implements Flow.Subscription {
        private final Flow.Subscriber<? super T> subscriber;
        private long demand;
        private boolean cancelled;
        private Throwable error;

        Subscription(Flow.Subscriber<? super T> subscriber) {
            this.subscriber = subscriber;
        }

        @Override
        public synchronized void request(long n) {
            if (cancelled || error != null) return;
            if (n <= 0) {
                error = new IllegalArgumentException("request(" + n + "): demand must be positive (Reactive Streams rule 3.9)");
                source.cancel();
            } else {
                demand = demand + n < 0 ? Long.MAX_VALUE : demand + n;
            }
            notifyAll();
        }

        @Override
        public synchronized void cancel() {
            if (cancelled) return;
            cancelled = true;
            source.cancel();
            notifyAll();
        }

        /** @return 1 to emit, 0 when cancelled, -1 when an error is to be signalled */
        private synchronized int awaitDemand() throws InterruptedException {
            while (demand == 0 && !cancelled && error == null) wait();
            return cancelled ? 0 : error != null ? -1 : 1;
        }

        private synchronized int state() {
            return cancelled ? 0 : error != null ? -1 : 1;
        }

        private synchronized void took() {
            if (demand != Long.MAX_VALUE) demand--;
        }

        void run() {
            try {
                for (;;) {
                    int st = awaitDemand();
                    if (st == 0) return;
                    if (st < 0) {
                        signalError(error);
                        return;
                    }
                    boolean has;
                    try {
                        has = source.hasNext();
                    } catch (Throwable t) {
                        st = state();
                        if (st != 0) signalError(st < 0 ? error : t); // a request(n <= 0) that cancelled the source wins
                        return;
                    }
                    st = state(); // a cancel or a bad request may have ended a running hasNext()
                    if (st == 0) return;
                    if (st < 0) {
                        signalError(error);
                        return;
                    }
                    if (!has) {
                        subscriber.onComplete();
                        return;
                    }
                    T item;
                    try {
                        item = source.next();
                    } catch (Throwable t) { // the source failed, or a cancel / request(n <= 0) emptied it after hasNext()
                        st = state();
                        if (st != 0) signalError(st < 0 ? error : t);
                        return;
                    }
                    took();
                    subscriber.onNext(item);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Throwable t) {
                LOG.log(Level.WARNING, "a subscriber threw (Reactive Streams rule 2.13); the subscription is cancelled", t);
                cancel();
            } finally {
                try {
                    source.close();
                } catch (Throwable t) {
                    LOG.log(Level.WARNING, "closing the publisher's source failed", t);
                }
            }
        }

        private void signalError(Throwable t) {
            synchronized (this) {
                cancelled = true; // nothing after onError
            }
            subscriber.onError(t);
        }
    }
}
