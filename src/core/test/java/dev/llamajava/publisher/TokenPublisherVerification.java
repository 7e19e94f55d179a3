package dev.llamajava.publisher;

import dev.llamajava.Token;
import dev.llamajava.internal.TokenPublisher;
import org.reactivestreams.tck.TestEnvironment;
import org.reactivestreams.tck.flow.FlowPublisherVerification;

import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Flow;

/**
 * The Reactive Streams TCK's publisher rules, applied to {@link TokenPublisher} over a {@link SyntheticSource}.
 * TestNG-annotated (the TCK's own form); {@link TokenPublisherTckTest} runs it from JUnit.
 */
public class TokenPublisherVerification extends FlowPublisherVerification<Token> {

    /** Every source a publisher under test was built on, to check the publisher's use of them afterwards. */
    final ConcurrentLinkedQueue<SyntheticSource> sources = new ConcurrentLinkedQueue<>();

    public TokenPublisherVerification() {
        // 1 s for a signal that must come, 300 ms of silence where none may come; 300 ms for rule 3.13's GC check
        super(new TestEnvironment(1000, 300), 300);
    }

    @Override
    public Flow.Publisher<Token> createFlowPublisher(long elements) {
        SyntheticSource s = new SyntheticSource(elements);
        sources.add(s);
        return new TokenPublisher<>(s);
    }

    /**
     * The TCK's "failed publisher" must signal {@code onSubscribe} then {@code onError} without any demand (rules 1.4,
     * 1.9). A {@link TokenPublisher} only learns of a failing source when demand makes it read the source, so the
     * failed publisher here is one that refuses the subscriber: a TokenPublisher serves one subscriber, and rejects
     * every later one with {@code onSubscribe} followed by {@code onError(IllegalStateException)}.
     */
    @Override
    public Flow.Publisher<Token> createFailedFlowPublisher() {
        SyntheticSource s = new SyntheticSource(3, new IllegalStateException("synthetic source failure"));
        sources.add(s);
        TokenPublisher<Token> p = new TokenPublisher<>(s);
        p.subscribe(new Flow.Subscriber<>() {
            @Override public void onSubscribe(Flow.Subscription sub) { sub.cancel(); }
            @Override public void onNext(Token item) { }
            @Override public void onError(Throwable t) { }
            @Override public void onComplete() { }
        });
        return p;
    }

    /** @return every contract breach any source saw */
    List<String> sourceViolations() {
        return sources.stream().flatMap(s -> s.violations().stream()).toList();
    }
}
