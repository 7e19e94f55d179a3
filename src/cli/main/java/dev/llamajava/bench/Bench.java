package dev.llamajava.bench;

import dev.llamajava.ChatMessage;
import dev.llamajava.ContextParams;
import dev.llamajava.Device;
import dev.llamajava.GenerationParams;
import dev.llamajava.GenerationResult;
import dev.llamajava.Llama;
import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaModel;
import dev.llamajava.ModelParams;
import dev.llamajava.SamplerParams;
import dev.llamajava.SyntheticModels;
import dev.llamajava.TokenStream;
import dev.llamajava.gguf.GgufFile;
import dev.llamajava.gguf.SyntheticModel;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * The benchmark: prompt processing and generation tokens/s through the Java API, side by side with
 * llama.cpp's {@code llama-bench} of the same build on the same model and threads, in one run.
 *
 * <pre>
 * Bench [--model PATH ...] [--synthetic Q4_K_M,Q8_0,tiny] [--threads N] [--pp 512] [--tg 128] [--reps 5] [--gpu]
 *       [--compare-native PATH-TO-llama-bench] [--json FILE] [--markdown FILE]
 * Bench --print-paths --synthetic tiny
 * </pre>
 */
@Command(name = "Bench", mixinStandardHelpOptions = true,
        description = "Prompt and generation tokens/s through llama-java, side by side with llama.cpp's llama-bench.")
public final class Bench implements Callable<Integer> {

    /** Measured runs behind each per-token breakdown (the median one is reported). */
    static final int BREAKDOWN_RUNS = 5;

    @Option(names = "--model", description = "GGUF file (repeatable).")
    List<Path> models = new ArrayList<>();
    @Option(names = "--synthetic", split = ",", description = "Synthetic Llama-3.2-1B-shaped models to bench, e.g. Q4_K_M,Q8_0; "
            + "`tiny` is the tiny synthetic model with the Llama 3 vocabulary (F16: fast tokens over 128,256 logits).")
    List<String> synthetic = new ArrayList<>();
    @Option(names = "--compare-native", description = "llama-bench, to run side by side.")
    Path llamaBench;
    @Option(names = "--print-paths", description = "Only print the path of each --synthetic model, one a line "
            + "(writing it first when missing), for tools that take a GGUF file (ci/bench's sampler section).")
    boolean printPaths;
    @Mixin
    BenchOptions options = new BenchOptions();

