package dev.llamajava;

import com.sun.management.ThreadMXBean;
import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a generated token costs the Java heap, counted by the JVM itself ({@code ThreadMXBean}'s allocated bytes of
 * the consuming thread, where the whole per-token path runs): the difference between a long and a short stream over
 * the same prompt, per extra token, so a stream's fixed costs cancel. The bar is no per-token allocation
 * beyond the {@link Token} the caller receives. The reference is a control loop, counted the same way, that does only
 * what a stream must: a new {@code Token} per token handed out, the text appended to a builder (the result's text) and
 * the id to a doubling array (the generated ids), over the very tokens the stream gave. The model is the tiny synthetic
 * one with the Llama 3 vocabulary, so the logits, the argmax and the top-k run over 128,256 entries as for the 1B.
 */
class PerTokenAllocationTest {

    /**
     * What a token may cost above the control: a string now and then for a UTF-8 character split across tokens (the
     * control reuses the stream's texts), and no more. An object of 16 bytes or more per token does not fit.
     */
    static final double SLACK = 12;
    static final int SHORT = 32, LONG = 500;
    static final int[] PROMPT = {128000, 9906, 11, 1917};
    static final SamplerParams CHAIN = SamplerParams.builder().seed(7).build();
    static final ThreadMXBean THREADS = (ThreadMXBean) ManagementFactory.getThreadMXBean();

    static LlamaModel model;
    static LlamaContext ctx;
    /** Where the control's tokens escape to, as a stream's escape to its caller. */
    static final Token[] SINK = new Token[LONG];

    /**
     * Loads the model, then runs the per-token path until the JIT's optimising compiler has it (about 15,000 tokens,
     * greedy and sampled in turn): its escape analysis removes what a compiled loop does not let escape, as in a
     * service that has run a while.
     */
    @BeforeAll
    static void load() {
        model = LlamaModel.load(SyntheticModels.cached(SyntheticModel.TINY, 42, "F16", null), ModelParams.builder().gpuLayers(0).build());
        ctx = LlamaContext.create(model, ContextParams.builder().contextSize(512).threads(1).threadsBatch(1).build());
        for (int i = 0; i < 30; i++) stream(i % 2 == 0 ? SamplerParams.greedy() : CHAIN, LONG, null);
    }

    @AfterAll
    static void free() {
        ctx.close();
        model.close();
    }

    /** Bytes the current thread allocated while it consumed a stream of {@code n} tokens (into {@code keep} when given). */
    static long stream(SamplerParams sampler, int n, List<Token> keep) {
        GenerationParams p = GenerationParams.builder().sampler(sampler).maxTokens(n).ignoreEos(true).addSpecial(false).build();
        long before = THREADS.getCurrentThreadAllocatedBytes();
        int count = 0;
        try (TokenStream s = ctx.generate(PROMPT, p)) {
            while (s.hasNext()) {
                Token t = s.next();
                if (keep != null) keep.add(t);
                count++;
            }
            if (keep != null) s.result();
        }
        long after = THREADS.getCurrentThreadAllocatedBytes();
        assertTrue(count >= n - 1 && count <= n + 1, "stream of " + n + " gave " + count + " tokens");
        return after - before;
    }

    /** Bytes the control loop allocates over the first {@code n} of {@code tokens}. */
    static long control(List<Token> tokens, int n) {
        long before = THREADS.getCurrentThreadAllocatedBytes();
        StringBuilder text = new StringBuilder();
        int[] ids = new int[64];
        for (int i = 0; i < n; i++) {
            Token t = tokens.get(i);
            if (i == ids.length) ids = Arrays.copyOf(ids, i * 2);
            ids[i] = t.id();
            text.append(t.text());
            SINK[i] = new Token(t.id(), t.text(), t.logprob(), i, List.of());
        }
        String result = text.toString();
        long after = THREADS.getCurrentThreadAllocatedBytes();
        assertEquals(n, ids.length >= n ? n : -1);
        assertTrue(result.length() >= n / 8, "control text of " + result.length() + " chars");
        return after - before;
    }

    /**
     * @return {stream, control}: the median over five pairs of the extra bytes per extra token, for the stream and for
     *         the control over the same tokens
     */
    static double[] perToken(SamplerParams sampler) {
        List<Token> tokens = new ArrayList<>();
        stream(sampler, LONG, tokens);
        for (int i = 0; i < 20_000 / LONG; i++) control(tokens, LONG);
        double[] s = new double[5], c = new double[5];
        for (int i = 0; i < s.length; i++) {
            s[i] = (double) (stream(sampler, LONG, null) - stream(sampler, SHORT, null)) / (LONG - SHORT);
            c[i] = (double) (control(tokens, LONG) - control(tokens, SHORT)) / (LONG - SHORT);
        }
        Arrays.sort(s);
        Arrays.sort(c);
        System.getLogger(PerTokenAllocationTest.class.getName()).log(System.Logger.Level.INFO,
                "{0}: {1} bytes per token (pairs {2}), control {3}", sampler.isGreedy() ? "greedy" : "default chain", s[2], Arrays.toString(s), c[2]);
        return new double[] {s[2], c[2]};
    }

    @Test
    void greedyTokenAllocatesNoMoreThanTheControl() {
        assertEquals(128_256, model.vocabSize());
        double[] b = perToken(SamplerParams.greedy());
        assertTrue(b[1] >= 32, "the control allocates at least a Token per token: " + b[1]);
        assertTrue(b[0] <= b[1] + SLACK, "greedy: " + b[0] + " bytes per token, control " + b[1]);
    }

    @Test
    void sampledTokenAllocatesNoMoreThanTheControl() {
        double[] b = perToken(CHAIN);
        assertTrue(b[1] >= 32, "the control allocates at least a Token per token: " + b[1]);
        assertTrue(b[0] <= b[1] + SLACK, "default chain: " + b[0] + " bytes per token, control " + b[1]);
    }
}
