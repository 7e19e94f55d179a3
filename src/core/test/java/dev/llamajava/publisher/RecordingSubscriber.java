package dev.llamajava.publisher;

import dev.llamajava.Token;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * A subscriber that records every signal in order, notices overlapping signals and signals after a terminal one, and
 * lets a test act in {@code onSubscribe} / {@code onNext}.
 */
final class RecordingSubscriber implements Flow.Subscriber<Token> {

    final List<Token> items = new CopyOnWriteArrayList<>();
    final List<Throwable> errors = new CopyOnWriteArrayList<>();
    final List<String> signals = new CopyOnWriteArrayList<>();
    final List<String> violations = new CopyOnWriteArrayList<>();
    final CountDownLatch terminated = new CountDownLatch(1);
    volatile Flow.Subscription subscription;
    private final AtomicBoolean inSignal = new AtomicBoolean();
    private volatile boolean terminal;
    private final Consumer<Flow.Subscription> onSubscribe;
    private final BiConsumer<Flow.Subscription, Token> onNext;

    RecordingSubscriber(Consumer<Flow.Subscription> onSubscribe, BiConsumer<Flow.Subscription, Token> onNext) {
        this.onSubscribe = onSubscribe;
        this.onNext = onNext;
    }

    /** Requests one item up front, then one more after each item. */
    static RecordingSubscriber oneByOne() {
        return new RecordingSubscriber(s -> s.request(1), (s, t) -> s.request(1));
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        enter("onSubscribe");
        try {
            if (subscription != null) violations.add("onSubscribe twice");
            subscription = s;
            onSubscribe.accept(s);
        } finally {
            leave();
        }
    }

    @Override
    public void onNext(Token item) {
        enter("onNext");
        try {
            items.add(item);
            onNext.accept(subscription, item);
        } finally {
            leave();
        }
    }

    @Override
    public void onError(Throwable t) {
        enter("onError");
        try {
            errors.add(t);
            terminal = true;
        } finally {
            leave();
            terminated.countDown();
        }
    }

    @Override
    public void onComplete() {
        enter("onComplete");
        try {
            terminal = true;
        } finally {
            leave();
            terminated.countDown();
        }
    }

    boolean awaitTerminal(long seconds) throws InterruptedException {
        return terminated.await(seconds, TimeUnit.SECONDS);
    }

    private void enter(String signal) {
        if (!inSignal.compareAndSet(false, true)) violations.add(signal + " overlapped another signal");
        if (terminal) violations.add(signal + " after a terminal signal");
        if (subscription == null && !signal.equals("onSubscribe")) violations.add(signal + " before onSubscribe");
        signals.add(signal);
    }

    private void leave() {
        inSignal.set(false);
    }
}
