package dev.llamajava.publisher;

import dev.llamajava.Token;
import dev.llamajava.TokenStream;
import dev.llamajava.internal.TokenPublisher;
import org.junit.jupiter.api.Test;
import org.testng.SkipException;
import org.testng.annotations.AfterMethod;
import org.testng.annotations.BeforeMethod;

import java.lang.annotation.Annotation;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link TokenPublisher} against the Reactive Streams TCK (reactive-streams-tck-flow, TestNG-based, driven here from
 * JUnit by reflection), plus the rules that matter most checked directly ({@link TokenStreamPublisherTest}: on the
 * real model).
 */
class TokenPublisherTckTest {

    enum Result { PASSED, SKIPPED, FAILED }

    record Outcome(Result result, Throwable cause) { }

    /** Runs every TestNG {@code @Test} method of the verification, each on a fresh instance after its {@code @BeforeMethod}s. */
    static Map<String, Outcome> runTck(List<String> sourceViolations) throws Exception {
        Map<String, Outcome> out = new TreeMap<>();
        List<Method> tests = new ArrayList<>();
        for (Method m : TokenPublisherVerification.class.getMethods()) {
            org.testng.annotations.Test t = m.getAnnotation(org.testng.annotations.Test.class);
            if (t != null && t.enabled() && m.getParameterCount() == 0) tests.add(m);
        }
        tests.sort(Comparator.comparing(Method::getName));
        for (Method m : tests) {
            TokenPublisherVerification v = new TokenPublisherVerification();
            Outcome o;
            try {
                o = assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
                    invokeAll(v, BeforeMethod.class);
                    try {
                        m.invoke(v);
                        return new Outcome(Result.PASSED, null);
                    } catch (InvocationTargetException e) {
                        Throwable c = e.getCause();
                        return new Outcome(c instanceof SkipException ? Result.SKIPPED : Result.FAILED, c);
                    } finally {
                        invokeAll(v, AfterMethod.class);
                    }
                }, m.getName());
            } catch (Throwable t) { // the timeout, or a @BeforeMethod/@AfterMethod failure
                o = new Outcome(Result.FAILED, t);
            }
            out.put(m.getName(), o);
            for (String violation : v.sourceViolations()) sourceViolations.add(m.getName() + ": " + violation);
        }
        return out;
    }

    private static void invokeAll(Object target, Class<? extends Annotation> annotation) throws Exception {
        for (Method m : target.getClass().getMethods()) {
            if (m.isAnnotationPresent(annotation)) m.invoke(target);
        }
    }

    @Test
    void reactiveStreamsTck() throws Exception {
        List<String> sourceViolations = new ArrayList<>();
        Map<String, Outcome> results = runTck(sourceViolations);
        Map<Result, Integer> counts = new TreeMap<>();
        for (Outcome o : results.values()) counts.merge(o.result(), 1, Integer::sum);
        StringBuilder report = new StringBuilder("Reactive Streams TCK (FlowPublisherVerification) on TokenPublisher: ")
                .append(results.size()).append(" rules, ").append(counts).append('\n');
        results.forEach((name, o) -> {
            if (o.result() != Result.PASSED) {
                report.append("  ").append(o.result()).append(' ').append(name).append(": ").append(o.cause()).append('\n');
            }
        });
        System.out.println(report);

        List<String> failed = results.entrySet().stream().filter(e -> e.getValue().result() == Result.FAILED)
                .map(e -> e.getKey() + ": " + e.getValue().cause()).toList();
        assertTrue(failed.isEmpty(), "TCK failures:\n" + String.join("\n", failed));
        // every rule the TCK can check (required and stochastic) ran and passed: only untested_ (never verifiable) and
        // optional_ rules (multi-subscribe: a TokenPublisher serves one subscriber) may be skipped
        for (var e : results.entrySet()) {
            if (e.getKey().startsWith("required_") || e.getKey().startsWith("stochastic_")) {
                assertEquals(Result.PASSED, e.getValue().result(), e.getKey() + ": " + e.getValue().cause());
            }
            if (e.getKey().startsWith("untested_")) assertEquals(Result.SKIPPED, e.getValue().result(), e.getKey());
        }
        // rule 3.9 (request(n <= 0) signals onError(IllegalArgumentException)) and rule 1.3 (signals never overlap;
        // "stochastic_" in TCK 1.0.4, which runs it 100 times) ran and passed
        for (String rule : List.of("required_spec309_requestZeroMustSignalIllegalArgumentException",
                "required_spec309_requestNegativeNumberMustSignalIllegalArgumentException",
                "optional_spec309_requestNegativeNumberMaySignalIllegalArgumentExceptionWithSpecificMessage",
                "stochastic_spec103_mustSignalOnMethodsSequentially",
                "required_spec109_mayRejectCallsToSubscribeIfPublisherIsUnableOrUnwillingToServeThemRejectionMustTriggerOnErrorAfterOnSubscribe",
                "optional_spec104_mustSignalOnErrorWhenFails")) {
            assertTrue(results.containsKey(rule), "the TCK has no rule " + rule + ": " + results.keySet());
            assertEquals(Result.PASSED, results.get(rule).result(), rule + ": " + results.get(rule).cause());
        }
        assertTrue(results.size() >= 38, "only " + results.size() + " TCK rules found"); // TCK 1.0.4 has 38
        // the only skips: what the TCK never verifies, and multi-subscribe (rule 1.11 is optional; a TokenPublisher
        // rejects a second subscriber with onError, which the TCK reports as "not implemented")
        for (var e : results.entrySet()) {
            if (e.getValue().result() == Result.SKIPPED) {
                assertTrue(e.getKey().startsWith("untested_") || e.getKey().startsWith("optional_spec111_"),
                        "skipped: " + e.getKey() + ": " + e.getValue().cause());
            }
        }
        // the publisher drove every source by the Source contract: no overlapping calls, next() only after
        // hasNext() == true, nothing after close(), close() at most once
        assertTrue(sourceViolations.isEmpty(), String.join("\n", sourceViolations));
    }

    // ---- the rules of the issue, checked directly on synthetic sources ----

    @Test
    void requestZeroSignalsOneIllegalArgumentExceptionAndStops() throws Exception {
        for (long bad : new long[] {0, -1, Long.MIN_VALUE}) {
            SyntheticSource src = new SyntheticSource(Long.MAX_VALUE);
            RecordingSubscriber sub = new RecordingSubscriber(s -> s.request(2), (s, t) -> {
                if (t.index() == 1) {
                    s.request(bad);
                    s.request(bad); // a second bad request: still one onError
                    s.request(5);   // and no more items after it
                }
            });
            new TokenPublisher<>(src).subscribe(sub);
            assertTrue(sub.awaitTerminal(10), "no terminal signal after request(" + bad + ")");
            Thread.sleep(100); // room for any stray signal
            assertEquals(1, sub.errors.size(), sub.signals.toString());
            IllegalArgumentException e = assertInstanceOf(IllegalArgumentException.class, sub.errors.getFirst());
            assertTrue(e.getMessage().contains("3.9"), e.getMessage());
            assertEquals(List.of("onSubscribe", "onNext", "onNext", "onError"), sub.signals);
            assertEquals(List.of(SyntheticSource.token(0), SyntheticSource.token(1)), sub.items);
            assertEquals(List.of(), sub.violations);
            awaitClosed(src);
            assertTrue(src.cancels.get() >= 1, "request(" + bad + ") did not cancel the source");
            assertEquals(2, src.produced());
            assertEquals(List.of(), src.violations());
        }
    }

    @Test
    void requestZeroStopsASourceThatIsBusyProducing() throws Exception {
        // hasNext() blocks (like a decode) until the source is cancelled: request(0) must end it, and signal the
        // IllegalArgumentException, not whatever the cancelled source answered
        CountDownLatch inHasNext = new CountDownLatch(1);
        CountDownLatch cancelled = new CountDownLatch(1);
        int[] closes = {0};
        TokenPublisher.Source<Token> src = new TokenPublisher.Source<>() {
            @Override public boolean hasNext() {
                inHasNext.countDown();
                try {
                    if (!cancelled.await(30, TimeUnit.SECONDS)) throw new AssertionError("never cancelled");
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                return false; // a cancelled TokenStream answers "no more tokens"
            }
            @Override public Token next() { throw new AssertionError("next() after hasNext() == false"); }
            @Override public void cancel() { cancelled.countDown(); }
            @Override public synchronized void close() { closes[0]++; }
        };
        RecordingSubscriber sub = new RecordingSubscriber(s -> s.request(1), (s, t) -> { });
        new TokenPublisher<>(src).subscribe(sub);
        assertTrue(inHasNext.await(10, TimeUnit.SECONDS));
        sub.subscription.request(0);
        assertTrue(sub.awaitTerminal(10), "request(0) did not end a busy source");
        Thread.sleep(100);
        assertEquals(List.of("onSubscribe", "onError"), sub.signals);
        assertInstanceOf(IllegalArgumentException.class, sub.errors.getFirst());
        assertEquals(List.of(), sub.violations);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (closeCount(src, closes) == 0 && System.nanoTime() < deadline) Thread.sleep(10);
        assertEquals(1, closeCount(src, closes));
    }

    @Test
    void requestZeroWhileTheSourceHandsOverAnItem() throws Exception {
        // the window between hasNext() == true and next(): a TokenStream that is cancelled there (request(0) cancels
        // it) has no token left to hand over and throws NoSuchElementException from next(). The request(0) must
        // still end in onError(IllegalArgumentException) (rule 3.9), not in silence.
        CountDownLatch inNext = new CountDownLatch(1);
        CountDownLatch cancelled = new CountDownLatch(1);
        TokenPublisher.Source<Token> src = new TokenPublisher.Source<>() {
            @Override public boolean hasNext() { return true; }
            @Override public Token next() {
                inNext.countDown();
                try {
                    if (!cancelled.await(30, TimeUnit.SECONDS)) throw new AssertionError("never cancelled");
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                throw new NoSuchElementException("the generation ended: CANCELLED");
            }
            @Override public void cancel() { cancelled.countDown(); }
            @Override public void close() { }
        };
        RecordingSubscriber sub = new RecordingSubscriber(s -> s.request(1), (s, t) -> { });
        new TokenPublisher<>(src).subscribe(sub);
        assertTrue(inNext.await(10, TimeUnit.SECONDS));
        sub.subscription.request(0);
        assertTrue(sub.awaitTerminal(10), "request(0) while next() ran ended without onError: " + sub.signals);
        assertEquals(List.of("onSubscribe", "onError"), sub.signals);
        assertInstanceOf(IllegalArgumentException.class, sub.errors.getFirst());
    }

    private static int closeCount(Object lock, int[] closes) {
        synchronized (lock) {
            return closes[0];
        }
    }

    @Test
    void aFailingSourceSignalsItsExceptionOnce() throws Exception {
        IllegalStateException boom = new IllegalStateException("boom");
        SyntheticSource src = new SyntheticSource(3, boom);
        RecordingSubscriber sub = RecordingSubscriber.oneByOne();
        new TokenPublisher<>(src).subscribe(sub);
        assertTrue(sub.awaitTerminal(10));
        Thread.sleep(100);
        assertEquals(List.of("onSubscribe", "onError"), sub.signals);
        assertSame(boom, sub.errors.getFirst());
        awaitClosed(src);
        assertEquals(1, src.hasNextCalls.get());
        assertEquals(List.of(), src.violations());
    }

    @Test
    void demandIsHonouredAndCompletionClosesTheSourceOnce() throws Exception {
        SyntheticSource src = new SyntheticSource(5);
        RecordingSubscriber sub = new RecordingSubscriber(s -> s.request(2), (s, t) -> { });
        new TokenPublisher<>(src).subscribe(sub);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (sub.items.size() < 2 && System.nanoTime() < deadline) Thread.sleep(5);
        Thread.sleep(200); // no third item without demand
        assertEquals(2, sub.items.size(), sub.signals.toString());
        assertEquals(0, src.closes.get());
        sub.subscription.request(Long.MAX_VALUE);
        sub.subscription.request(Long.MAX_VALUE); // capped, no overflow error
        assertTrue(sub.awaitTerminal(10));
        assertEquals(List.of("onSubscribe", "onNext", "onNext", "onNext", "onNext", "onNext", "onComplete"), sub.signals);
        for (int i = 0; i < 5; i++) assertEquals(SyntheticSource.token(i), sub.items.get(i));
        assertEquals(List.of(), sub.errors);
        assertEquals(List.of(), sub.violations);
        awaitClosed(src);
        assertEquals(0, src.cancels.get(), "a completed stream is not cancelled");
        assertEquals(List.of(), src.violations());
    }

    @Test
    void cancelCancelsAndClosesTheSourceAndStopsSignals() throws Exception {
        SyntheticSource src = new SyntheticSource(Long.MAX_VALUE);
        RecordingSubscriber sub = new RecordingSubscriber(s -> s.request(Long.MAX_VALUE), (s, t) -> {
            if (t.index() == 9) s.cancel();
        });
        new TokenPublisher<>(src).subscribe(sub);
        awaitClosed(src);
        Thread.sleep(100);
        assertEquals(10, sub.items.size());
        assertEquals(1, sub.terminated.getCount(), "no terminal signal after cancel");
        assertEquals(1, src.cancels.get());
        assertEquals(10, src.produced());
        assertEquals(List.of(), sub.violations);
        assertEquals(List.of(), src.violations());
    }

    @Test
    void aThrowingSubscriberIsCancelled() throws Exception {
        // rule 2.13: onNext threw, so the subscription is cancelled and nothing more is signalled
        SyntheticSource src = new SyntheticSource(100);
        RecordingSubscriber sub = new RecordingSubscriber(s -> s.request(50), (s, t) -> {
            if (t.index() == 3) throw new IllegalStateException("subscriber bug");
        });
        new TokenPublisher<>(src).subscribe(sub);
        awaitClosed(src);
        Thread.sleep(100);
        assertEquals(4, sub.items.size());
        assertEquals(List.of(), sub.errors);
        assertEquals(1, sub.terminated.getCount());
        assertEquals(1, src.cancels.get());
        assertEquals(List.of(), src.violations());
    }

    @Test
    void aSecondSubscriberIsRejected() throws Exception {
        SyntheticSource src = new SyntheticSource(3);
        TokenPublisher<Token> p = new TokenPublisher<>(src);
        RecordingSubscriber first = RecordingSubscriber.oneByOne();
        p.subscribe(first);
        RecordingSubscriber second = RecordingSubscriber.oneByOne();
        p.subscribe(second);
        assertTrue(second.awaitTerminal(5));
        assertEquals(List.of("onSubscribe", "onError"), second.signals);
        assertInstanceOf(IllegalStateException.class, second.errors.getFirst());
        assertTrue(first.awaitTerminal(10));
        assertEquals(3, first.items.size());
        assertEquals(List.of(), first.errors);
        try {
            p.subscribe(null);
            fail("subscribe(null) must throw (rule 1.9)");
        } catch (NullPointerException expected) {
            // rule 1.9
        }
    }

    private static void awaitClosed(SyntheticSource src) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (src.closes.get() == 0 && System.nanoTime() < deadline) Thread.sleep(5);
        assertEquals(1, src.closes.get(), "the source was not closed");
    }
}