    /**
     * @param sorted samples in ascending order
     * @param q      the quantile, in (0, 1]
     * @return the nearest-rank quantile, NaN when there are no samples
     */
    static double percentile(double[] sorted, double q) {
        if (sorted.length == 0) return Double.NaN;
        return sorted[Math.max(0, Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1))];
    }

    /**
     * Median, min and max of repeated measurements, and how steady they were.
     *
     * @param median the median
     * @param min    the smallest
     * @param max    the largest
     * @param spread the median absolute deviation from the median, over the median (0.02: half the repetitions within 2%
     *               of the median); NaN when not known
     */
    public record Stat(double median, double min, double max, double spread) {
        /**
         * A summary without its spread.
         *
         * @param median the median
         * @param min    the smallest
         * @param max    the largest
         */
        public Stat(double median, double min, double max) {
            this(median, min, max, Double.NaN);
        }

        /**
         * @param samples measurements (not empty)
         * @return their summary
         * @throws IllegalArgumentException when there are none
         */
        public static Stat of(double[] samples) {
            if (samples.length == 0) throw new IllegalArgumentException("no samples");
            double[] s = samples.clone();
            Arrays.sort(s);
            double med = medianOfSorted(s);
            double[] dev = new double[s.length];
            for (int i = 0; i < dev.length; i++) dev[i] = Math.abs(s[i] - med);
            Arrays.sort(dev);
            return new Stat(med, s[0], s[s.length - 1], med == 0 ? Double.NaN : medianOfSorted(dev) / Math.abs(med));
        }

        private static double medianOfSorted(double[] s) {
            int n = s.length;
            return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        }
    }

    /**
     * Tokens per second.
     *
     * @param tokens tokens
     * @param nanos  elapsed nanoseconds
     * @return tokens/s
     */
    public static double tokensPerSecond(long tokens, long nanos) {
        if (nanos <= 0) throw new IllegalArgumentException("elapsed time must be positive");
        return tokens * 1e9 / nanos;
    }

    /**
     * The median of per-repetition ratios (ours over llama-bench, measured back to back), with a distribution-free
     * confidence interval for it from the order statistics (the binomial interval: no assumption on the noise).
     *
     * @param median     the median ratio
     * @param low        the interval's lower end
     * @param high       the interval's upper end
     * @param confidence the interval's exact coverage (at least the level asked for when there are enough repetitions:
     *                   0.95 from 6, 0.983 from 7)
     */
    public record Ratio(double median, double low, double high, double confidence) {
        /**
         * @param ours   our measurements, one per repetition
         * @param theirs llama-bench's, measured back to back with ours
         * @return the median ratio and its interval at 95%
         */
        public static Ratio of(double[] ours, double[] theirs) {
            return of(ours, theirs, 0.95);
        }

        /**
         * @param ours   our measurements, one per repetition
         * @param theirs llama-bench's, measured back to back with ours
         * @param level  the coverage wanted, in (0, 1)
         * @return the median ratio and the narrowest interval of order statistics that covers it with at least
         *         {@code level} (min..max, with less, when there are too few repetitions for it)
         */
        public static Ratio of(double[] ours, double[] theirs, double level) {
            double[] r = new double[ours.length];
            for (int i = 0; i < r.length; i++) r[i] = ours[i] / theirs[i];
            Arrays.sort(r);
            int n = r.length;
            // the widest j (1-based) with P(x_(j) <= median <= x_(n+1-j)) = 1 - 2 P(Binomial(n, 1/2) <= j - 1) >= level
            int j = 1;
            while (j + 1 <= (n + 1) / 2 && 1 - 2 * binomialCdf(n, j) >= level) j++;
            double coverage = n == 1 ? 0 : 1 - 2 * binomialCdf(n, j - 1);
            return new Ratio(Stat.of(r).median(), r[j - 1], r[n - j], coverage);
        }

        /** @return P(Binomial(n, 1/2) <= k) */
        static double binomialCdf(int n, int k) {
            double sum = 0, c = 1; // C(n, 0)
            for (int i = 0; i <= k; i++) {
                sum += c;
                c = c * (n - i) / (i + 1);
            }
            return sum / Math.pow(2, n);
        }
    }

    /** What a ratio's interval says about a bar. */
    public enum Verdict {
        /** the whole interval is at the bar or above it */
        MET,
        /** the whole interval is below the bar */
        MISSED,
        /** the interval holds the bar, or too few repetitions were run for the level */
        UNDECIDED;

        /** @return the verdict as the tables and the JSON write it: met, missed or undecided */
        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * A bar on a ratio and what the measurement decided.
     *
     * @param bar     the ratio asked for, e.g. 0.99
     * @param level   the coverage each look's interval needed: 1 - 0.05 / looks, so that deciding at any of the looks is
     *                wrong with a chance of 5% at most (Bonferroni over the looks)
     * @param verdict what the last look's interval says
     */
    public record Decision(double bar, double level, Verdict verdict) {
        /**
         * @param r     a measured ratio
         * @param bar   the bar
         * @param level the coverage its interval needs
         * @return MET or MISSED when the interval covers with {@code level} and lies wholly on one side, else UNDECIDED
         */
        static Decision of(Ratio r, double bar, double level) {
            Verdict v = r.confidence() < level ? Verdict.UNDECIDED
                    : r.low() >= bar ? Verdict.MET : r.high() < bar ? Verdict.MISSED : Verdict.UNDECIDED;
            return new Decision(bar, level, v);
        }
    }

    /**
     * When paired repetitions are judged against their bars: after {@code reps}, then each time the count doubles, and at
     * {@code maxReps}, stopping at the first look that decides. Each look's interval covers with {@code level} = 1 -
     * 0.05 / looks, so that deciding at whichever look is wrong with a chance of 5% at most (Bonferroni).
     *
     * @param at    the repetition counts to look at, ascending
     * @param level the coverage each look's interval needs
     */
    record Looks(int[] at, double level) {
        /**
         * @param reps    the first look
         * @param maxReps the last (no more than {@code reps}: one look)
         * @return the schedule
         */
        static Looks of(int reps, int maxReps) {
            List<Integer> at = new ArrayList<>();
            for (int n = reps; n < maxReps; n *= 2) at.add(n);
            at.add(Math.max(reps, maxReps));
            return new Looks(at.stream().mapToInt(Integer::intValue).toArray(), 1 - 0.05 / at.size());
        }

        /** @return the most repetitions to run */
        int last() {
            return at[at.length - 1];
        }

        /** @return whether the ratios are judged after {@code n} repetitions */
        boolean isLook(int n) {
            return Arrays.binarySearch(at, n) >= 0;
        }

        /** @return the median ratio over the first {@code n} paired repetitions, its interval at this level */
        Ratio ratio(double[] ours, double[] theirs, int n) {
            return Ratio.of(Arrays.copyOf(ours, n), Arrays.copyOf(theirs, n), level);
        }

        /** @return the ratio against the bar at this level, null when there is no bar (0) */
        Decision decide(Ratio r, double bar) {
            return bar > 0 ? Decision.of(r, bar, level) : null;
        }
    }

    /**
     * One model's results.
     *
     * @param reps       the repetitions run (more than asked for when the bars were not decided at the first look)
     * @param ppDecision the prompt ratio against its bar, null without one (or without llama-bench)
     * @param tgDecision the generation ratio against its bar, null without one (or without llama-bench)
     */
    public record Row(String model, String quant, long sizeBytes, long params, int threads, int ctx, Stat pp, Stat tg,
                      Stat ttftMs, double ttftPromptMs, double ttftOverheadMs, double overheadUs, Stat loadMs, long peakRssBytes,
                      Stat nativePp, Stat nativeTg, Ratio ppRatio, Ratio tgRatio, int reps, Decision ppDecision, Decision tgDecision,
                      Map<String, Double> greedyTokenUs, Map<String, Double> sampledTokenUs, Map<String, Long> memory) { }

    /**
     * Measures one model. With llama-bench given, every repetition runs llama-bench ({@code -r inner}, after its own
     * warm-up) and ours ({@code inner} runs after the same warm-up: the prompt once and one generated token), back to
     * back, alternating who goes first, so drift in the machine's speed affects both sides alike.
     */
    static Row benchModel(Path model, BenchOptions o, Path llamaBench, PrintStream log) throws Exception {
        if (o.reps < 1 || o.inner < 1) throw new IllegalArgumentException("--reps and --inner must be 1 or more: " + o.reps + ", " + o.inner);
        int threads = o.threads(), pp = o.pp, tg = o.tg, inner = o.inner;
        Looks looks = Looks.of(o.reps, llamaBench != null ? o.maxReps : 0);
        int reps = looks.last();
        if (!o.rpc.isEmpty() && llamaBench != null) {
            throw new IllegalArgumentException("--rpc with llama-bench side by side: an rpc-server serves one client at a time, and"
                    + " this side holds its connection; run llama-bench --rpc on its own");
        }
        FileFacts facts = FileFacts.of(model);
        log.println("  " + model.getFileName() + ": " + o.reps + (reps > o.reps ? " to " + reps : "") + " repetitions of " + inner + " runs"
                + (llamaBench != null ? ", llama-bench and llama-java back to back, alternating who goes first" : "")
                + (reps > o.reps ? "; more until the bars are decided (looks at " + Arrays.toString(looks.at()) + ", each at "
                        + String.format(Locale.ROOT, "%.1f%%", 100 * looks.level()) + ")" : ""));
        double[] load = new double[Math.max(1, Math.min(o.reps, 3))];
        MemoryTable.resetPeak();
        MemoryTable.Snapshot before = MemoryTable.snapshot(model);
        LlamaModel m = null;
        for (int i = 0; i < load.length; i++) {
            if (m != null) m.close();
            long t0 = System.nanoTime();
            m = LlamaModel.load(model, ModelParams.builder().gpuLayers(o.gpu || !o.rpc.isEmpty() ? -1 : 0).rpcServers(o.rpc).build());
            load[i] = (System.nanoTime() - t0) / 1e6;
        }
        MemoryTable.Snapshot loaded = MemoryTable.snapshot(model);
        try (LlamaModel mm = m;
             LlamaContext ctx = LlamaContext.create(mm, ContextParams.builder().contextSize(pp + tg).threads(threads).threadsBatch(threads).build())) {
            SplittableRandom rnd = new SplittableRandom(1);
            int nv = mm.vocabSize();
            int[] prompt = rnd.ints(pp, 0, nv).toArray();
            GenerationParams one = GenerationParams.builder().sampler(SamplerParams.greedy()).maxTokens(1).addSpecial(false).build();
            double[] ppTs = new double[reps], tgTs = new double[reps], ttft = new double[reps];
            double[] natPp = new double[reps], natTg = new double[reps];
            double ttftPrompt = 0;
            double[] ttftOver = new double[reps];
            long natPeak = -1;
            String tmpl = SyntheticModel.LLAMA3_TEMPLATE.equals(mm.chatTemplate().orElse("")) ? "llama3" : "chatml";
            int[] shortPrompt = mm.chatPrompt(tmpl, List.of(ChatMessage.user("Summarise the weather report in one line, please.")));
            if (shortPrompt.length > 20) shortPrompt = Arrays.copyOf(shortPrompt, 20);
            int[] first = {prompt[0]};
            // the harness's own first llama-bench run, unmeasured: starting a process and reading its JSON loads classes
            // that make the JIT throw away and redo compiled code of the stream (its locks), beside a measurement if
            // that first run were a measured one
            if (llamaBench != null) LlamaBench.run(llamaBench, model, threads, Math.min(pp, 8), 1, 1, o.gpu);
            // our warm-up (JIT, caches): at least two repetitions and 3 s, so that no compilation runs beside a measurement
            long warmUntil = System.nanoTime() + 3_000_000_000L;
            for (int w = 0; w < 2 || System.nanoTime() < warmUntil; w++) {
                ours(ctx, prompt, tg, inner);
                result(ctx, shortPrompt, one);
            }
            // then a stream's setup and end on this model, which every prompt run takes once, for 2 s of 8-token prompts
            // (thousands of streams on a fast model): what the JIT recompiles for this model's branches is compiled
            // here, not beside a measured prompt (a compilation took a core from a 3.5 ms prompt, which ran at half speed)
            int[] eight = Arrays.copyOf(prompt, Math.min(8, prompt.length));
            long streamsUntil = System.nanoTime() + 2_000_000_000L;
            while (System.nanoTime() < streamsUntil) result(ctx, eight, one);
            int done = 0;
            for (int r = 0; r < reps; r++) {
                // alternate who goes first, so a slow or fast spell of the machine does not favour one side
                boolean nativeFirst = r % 2 == 0;
                boolean runNative = llamaBench != null;
                // each side starts on a quiet JVM (no compilation beside it: see Settle)
                LlamaBench.Averages n = runNative && nativeFirst ? settledLlamaBench(llamaBench, model, threads, pp, tg, inner, o.gpu) : null;
                Settle.settle();
                Side side = ours(ctx, prompt, tg, inner);
                GenerationResult c = result(ctx, shortPrompt, one);
                if (runNative && !nativeFirst) n = settledLlamaBench(llamaBench, model, threads, pp, tg, inner, o.gpu);
                if (n != null) {
                    natPp[r] = n.pp();
                    natTg[r] = n.tg();
                    natPeak = Math.max(natPeak, n.peakRss());
                }
                ppTs[r] = side.pp();
                tgTs[r] = side.tg();
                ttft[r] = c.timeToFirstTokenNanos() / 1e6;
                ttftPrompt += c.promptNanos() / 1e6;
                ttftOver[r] = (c.timeToFirstTokenNanos() - c.promptNanos()) / 1e6;
                log.printf(Locale.ROOT, "    rep %d: pp %.2f / %.2f t/s, tg %.2f / %.2f t/s (llama-java / llama-bench)%n", r + 1, ppTs[r],
                        natPp[r], tgTs[r], natTg[r]);
                done = r + 1;
                if (done < reps && looks.isLook(done) && decided(ppTs, natPp, tgTs, natTg, done, o, looks)) {
                    log.printf(Locale.ROOT, "    decided after %d repetitions%n", done);
                    break;
                }
            }
            ppTs = Arrays.copyOf(ppTs, done);
            tgTs = Arrays.copyOf(tgTs, done);
            ttft = Arrays.copyOf(ttft, done);
            ttftOver = Arrays.copyOf(ttftOver, done);
            natPp = Arrays.copyOf(natPp, done);
            natTg = Arrays.copyOf(natTg, done);
            ttftPrompt /= done;
            // the per-token breakdown, greedy and sampled (llama.cpp's default chain over the whole vocabulary), each
            // measured once the repetitions are over, after a run of its own (the first tokens after a llama-bench
            // process ran find this process's caches cold, which is not what a running service sees)
            Map<String, Double> sampled = new LinkedHashMap<>();
            GenerationParams chain = GenerationParams.builder().sampler(SamplerParams.builder().seed(1).build()).maxTokens(tg + 1)
                    .addSpecial(false).build();
            GenerationParams gen = GenerationParams.builder().sampler(SamplerParams.greedy()).maxTokens(tg + 1).addSpecial(false).build();
            Settle.settle();
            GenerationResult g1 = medianRun(ctx, first, gen);
            Map<String, Double> greedy = new LinkedHashMap<>();
            addScaled(greedy, g1.perTokenBreakdown(), 1e-3);
            double overhead = g1.overheadNanosPerToken() / 1e3;
            Settle.settle();
            GenerationResult s1 = medianRun(ctx, first, chain);
            addScaled(sampled, s1.perTokenBreakdown(), 1e-3);
            boolean nat = llamaBench != null;
            Ratio ppRatio = nat ? looks.ratio(ppTs, natPp, done) : null, tgRatio = nat ? looks.ratio(tgTs, natTg, done) : null;
            Map<String, Long> memory = MemoryTable.of(mm, ctx, model, before, loaded);
            if (natPeak > 0) memory.put(MemoryTable.LLAMA_BENCH_PEAK, natPeak);
            return new Row(model.getFileName().toString(), facts.fileType(), facts.size(), facts.parameters(), threads, pp + tg,
                    Stat.of(ppTs), Stat.of(tgTs), Stat.of(ttft), ttftPrompt, Stat.of(ttftOver).median(), overhead, Stat.of(load), memory.get(MemoryTable.PEAK),
                    nat ? Stat.of(natPp) : null, nat ? Stat.of(natTg) : null,
                    ppRatio, tgRatio, done, ppRatio == null ? null : looks.decide(ppRatio, o.ppBar),
                    tgRatio == null ? null : looks.decide(tgRatio, o.tgBar),
                    withTotal(greedy, g1), withTotal(sampled, s1), memory);
        }
    }

    /** @return whether every ratio with a bar is decided over the first {@code n} repetitions */
    static boolean decided(double[] pp, double[] natPp, double[] tg, double[] natTg, int n, BenchOptions o, Looks looks) {
        Decision a = looks.decide(looks.ratio(pp, natPp, n), o.ppBar);
        Decision b = looks.decide(looks.ratio(tg, natTg, n), o.tgBar);
        return (a == null || a.verdict() != Verdict.UNDECIDED) && (b == null || b.verdict() != Verdict.UNDECIDED);
    }

    /**
     * What the table shows of a model file's header, read before the memory is measured and not held through it (the
     * decoded header of a Llama 3 file, 400,000 strings, is the harness's own, not part of what a load costs).
     */
    record FileFacts(String fileType, long size, long parameters) {
        static FileFacts of(Path model) throws IOException {
            GgufFile g = GgufFile.read(model);
            return new FileFacts(g.fileTypeName(), g.fileSize(), g.parameterCount());
        }
    }

    /**
     * Our side of one repetition.
     *
     * @param pp          prompt tokens/s, the mean over the runs (as llama-bench's avg_ts)
     * @param tg          generation tokens/s, the mean over the runs
     */
    record Side(double pp, double tg) { }

    /**
     * Measures our side as llama-bench measures its own: its warm-up (the prompt once, then one generated token), then
     * {@code inner} runs of the prompt (an empty cache each time) and {@code inner} greedy generations of {@code tg} tokens.
     */
    static Side ours(LlamaContext ctx, int[] prompt, int tg, int inner) {
        GenerationParams one = GenerationParams.builder().sampler(SamplerParams.greedy()).maxTokens(1).addSpecial(false).build();
        GenerationParams gen = GenerationParams.builder().sampler(SamplerParams.greedy()).maxTokens(tg + 1).addSpecial(false).build();
        int[] first = {prompt[0]};
        result(ctx, prompt, one);
        double pp = 0, tgs = 0;
        for (int i = 0; i < inner; i++) {
            GenerationResult a = result(ctx, prompt, one);
            pp += tokensPerSecond(a.promptTokens(), a.promptNanos()) / inner;
        }
        for (int i = 0; i < inner; i++) {
            GenerationResult b = result(ctx, first, gen);
            tgs += b.generationTokensPerSecond() / inner;
        }
        return new Side(pp, tgs);
    }

    /** {@link LlamaBench#run} once this JVM is quiet ({@link Settle}). */
    private static LlamaBench.Averages settledLlamaBench(Path tool, Path model, int threads, int pp, int tg, int reps, boolean gpu)
            throws IOException, InterruptedException {
        Settle.settle();
        return LlamaBench.run(tool, model, threads, pp, tg, reps, gpu);
    }

    /**
     * Runs {@code params} once unmeasured, then {@link #BREAKDOWN_RUNS} times: the run whose time per token outside
     * {@code llama_decode} is the median, so that one run preempted on a shared machine does not make the breakdown.
     */
    private static GenerationResult medianRun(LlamaContext ctx, int[] prompt, GenerationParams params) {
        result(ctx, prompt, params);
        List<GenerationResult> runs = new ArrayList<>();
        for (int i = 0; i < BREAKDOWN_RUNS; i++) runs.add(result(ctx, prompt, params));
        runs.sort(Comparator.comparingDouble(GenerationResult::outsideDecodeNanosPerToken));
        return runs.get(BREAKDOWN_RUNS / 2);
    }

    /** Adds {@code from}'s values times {@code scale} into {@code into}. */
    private static void addScaled(Map<String, Double> into, Map<String, Double> from, double scale) {
        from.forEach((k, v) -> into.merge(k, v * scale, Double::sum));
    }

    /**
     * The breakdown's key for the time llama-java's sampling ops took inside the decode's graph, per token: inside
     * {@code llama_decode}, so not part of the total.
     */
    static final String IN_GRAPH = "in_graph";

    /**
     * @return the phases, their sum as {@code total} (everything per token outside llama_decode), then
     *         {@link #IN_GRAPH} from the run
     */
    private static Map<String, Double> withTotal(Map<String, Double> phases, GenerationResult run) {
        Map<String, Double> m = new LinkedHashMap<>(phases);
        m.put("total", phases.values().stream().mapToDouble(Double::doubleValue).sum());
        m.put(IN_GRAPH, run.graphSampleNanosPerToken() / 1e3);
        return m;
    }

    /**
     * Brings the per-token path to the steady state of a service that has run a while (JIT-compiled) before anything
     * is measured: greedy and sampled generations of the tiny synthetic model (the Llama 3 vocabulary, so the same
     * 128,256-logit paths as the 1B), about 12,000 tokens, 40 s at most. A 1B token on a CPU takes 25 ms, so the
     * model's own warm-up reaches a few hundred tokens, and a sampled chain measured on a cold JIT costs twice its
     * steady-state time. Skipped, and said, when no synthetic model can be written (no llama.cpp vocabulary file).
     */
    static void warmPerTokenPath(BenchOptions o, PrintStream log) {
        Path tiny;
        try {
            tiny = syntheticPath("tiny");
        } catch (RuntimeException e) {
            log.println("  JIT warm-up skipped: no tiny synthetic model (" + e.getMessage() + ")");
            return;
        }
        long t0 = System.nanoTime();
        long until = t0 + 40_000_000_000L;
        int tokens = 0;
        int streams = 0;
        try (LlamaModel m = LlamaModel.load(tiny, ModelParams.builder().gpuLayers(o.gpu ? -1 : 0).build());
             LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(160).threads(o.threads())
                     .threadsBatch(o.threads()).build())) {
            GenerationParams.Builder b = GenerationParams.builder().maxTokens(128).ignoreEos(true).addSpecial(false);
            for (int i = 0; tokens < 12_000 && System.nanoTime() < until; i++) {
                GenerationParams p = (i % 2 == 0 ? b.sampler(SamplerParams.greedy()) : b.sampler(SamplerParams.builder().seed(i).build())).build();
                tokens += result(ctx, new int[]{1 + i % 1000}, p).generatedTokens();
            }
            // and a stream's setup and end, which a benchmark's prompt runs take once per prompt: short streams until
            // those reach the JIT's last tier too (thousands of calls; the 2 s of streams on each model alone left
            // TokenStream.result to be compiled by C2 beside the measured repetitions)
            GenerationParams greedyOne = b.sampler(SamplerParams.greedy()).maxTokens(1).build();
            GenerationParams sampledOne = b.sampler(SamplerParams.builder().seed(7).build()).maxTokens(1).build();
            int[] shortPrompt = {1, 2, 3, 4, 5, 6, 7, 8};
            for (int i = 0; i < 10_000 && System.nanoTime() < until; i++) {
                result(ctx, shortPrompt, i % 2 == 0 ? greedyOne : sampledOne);
                streams++;
            }
        }
        log.printf(Locale.ROOT, "  JIT warm-up: %d tokens, greedy and sampled, then %d one-token streams, of the tiny synthetic model in %.1f s%n",
                tokens, streams, (System.nanoTime() - t0) / 1e9);
    }

    private static GenerationResult result(LlamaContext ctx, int[] prompt, GenerationParams params) {
        try (TokenStream ts = ctx.generate(prompt, params)) {
            return ts.result();
        }
    }

    /**
     * @param args see the class comment
     */
    public static void main(String[] args) {
        System.exit(new CommandLine(new Bench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        if (printPaths) {
            for (String q : synthetic) System.out.println(syntheticPath(q));
            return 0;
        }
        run(models, synthetic, llamaBench, options, new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8));
        return 0;
    }

    /**
     * Runs the benchmark: prints progress and the markdown table, and writes the files the options ask for.
     *
     * @param models     GGUF files
     * @param synthetic  quantizations of the synthetic Llama-3.2-1B-shaped model to bench after them
     * @param llamaBench llama-bench to run side by side, or null
     * @param options    what to measure and where to write
     * @param out        where the progress and the table go
     * @throws Exception on failure
     */
    public static void run(List<Path> models, List<String> synthetic, Path llamaBench, BenchOptions options, PrintStream out) throws Exception {
        List<Path> all = new ArrayList<>(models);
        for (String q : synthetic) {
            boolean tiny = q.equalsIgnoreCase("tiny");
            out.println(tiny ? "tiny synthetic model with the Llama 3 vocabulary (random weights), F16 ..."
                    : "synthetic Llama-3.2-1B-shaped model (random weights), " + q + " ...");
            all.add(syntheticPath(q));
        }
        warmPerTokenPath(options, out);
        List<Row> rows = new ArrayList<>();
        for (Path m : all) rows.add(benchModel(m, options, llamaBench, out));
        BenchReport report = new BenchReport(hardware(options.gpu), options.backend(), build(), options.pp, options.tg, Instant.now(), rows);
        out.println();
        out.print(report.markdown());
        out.println();
        if (llamaBench != null) {
            out.println("Against llama-bench: the median of the paired ratios, its interval (order statistics), the bar and what the"
                    + " interval decides; spread = the median absolute deviation of each side's repetitions over their median:");
            out.print(report.decisionMarkdown());
            out.println();
        }
        out.println("Per generated token outside llama_decode (µs; plumbing = the iterator, the stream's checks and the caller's loop; the median of "
                + BREAKDOWN_RUNS + " runs by total):");
        out.print(report.breakdownMarkdown());
        out.println();
        out.println("Resident memory, part by part (each mapping of /proc/self/smaps counted once; the parts add up to RSS now),"
                + " llama.cpp's buffers as it reported allocating them, and the peak since the model's load began:");
        out.print(report.memoryMarkdown());
        report.write(options);
    }

    /**
     * @param quant a quantization of the synthetic Llama-3.2-1B-shaped model, or {@code tiny}
     * @return its file, written first when missing
     */
    static Path syntheticPath(String quant) {
        return quant.equalsIgnoreCase("tiny") ? SyntheticModels.cached(SyntheticModel.TINY, 42, "F16", null)
                : SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, quant, null);
    }

    static String hardware(boolean gpu) {
        List<Device> devices = Llama.devices();
        if (gpu) {
            return devices.stream().filter(d -> d.type() == Device.Type.GPU)
                    .map(d -> d.description() + String.format(Locale.ROOT, " %.0f GiB", d.memoryTotal() / 1073741824.0)).findFirst().orElse("GPU");
        }
        return devices.stream().filter(d -> d.type() == Device.Type.CPU).map(Device::description).findFirst().orElse("CPU")
                + " (" + Runtime.getRuntime().availableProcessors() + " cores, " + Llama.cpuVariant() + ")";
    }

    static String build() {
        String commit = Llama.buildInfo().getProperty("llama.cpp.commit", "?");
        return "llama.cpp " + commit.substring(0, Math.min(7, commit.length()));
    }
}
