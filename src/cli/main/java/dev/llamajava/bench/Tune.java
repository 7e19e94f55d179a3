package dev.llamajava.bench;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamajava.ContextParams;
import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaException;
import dev.llamajava.LlamaModel;
import dev.llamajava.ModelParams;
import dev.llamajava.internal.Json;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * {@code llama-java bench --tune}: searches the settings that decide CPU speed (threads for generation and for
 * prompts, micro-batch size, flash attention, KV cache type, load mode, CPU repacking) one at a time from llama.cpp's
 * defaults (coordinate descent: each setting's candidates measured with the best of the others so far), and measures
 * {@code llama-bench} with its defaults in the same run as the baseline. Each candidate meets the incumbent in
 * {@code --tune-pairs} rounds back to back, alternating who goes first, and replaces it when the median of the paired
 * ratios is at least {@link #SWITCH} and every round is better ({@link Trial#taken()}). Prompt settings are judged by prompt speed, the generation's threads by
 * generation speed, the rest by the geometric mean of both. The best is then confirmed
 * against {@code llama-bench}'s defaults in {@code --reps} rounds back to back (up to {@code --max-reps} while the 5%
 * asked of the tuner is undecided), judged by the median paired ratio with its confidence interval (one pass of the
 * search is at the mercy of the machine's drift): met, missed or undecided, on prompt and on generation.
 */
public final class Tune {

    /**
     * One measured configuration: ours, the medians of its runs.
     *
     * @param vsIncumbent for a candidate, the median of its paired ratios to the incumbent by the setting's measure
     *                    ({@link #taken()}: it became the incumbent); NaN for llama-java's defaults and the
     *                    best
     * @param worstVsIncumbent the smallest of those paired ratios; NaN where {@code vsIncumbent} is
     */
    record Trial(String setting, TuneProfile profile, double pp, double tg, double vsIncumbent, double worstVsIncumbent) {
        /** @return whether the candidate replaced the incumbent: {@link #SWITCH} by the median, better in every round */
        boolean taken() {
            return vsIncumbent >= SWITCH && worstVsIncumbent > 1;
        }
    }

    /**
     * How much better, by the median of the paired ratios, a candidate must measure to replace the incumbent: 2%, and
     * better in every round. This machine's speed drifts by 20% within minutes, so one pass per setting picked whatever
     * ran in a fast minute (a quantized KV cache, a smaller micro-batch); met back to back, alternating who goes first,
     * the drift mostly cancels, and a setting that changes nothing is taken with a chance of 2^-pairs at most (1 in 16
     * with 4 rounds) instead of about half the time.
     */
    static final double SWITCH = 1.02;

    private final Path model;
    private final BenchOptions o;
    private final PrintStream log;
    private final List<Trial> trials = new ArrayList<>();

    private Tune(Path model, BenchOptions o, PrintStream log) {
        this.model = model;
        this.o = o;
        this.log = log;
    }

    /**
     * Runs the search and prints the table, the best profile and its gain.
     *
     * @param model      the model
     * @param o          pp, tg, inner runs and threads
     * @param llamaBench llama-bench for the baseline (its defaults, same threads)
     * @param profileOut where to write the best profile, or null
     * @param log        where the progress and the table go
     * @return the best profile
     * @throws Exception when a measurement fails
     */
    public static TuneProfile run(Path model, BenchOptions o, Path llamaBench, Path profileOut, PrintStream log) throws Exception {
        return new Tune(model, o, log).search(llamaBench, profileOut);
    }

    private TuneProfile search(Path llamaBench, Path profileOut) throws Exception {
        int cores = o.threads();
        log.printf(Locale.ROOT, "tuning %s: pp%d / tg%d, %d runs per measurement, each candidate against the incumbent in %d rounds back to back"
                + " (taken at x%.2f or more, better in every round), up to %d threads%n", model.getFileName(), o.pp, o.tg, o.inner, Math.max(1, o.tunePairs), SWITCH, cores);
        LlamaBench.Averages base = LlamaBench.run(llamaBench, model, cores, o.pp, o.tg, Math.max(2, o.inner), false);
        log.printf(Locale.ROOT, "  llama-bench, its defaults: pp %.2f t/s, tg %.2f t/s%n", base.pp(), base.tg());
        TuneProfile best = TuneProfile.defaults(cores);
        Bench.Side first = side(best);
        Trial current = trial("llama-java's defaults", best, first.pp(), first.tg(), Double.NaN, Double.NaN);
        List<Integer> threads = new ArrayList<>(new LinkedHashSet<>(List.of(cores, Math.max(1, cores - 1), Math.max(1, cores / 2))));
        current = pick(current, "threads", threads, TuneProfile::withThreads, Bench.Side::tg);
        current = pick(current, "threads-batch", threads, TuneProfile::withThreadsBatch, Bench.Side::pp);
        current = pick(current, "ubatch", List.of(512, 256, 128, 1024), TuneProfile::withMicroBatch, Bench.Side::pp);
        current = pick(current, "flash-attn", List.of(ContextParams.FlashAttention.values()), TuneProfile::withFlashAttention, Tune::score);
        current = pick(current, "kv", List.of(ContextParams.KvCacheType.F16, ContextParams.KvCacheType.Q8_0), TuneProfile::withKvType, Tune::score);
        current = pick(current, "load", List.of(ModelParams.LoadMode.AUTO, ModelParams.LoadMode.MMAP, ModelParams.LoadMode.NONE),
                TuneProfile::withLoadMode, Tune::score);
        current = pick(current, "repack", List.of(true, false), TuneProfile::withCpuRepack, Tune::score);
        current = pick(current, "huge pages", List.of(true, false), TuneProfile::withHugePages, Tune::score);
        best = current.profile();
        log.println();
        log.print(table(base));
        log.printf(Locale.ROOT, "%nbest of the search: %s%n", best.describe());
        // one pass of the search is at the mercy of the machine's drift: confirm the best against llama-bench's defaults,
        // back to back (alternating who goes first), several times, and judge by the median of the paired ratios; with
        // --max-reps, more rounds (looking again each time the count doubles) until the 5% bar is met on either side or
        // decided on both, each look's interval at 1 - 0.05 / looks
        Bench.Looks looks = Bench.Looks.of(Math.max(1, o.reps), o.maxReps);
        int max = looks.last();
        double[] ppBest = new double[max], tgBest = new double[max], ppBase = new double[max], tgBase = new double[max];
        int rounds = 0;
        Bench.Ratio ppGain = null, tgGain = null;
        Bench.Decision ppWin = null, tgWin = null;
        for (int r = 0; r < max; r++) {
            boolean nativeFirst = r % 2 == 0;
            LlamaBench.Averages n = nativeFirst ? LlamaBench.run(llamaBench, model, cores, o.pp, o.tg, Math.max(2, o.inner), false) : null;
            Bench.Side t = side(best);
            log.printf(Locale.ROOT, "  %-28s pp %9.2f t/s   tg %8.2f t/s%n", "confirm " + (r + 1), t.pp(), t.tg());
            if (!nativeFirst) n = LlamaBench.run(llamaBench, model, cores, o.pp, o.tg, Math.max(2, o.inner), false);
            ppBase[r] = n.pp();
            tgBase[r] = n.tg();
            ppBest[r] = t.pp();
            tgBest[r] = t.tg();
            log.printf(Locale.ROOT, "    llama-bench defaults pp %.2f tg %.2f%n", n.pp(), n.tg());
            rounds = r + 1;
            if (!looks.isLook(rounds)) continue;
            ppGain = looks.ratio(ppBest, ppBase, rounds);
            tgGain = looks.ratio(tgBest, tgBase, rounds);
            ppWin = looks.decide(ppGain, WIN);
            tgWin = looks.decide(tgGain, WIN);
            boolean met = ppWin.verdict() == Bench.Verdict.MET || tgWin.verdict() == Bench.Verdict.MET;
            boolean both = ppWin.verdict() != Bench.Verdict.UNDECIDED && tgWin.verdict() != Bench.Verdict.UNDECIDED;
            if (met || both) break;
        }
        current = new Trial("best", best, median(ppBest, rounds), median(tgBest, rounds), Double.NaN, Double.NaN);
        log.printf(Locale.ROOT, "best: %s%n  vs llama-bench's defaults, median of %d paired rounds (interval at %.1f%%): pp x%.3f [%.3f-%.3f], tg x%.3f [%.3f-%.3f]%n",
                best.describe(), rounds, 100 * ppGain.confidence(), ppGain.median(), ppGain.low(), ppGain.high(), tgGain.median(), tgGain.low(), tgGain.high());
        log.printf(Locale.ROOT, "  %.0f%% faster than llama-bench's defaults: prompt %s, generation %s%n", 100 * (WIN - 1),
                verdict(ppWin), verdict(tgWin));
        if (profileOut != null) {
            ObjectNode root = Json.object().put("model", model.getFileName().toString());
            root.set("profile", best.json());
            root.putObject("measured").put("pp_tps", current.pp()).put("tg_tps", current.tg())
                    .put("llama_bench_pp_tps", median(ppBase, rounds)).put("llama_bench_tg_tps", median(tgBase, rounds))
                    .put("pp_ratio", ppGain.median()).put("tg_ratio", tgGain.median()).put("rounds", rounds)
                    .put("pp_ratio_low", ppGain.low()).put("pp_ratio_high", ppGain.high())
                    .put("tg_ratio_low", tgGain.low()).put("tg_ratio_high", tgGain.high()).put("confidence", ppGain.confidence())
                    .put("pp_at_least_5_percent", verdict(ppWin)).put("tg_at_least_5_percent", verdict(tgWin));
            ArrayNode all = root.putArray("trials");
            for (Trial t : trials) {
                ObjectNode j = all.addObject().put("setting", t.setting()).put("pp_tps", t.pp()).put("tg_tps", t.tg());
                if (Double.isNaN(t.vsIncumbent())) j.putNull("vs_incumbent").putNull("worst_vs_incumbent");
                else j.put("vs_incumbent", t.vsIncumbent()).put("worst_vs_incumbent", t.worstVsIncumbent()).put("taken", t.taken());
                j.set("profile", t.profile().json());
            }
            Files.createDirectories(profileOut.toAbsolutePath().getParent());
            Files.writeString(profileOut, Json.pretty(root) + "\n", StandardCharsets.UTF_8);
            log.println("profile written to " + profileOut + " (run and chat read it with --profile)");
        }
        return best;
    }

    /** A change of one setting. */
    @FunctionalInterface
    interface With<T> {
        TuneProfile apply(TuneProfile p, T value);
    }

    private <T> Trial pick(Trial current, String name, List<T> candidates, With<T> with, Function<Bench.Side, Double> by) {
        Trial best = current;
        for (T v : candidates) {
            TuneProfile p = with.apply(current.profile(), v);
            if (p.equals(current.profile()) || p.equals(best.profile())) continue;
            if (p.kvType() != ContextParams.KvCacheType.F16 && p.flashAttention() == ContextParams.FlashAttention.OFF) continue; // a quantized V needs it
            // a micro-batch at or above the prompt decodes it in one step, as the incumbent's does: the same work
            if (Math.min(p.microBatch(), o.pp) == Math.min(best.profile().microBatch(), o.pp) && p.withMicroBatch(best.profile().microBatch()).equals(best.profile())) {
                log.printf(Locale.ROOT, "  %-28s the same work as the incumbent for a %d-token prompt: skipped%n", name + " " + v, o.pp);
                continue;
            }
            Trial t = duel(name + " " + v, best, p, by);
            if (t != null && t.taken()) best = t;
        }
        return best;
    }

    /**
     * Measures candidate {@code p} against the incumbent in {@code --tune-pairs} rounds back to back, alternating who
     * goes first.
     *
     * @return the candidate's trial (its medians, and the median of the paired ratios by {@code by}), or null when
     *         llama.cpp refuses the setting for this model (logged, left out)
     */
    private Trial duel(String setting, Trial incumbent, TuneProfile p, Function<Bench.Side, Double> by) {
        int n = Math.max(1, o.tunePairs);
        double[] pp = new double[n], tg = new double[n], ratio = new double[n];
        try {
            for (int r = 0; r < n; r++) {
                boolean candidateFirst = r % 2 == 1;
                Bench.Side c = candidateFirst ? side(p) : null;
                Bench.Side i = side(incumbent.profile());
                if (!candidateFirst) c = side(p);
                pp[r] = c.pp();
                tg[r] = c.tg();
                ratio[r] = by.apply(c) / by.apply(i);
            }
        } catch (LlamaException e) {
            log.printf(Locale.ROOT, "  %-28s not possible: %s%n", setting, e.getMessage());
            return null;
        }
        return trial(setting, p, median(pp, n), median(tg, n), median(ratio, n), Arrays.stream(ratio).min().orElseThrow());
    }

    /** Records and logs a trial. */
    private Trial trial(String setting, TuneProfile p, double pp, double tg, double vsIncumbent, double worst) {
        Trial t = new Trial(setting, p, pp, tg, vsIncumbent, worst);
        trials.add(t);
        log.printf(Locale.ROOT, "  %-28s pp %9.2f t/s   tg %8.2f t/s%s%n", setting, pp, tg,
                Double.isNaN(vsIncumbent) ? "" : String.format(Locale.ROOT, "   x%.3f the incumbent (worst round x%.3f)%s", vsIncumbent, worst, t.taken() ? ": taken" : ""));
        return t;
    }

    /**
     * @return our speeds with profile {@code p} (a fresh load and context)
     * @throws LlamaException when llama.cpp refuses the setting for this model
     */
    private Bench.Side side(TuneProfile p) {
        try (LlamaModel m = LlamaModel.load(model, p.modelParams().toBuilder().gpuLayers(0).build());
             LlamaContext ctx = LlamaContext.create(m, p.contextParams(o.pp + o.tg))) {
            int[] prompt = new SplittableRandom(1).ints(o.pp, 0, m.vocabSize()).toArray();
            return Bench.ours(ctx, prompt, o.tg, o.inner);
        }
    }

    /** The gain over llama-bench's defaults the tuner is asked for: 5%. */
    static final double WIN = 1.05;

    private static String verdict(Bench.Decision d) {
        return d.verdict().label();
    }

    /** @return the median of the first {@code n} values */
    private static double median(double[] values, int n) {
        return Bench.Stat.of(Arrays.copyOf(values, n)).median();
    }

    private static double score(Bench.Side t) {
        return Math.sqrt(t.pp() * t.tg());
    }

    private String table(LlamaBench.Averages base) {
        StringBuilder sb = new StringBuilder("| setting | pp t/s | vs llama-bench | tg t/s | vs llama-bench | paired vs the incumbent |\n"
                + "|---|---:|---:|---:|---:|---:|\n");
        sb.append(String.format(Locale.ROOT, "| llama-bench, its defaults | %.2f | 1.000 | %.2f | 1.000 | |%n", base.pp(), base.tg()));
        for (Trial t : trials) {
            String vs = Double.isNaN(t.vsIncumbent()) ? "" : String.format(Locale.ROOT, "%.3f (worst %.3f)%s", t.vsIncumbent(), t.worstVsIncumbent(),
                    t.taken() ? " taken" : "");
            sb.append(String.format(Locale.ROOT, "| %s | %.2f | %.3f | %.2f | %.3f | %s |%n", t.setting(), t.pp(), t.pp() / base.pp(), t.tg(),
                    t.tg() / base.tg(), vs));
        }
        return sb.toString();
    }
}
