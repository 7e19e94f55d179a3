package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.ffi.llama_token_data;
import dev.llamajava.internal.StopFilter;
import dev.llamajava.internal.TokenTexts;
import dev.llamajava.internal.Utf8Accumulator;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The per-token pieces of a generation, each alone (ci/bench measures them together, end to end): the greedy argmax
 * over Llama 3's 128,256 logits (the shim's AVX2 loop against a plain Java loop), the shim's top-40 over them and over a row of 512, a token's text from the per-model
 * cache, the stop-string filter with and without stop strings, and one whole greedy token of stories260K
 * ({@code -Dllama.jmh.model}, default {@code ../shared/models/stories260K.gguf}) with its decode.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class PerTokenBenchmark {

    static final int LLAMA3_VOCAB = 128_256;

    MemorySegment logits;
    /** Room for llama.cpp's default top-k (40) candidates. */
    MemorySegment candidates;
    LlamaModel model;
    LlamaContext context;
    TokenTexts texts;
    Utf8Accumulator utf8;
    StopFilter none;
    StopFilter two;
    ArrayDeque<Token> out;
    StringBuilder all;
    int next;

    @Setup(Level.Trial)
    public void setUp() {
        SplittableRandom rnd = new SplittableRandom(7);
        logits = Arena.global().allocate(ValueLayout.JAVA_FLOAT, LLAMA3_VOCAB);
        for (int i = 0; i < LLAMA3_VOCAB; i++) logits.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextGaussian());
        candidates = llama_token_data.allocateArray(40, Arena.global());
        Path m = Path.of(System.getProperty("llama.jmh.model", "../shared/models/stories260K.gguf"));
        model = LlamaModel.load(m, ModelParams.builder().gpuLayers(0).build());
        context = LlamaContext.create(model, ContextParams.builder().contextSize(512).build());
        texts = model.texts;
        utf8 = new Utf8Accumulator();
        none = new StopFilter(List.of());
        two = new StopFilter(List.of("\n\n", "User:"));
        out = new ArrayDeque<>();
        all = new StringBuilder();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        context.close();
        model.close();
    }

    /** @return the shim's greedy argmax over 128,256 logits */
    @Benchmark
    public int argmaxShim() {
        return llama_h.llamajava_argmax(logits, LLAMA3_VOCAB);
    }

    /** @return the shim's top-k over 128,256 logits with llama.cpp's default k (40): the default chain's first step */
    @Benchmark
    public int topKShim() {
        return llama_h.llamajava_top_k(logits, LLAMA3_VOCAB, 40, candidates);
    }

    /** @return the shim's top-40 over a short row (stories260K's 512 logits: every logit a key, no blocks) */
    @Benchmark
    public int topKShimShortRow() {
        return llama_h.llamajava_top_k(logits, 512, 40, candidates);
    }

    /** @return the same argmax as a plain Java loop over the native logits */
    @Benchmark
    public int argmaxJava() {
        int best = 0;
        float max = logits.getAtIndex(ValueLayout.JAVA_FLOAT, 0);
        for (int i = 1; i < LLAMA3_VOCAB; i++) {
            float v = logits.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            if (v > max) {
                max = v;
                best = i;
            }
        }
        return best;
    }

    /** @return a token's text as the stream gets it: the cached piece, the accumulator only for split characters */
    @Benchmark
    public String piece() {
        int id = next = (next + 1) % model.nVocab;
        if (texts.isEog(id)) return "";
        TokenTexts.Piece p = texts.piece(id);
        if (p.text() != null && !utf8.hasPending()) return p.text();
        return utf8.append(p.bytes(), p.bytes().length);
    }

    /** @return the token and the stop filter without stop strings */
    @Benchmark
    public boolean stopFilterNone() {
        out.clear();
        if (all.length() > 1 << 16) all.setLength(0);
        return none.offer(new Token(42, " the", Float.NaN, 0), out, all);
    }

    /** @return the token and the stop filter with two stop strings */
    @Benchmark
    public boolean stopFilterTwo() {
        out.clear();
        if (all.length() > 1 << 16) all.setLength(0);
        return two.offer(new Token(42, " the", Float.NaN, 0), out, all);
    }

    /** @return 32 greedy tokens of stories260K through the public API, per token (decode included) */
    @Benchmark
    @OperationsPerInvocation(32)
    public int greedyToken() {
        try (TokenStream ts = context.generate(new int[]{1}, GenerationParams.builder().greedy().maxTokens(32).addSpecial(false).build())) {
            return ts.result().generatedTokens();
        }
    }
}
