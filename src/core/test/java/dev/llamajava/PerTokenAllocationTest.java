package dev.llamajava;

import com.sun.management.ThreadMXBean;
import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a generated token costs the Java heap, counted by the JVM itself ({@code ThreadMXBean}'s allocated bytes of
 * the consuming thread, where the whole per-token path runs): the difference between a long and a short stream over
 * the same prompt, per extra token, so a stream's fixed costs cancel. The bar is no per-token allocation
 * beyond the {@link Token} the caller receives; what else a token may cost is the stream's growing text and id list
 * (amortised array doubling). The model is the tiny synthetic one with the Llama 3 vocabulary, so the logits, the
 * argmax and the top-k run over 128,256 entries as for the 1B.
 */
class PerTokenAllocationTest {

    /**
     * A {@link Token} (32 bytes with compressed references), plus the stream's id list and text growing by doubling:
     * about 5 characters a token, Latin-1 greedy (63 bytes a token in all when this test was written) and UTF-16 once
     * the sampled text held a character beyond Latin-1 (94 bytes). About 32 bytes of slack each: a string or an array
     * per token does not fit under them.
     */
    static final double MAX_GREEDY = 96, MAX_SAMPLED = 128;
    static final int SHORT = 32, LONG = 500;

    static final int[] PROMPT = {128000, 9906, 11, 1917};
    static final SamplerParams CHAIN = SamplerParams.builder().seed(7).build();

    static LlamaModel model;
    static LlamaContext ctx;

    /**
     * Loads the model, then runs the per-token path until the JIT's optimising compiler has it (about 15,000 tokens,
     * greedy and sampled in turn): its escape analysis removes what a compiled loop does not let escape, as in a
     * service that has run a while.
     */
    @BeforeAll
    static void load() {
        model = LlamaModel.load(SyntheticModels.cached(SyntheticModel.TINY, 42, "F16", null), ModelParams.builder().gpuLayers(0).build());
        ctx = LlamaContext.create(model, ContextParams.builder().contextSize(512).threads(1).threadsBatch(1).build());
        for (int i = 0; i < 30; i++) allocated(PROMPT, i % 2 == 0 ? SamplerParams.greedy() : CHAIN, LONG);
    }

    @AfterAll
    static void free() {
        ctx.close();
        model.close();
    }

    /** Bytes the current thread allocated while it consumed a stream of {@code n} tokens. */
    static long allocated(int[] prompt, SamplerParams sampler, int n) {
        var threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        GenerationParams p = GenerationParams.builder().sampler(sampler).maxTokens(n).ignoreEos(true).addSpecial(false).build();
        long before = threads.getCurrentThreadAllocatedBytes();
        int count = 0;
        try (TokenStream s = ctx.generate(prompt, p)) {
            while (s.hasNext()) {
                s.next();
                count++;
            }
        }
        long after = threads.getCurrentThreadAllocatedBytes();
        assertTrue(count >= n - 1 && count <= n + 1, "stream of " + n + " gave " + count + " tokens");
        return after - before;
    }

    /**
     * @return the least over five pairs of the extra bytes per extra token: a pair measured while the optimising
     *         compiler's work on the loop was still queued counts what its escape analysis later removes, so the least
     *         is the steady state
     */
    static double perToken(SamplerParams sampler) {
        double least = Double.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            least = Math.min(least, (double) (allocated(PROMPT, sampler, LONG) - allocated(PROMPT, sampler, SHORT)) / (LONG - SHORT));
        }
        return least;
    }

    @Test
    void greedyTokenAllocatesLittleMoreThanItsToken() {
        assertEquals(128_256, model.vocabSize());
        double b = perToken(SamplerParams.greedy());
        System.getLogger(getClass().getName()).log(System.Logger.Level.INFO, "greedy: {0} bytes per token", b);
        assertTrue(b <= MAX_GREEDY, "greedy: " + b + " bytes per token");
    }

    @Test
    void sampledTokenAllocatesLittleMoreThanItsToken() {
        double b = perToken(CHAIN);
        System.getLogger(getClass().getName()).log(System.Logger.Level.INFO, "default chain: {0} bytes per token", b);
        assertTrue(b <= MAX_SAMPLED, "default chain: " + b + " bytes per token");
    }
}
