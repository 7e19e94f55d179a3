package dev.llamajava.publisher;

import dev.llamajava.ContextParams;
import dev.llamajava.GenerationParams;
import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaModel;
import dev.llamajava.TestSupport;
import dev.llamajava.Token;
import dev.llamajava.TokenStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link TokenStream#publisher()} on the real stories260K model: the same tokens as the iterator, request(0) on a live generation. */
class TokenStreamPublisherTest {

    static LlamaModel model;

    @BeforeAll
    static void loadModel() {
        model = LlamaModel.load(TestSupport.stories260K());
    }

    @AfterAll
    static void closeModel() {
        if (model != null) model.close();
    }

    private static GenerationParams greedy16() {
        return GenerationParams.builder().greedy().maxTokens(16).build();
    }

    @Test
    void publisherYieldsWhatTheIteratorYields() throws Exception {
        try (LlamaContext ctx = LlamaContext.create(model, ContextParams.builder().contextSize(256).build())) {
            TokenStream ts = ctx.generate("Once upon a time", greedy16());
            RecordingSubscriber sub = RecordingSubscriber.oneByOne();
            ts.publisher().subscribe(sub);
            assertTrue(sub.awaitTerminal(60), "no terminal signal");
            assertEquals(List.of(), sub.errors);
            assertEquals(List.of(), sub.violations);
            assertEquals("onComplete", sub.signals.getLast());

            List<Token> expected = new ArrayList<>();
            TokenStream again = awaitGenerate(ctx, greedy16()); // the publisher closes its stream after onComplete
            try (again) {
                again.forEachRemaining(expected::add);
            }
            assertEquals(16, expected.size(), expected.toString());
            assertEquals(expected.stream().map(Token::text).toList(), sub.items.stream().map(Token::text).toList());
            assertEquals(expected, sub.items);
            assertTrue(String.join("", sub.items.stream().map(Token::text).toList()).strip().length() > 20, sub.items.toString());
        }
    }

    @Test
    void requestZeroOnARealGenerationErrorsOnceAndFreesTheContext() throws Exception {
        try (LlamaContext ctx = LlamaContext.create(model, ContextParams.builder().contextSize(256).build())) {
            // request(0) while the producer waits for demand, after two tokens
            TokenStream ts = ctx.generate("Once upon a time", greedy16());
            RecordingSubscriber sub = new RecordingSubscriber(s -> s.request(2), (s, t) -> { });
            ts.publisher().subscribe(sub);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (sub.items.size() < 2 && System.nanoTime() < deadline) Thread.sleep(5);
            assertEquals(2, sub.items.size());
            sub.subscription.request(0);
            assertTrue(sub.awaitTerminal(10), "no onError after request(0)");
            sub.subscription.request(3); // a no-op now
            Thread.sleep(300);
            assertEquals(List.of("onSubscribe", "onNext", "onNext", "onError"), sub.signals);
            assertInstanceOf(IllegalArgumentException.class, sub.errors.getFirst());
            assertEquals(List.of(), sub.violations);
            assertUsable(ctx);

            // request(0) from onNext, with unbounded demand while the model generates
            ts = ctx.generate("Once upon a time", greedy16());
            sub = new RecordingSubscriber(s -> s.request(Long.MAX_VALUE), (s, t) -> {
                if (t.index() == 4) s.request(0);
            });
            ts.publisher().subscribe(sub);
            assertTrue(sub.awaitTerminal(60), "no onError after request(0)");
            Thread.sleep(300);
            assertEquals(List.of("onSubscribe", "onNext", "onNext", "onNext", "onNext", "onNext", "onError"), sub.signals);
            assertInstanceOf(IllegalArgumentException.class, sub.errors.getFirst());
            assertEquals(List.of(), sub.violations);
            assertUsable(ctx);

            // request(0) before any demand
            ts = ctx.generate("Once upon a time", greedy16());
            sub = new RecordingSubscriber(s -> s.request(0), (s, t) -> { });
            ts.publisher().subscribe(sub);
            assertTrue(sub.awaitTerminal(10), "no onError after request(0)");
            Thread.sleep(300);
            assertEquals(List.of("onSubscribe", "onError"), sub.signals);
            assertInstanceOf(IllegalArgumentException.class, sub.errors.getFirst());
            assertUsable(ctx);
        }
    }

    /** The context takes a new generation within a few seconds (the publisher closes its stream after onError). */
    private static void assertUsable(LlamaContext ctx) throws InterruptedException {
        try (TokenStream ts = awaitGenerate(ctx, GenerationParams.builder().greedy().maxTokens(4).build())) {
            assertEquals(4, ts.stream().count());
        }
    }

    private static TokenStream awaitGenerate(LlamaContext ctx, GenerationParams params) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        for (;;) {
            try {
                return ctx.generate("Once upon a time", params);
            } catch (IllegalStateException busy) {
                if (System.nanoTime() > deadline) throw new AssertionError("the context is still in use after 5 s", busy);
                Thread.sleep(10);
            }
        }
    }
}
