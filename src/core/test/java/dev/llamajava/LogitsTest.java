package dev.llamajava;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Logits copies and views, log-probabilities, and the top alternatives of generated tokens. */
class LogitsTest {

    static LlamaModel model;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestSupport.stories260K());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static void decodePrompt(LlamaContext ctx, int[] tokens) {
        try (Batch b = Batch.create(tokens.length, 1)) {
            for (int i = 0; i < tokens.length; i++) b.add(tokens[i], i, 0, true);
            ctx.decode(b);
        }
    }

    @Test
    void viewEqualsCopyAndDiesWithTheNextDecode() {
        int[] tokens = model.tokenize("Once upon a time");
        try (LlamaContext ctx = LlamaContext.create(model, ContextParams.builder().contextSize(128).build())) {
            decodePrompt(ctx, tokens);
            MemorySegment view = ctx.logitsView(1);
            float[] copy = ctx.logits(1);
            assertEquals((long) model.vocabSize() * 4, view.byteSize());
            assertArrayEquals(copy, view.toArray(ValueLayout.JAVA_FLOAT));
            assertTrue(view.isReadOnly());
            assertThrows(IllegalArgumentException.class, () -> view.set(ValueLayout.JAVA_FLOAT, 0, 1f), "read-only");
            FloatBuffer buf = ctx.logitsBuffer(1);
            assertTrue(buf.isReadOnly());
            assertEquals(copy[7], buf.get(7));
            MemorySegment last = ctx.logitsView(-1);
            assertArrayEquals(ctx.logits(tokens.length - 1), last.toArray(ValueLayout.JAVA_FLOAT));

            try (Batch b = Batch.create(1, 1)) {
                ctx.decode(b.add(tokens[0], tokens.length, 0, true));
            }
            assertThrows(IllegalStateException.class, () -> view.get(ValueLayout.JAVA_FLOAT, 0), "a view outlives no decode");
            MemorySegment again = ctx.logitsView(0);
            ctx.close();
            assertThrows(IllegalStateException.class, () -> again.get(ValueLayout.JAVA_FLOAT, 0), "nor the context's close");
        }
    }

    @Test
    void logProbabilitiesAreTheLogSoftmax() {
        try (LlamaContext ctx = LlamaContext.create(model, ContextParams.builder().contextSize(128).build())) {
            decodePrompt(ctx, model.tokenize("The little dog"));
            float[] lp = ctx.logProbabilities(-1);
            float[] logits = ctx.logits(-1);
            double sum = 0;
            for (float v : lp) sum += Math.exp(v);
            assertEquals(1.0, sum, 1e-4);
            for (int i = 1; i < lp.length; i += 97) assertEquals(logits[i] - logits[0], lp[i] - lp[0], 1e-3, "differences keep");
        }
    }

    @Test
    void topLogprobsOfAGreedyGenerationStartWithTheChosenToken() {
        try (LlamaContext ctx = LlamaContext.create(model, ContextParams.builder().contextSize(256).build())) {
            List<Token> got = new ArrayList<>();
            try (TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(24).topLogprobs(5).build())) {
                ts.forEachRemaining(got::add);
            }
            assertEquals(24, got.size());
            for (Token t : got) {
                assertEquals(5, t.topLogprobs().size());
                Token.Alternative first = t.topLogprobs().getFirst();
                assertEquals(t.id(), first.id(), "greedy picks the most probable token");
                assertEquals(t.logprob(), first.logprob(), 1e-5);
                for (int j = 1; j < 5; j++) assertTrue(t.topLogprobs().get(j - 1).logprob() >= t.topLogprobs().get(j).logprob());
            }
        }
        assertThrows(IllegalArgumentException.class, () -> GenerationParams.builder().topLogprobs(21).build());
        assertTrue(GenerationParams.builder().topLogprobs(2).build().logprobs(), "top logprobs imply logprobs");
    }
}
