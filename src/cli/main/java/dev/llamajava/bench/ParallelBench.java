package dev.llamajava.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamajava.ContextParams;
import dev.llamajava.Engine;
import dev.llamajava.EngineParams;
import dev.llamajava.GenerationParams;
import dev.llamajava.LlamaModel;
import dev.llamajava.ModelParams;
import dev.llamajava.StopReason;
import dev.llamajava.Token;
import dev.llamajava.TokenStream;
import dev.llamajava.bench.Bench.Ratio;
import dev.llamajava.bench.Bench.Stat;
import dev.llamajava.internal.Json;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.lang.ProcessBuilder.Redirect;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The parallel-sequence benchmark: {@link Engine} at 1, 2, 4, 8 concurrent streams beside llama.cpp's
 * {@code llama-batched-bench} of the same build, same model, threads, batch sizes and KV layout (one stream of
 * {@code pp + tg} cells per sequence, 8 sequences), interleaved round by round. Each stream gets a prompt of
 * {@code --pp} random tokens and generates {@code --tg} tokens after its first (greedy, end-of-generation ignored), as
 * batched-bench decodes {@code tg} steps after the prompts. Prompt speed is {@code pl * pp} over the time until every
 * stream has its first token; generation speed is {@code pl * tg} over the time from then until every stream ended.
 * Ratios are per round, their median with a distribution-free interval over the rounds.
 *
 * <pre>ParallelBench [--model PATH | --synthetic Q4_K_M] [--threads 2] [--pp 64] [--tg 32] [--npl 1,2,4,8] [--rounds 3]
 *               --compare-native llama-batched-bench [--json F] [--markdown F]</pre>
 */
@Command(name = "parallel-bench", mixinStandardHelpOptions = true, description = "Engine throughput vs llama-batched-bench.")
public final class ParallelBench implements Callable<Integer> {

    @Mixin
    SyntheticOptions opts = new SyntheticOptions();

    @Option(names = "--pp", defaultValue = "64", description = "Prompt tokens per stream (default: ${DEFAULT-VALUE}).")
    int pp = 64;
    @Option(names = "--tg", defaultValue = "32", description = "Generated tokens per stream after the first (default: ${DEFAULT-VALUE}).")
    int tg = 32;
    @Option(names = "--npl", defaultValue = "1,2,4,8", split = ",", description = "Concurrent streams (default: ${DEFAULT-VALUE}).")
    int[] npl = {1, 2, 4, 8};
    @Option(names = "--rounds", defaultValue = "3", description = "Interleaved rounds (default: ${DEFAULT-VALUE}).")
    int rounds = 3;
    @Option(names = "--compare-native", required = true, description = "llama-batched-bench of the same build.")
    Path batchedBench;
    @Option(names = "--log-flush", description = "libllamajava_logflush.so, preloaded into llama-batched-bench so its last lines reach stdout.")
    Path logFlush;

    /** One point's speeds, tokens/s. */
    record Point(double pp, double tg) { }

    /**
     * @param args see the class comment
     */
    public static void main(String[] args) {
        System.exit(new CommandLine(new ParallelBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        Path file = opts.file();
        int maxPl = Arrays.stream(npl).max().orElseThrow();
        Map<Integer, double[][]> ours = new LinkedHashMap<>(), theirs = new LinkedHashMap<>();
        for (int pl : npl) {
            ours.put(pl, new double[2][rounds]);
            theirs.put(pl, new double[2][rounds]);
        }
        ContextParams cp = ContextParams.builder().threads(opts.threads).threadsBatch(opts.threads).build();
        EngineParams ep = EngineParams.builder().slots(maxPl).slotContext(pp + tg + 1).context(cp).build();
        try (LlamaModel m = LlamaModel.load(file, ModelParams.defaults())) {
            Random rnd = new Random(1);
            try (Engine e = Engine.create(m, ep)) {
                measure(e, rnd, 1, 4, 4); // warm-up
                for (int r = 0; r < rounds; r++) {
                    Map<Integer, Point> nat = nativeRun(file, maxPl);
                    for (int pl : npl) {
                        Point o = measure(e, rnd, pl, pp, tg);
                        Point t = nat.get(pl);
                        ours.get(pl)[0][r] = o.pp();
                        ours.get(pl)[1][r] = o.tg();
                        theirs.get(pl)[0][r] = t.pp();
                        theirs.get(pl)[1][r] = t.tg();
                        System.out.printf(Locale.ROOT, "round %d, %d streams: prompt %.1f vs %.1f t/s, generation %.2f vs %.2f t/s%n",
                                r + 1, pl, o.pp(), t.pp(), o.tg(), t.tg());
                    }
                }
            }
        }
        StringBuilder md = new StringBuilder(String.format(Locale.ROOT,
                "| streams | prompt t/s | batched-bench | ratio | generation t/s (all streams) | per stream | batched-bench | ratio |%n"
                        + "|---|---|---|---|---|---|---|---|%n"));
        ObjectNode root = Json.object().put("model", file.getFileName().toString()).put("threads", opts.threads).put("pp", pp)
                .put("tg", tg).put("rounds", rounds).put("slots", maxPl).put("slot_context", pp + tg + 1);
        ArrayNode points = root.putArray("points");
        for (int pl : npl) {
            Stat opp = Stat.of(ours.get(pl)[0]), otg = Stat.of(ours.get(pl)[1]);
            Stat tpp = Stat.of(theirs.get(pl)[0]), ttg = Stat.of(theirs.get(pl)[1]);
            Ratio rpp = Ratio.of(ours.get(pl)[0], theirs.get(pl)[0]), rtg = Ratio.of(ours.get(pl)[1], theirs.get(pl)[1]);
            md.append(String.format(Locale.ROOT, "| %d | %.1f | %.1f | %.3f [%.3f-%.3f] | %.2f | %.2f | %.2f | %.3f [%.3f-%.3f] |%n",
                    pl, opp.median(), tpp.median(), rpp.median(), rpp.low(), rpp.high(), otg.median(), otg.median() / pl,
                    ttg.median(), rtg.median(), rtg.low(), rtg.high()));
            ObjectNode p = points.addObject().put("streams", pl)
                    .put("prompt_tps", opp.median()).put("batched_bench_prompt_tps", tpp.median()).put("prompt_ratio", rpp.median())
                    .put("generation_tps", otg.median()).put("generation_tps_per_stream", otg.median() / pl)
                    .put("batched_bench_generation_tps", ttg.median()).put("generation_ratio", rtg.median());
            p.putObject("prompt_ratio_ci").put("low", rpp.low()).put("high", rpp.high()).put("confidence", rpp.confidence());
            p.putObject("generation_ratio_ci").put("low", rtg.low()).put("high", rtg.high()).put("confidence", rtg.confidence());
            p.set("rounds", Json.MAPPER.valueToTree(Map.of("prompt_tps", ours.get(pl)[0], "generation_tps", ours.get(pl)[1],
                    "batched_bench_prompt_tps", theirs.get(pl)[0], "batched_bench_generation_tps", theirs.get(pl)[1])));
        }
        System.out.println();
        System.out.print(md);
        System.out.printf(Locale.ROOT, "%s, %d threads, prompts of %d tokens, %d generated per stream after the first; bar: ratios 0.95 or better%n",
                file.getFileName(), opts.threads, pp, tg);
        if (opts.markdown != null) Files.writeString(opts.markdown, md.toString());
        if (opts.json != null) Files.writeString(opts.json, Json.pretty(Json.object().set("parallel", root)) + "\n");
        return 0;
    }

    /** Runs {@code pl} streams at once through the engine. */
    static Point measure(Engine e, Random rnd, int pl, int pp, int tg) throws Exception {
        int nVocab = e.model().vocabSize();
        GenerationParams gp = GenerationParams.builder().greedy().ignoreEos(true).maxTokens(tg + 1).build();
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < pl; i++) prompts.add(rnd.ints(pp, 0, nVocab).toArray());
        long[] first = new long[pl], end = new long[pl];
        long t0 = System.nanoTime();
        List<TokenStream> streams = new ArrayList<>();
        for (int[] p : prompts) streams.add(e.generate(p, gp));
        try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = new ArrayList<>();
            for (int i = 0; i < pl; i++) {
                int k = i;
                fs.add(ex.submit(() -> {
                    try (TokenStream s = streams.get(k)) {
                        int n = 0;
                        while (s.hasNext()) {
                            // the bytes of a character cut by the end come last as a token of their own, not a generated one
                            if (s.next().id() == Token.INCOMPLETE_UTF8) continue;
                            if (n++ == 0) first[k] = System.nanoTime();
                        }
                        end[k] = System.nanoTime();
                        if (n != tg + 1 || s.stopReason() != StopReason.MAX_TOKENS) {
                            throw new IllegalStateException("stream " + k + " ended after " + n + " tokens: " + s.stopReason());
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get(30, TimeUnit.MINUTES);
        }
        long promptEnd = Arrays.stream(first).max().orElseThrow();
        long genEnd = Arrays.stream(end).max().orElseThrow();
        return new Point(pl * (double) pp / ((promptEnd - t0) / 1e9), pl * (double) tg / ((genEnd - promptEnd) / 1e9));
    }

    /** One run of llama-batched-bench over every point, with this benchmark's shape. */
    private Map<Integer, Point> nativeRun(Path file, int maxPl) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(batchedBench.toString(), "-m", file.toString(), "-c", Integer.toString(maxPl * (pp + tg + 1)),
                "-b", "2048", "-ub", "512", "-npp", Integer.toString(pp), "-ntg", Integer.toString(tg),
                "-npl", String.join(",", Arrays.stream(npl).mapToObj(Integer::toString).toList()),
                "-t", Integer.toString(opts.threads), "-tb", Integer.toString(opts.threads), "-ngl", "0", "--output-format", "jsonl"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(Redirect.DISCARD);
        if (logFlush != null) pb.environment().put("LD_PRELOAD", logFlush.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) throw new IOException("llama-batched-bench failed: " + out);
        Map<Integer, Point> points = new LinkedHashMap<>();
        for (String line : out.split("\n")) {
            if (!line.startsWith("{")) continue;
            JsonNode n = Json.parse(line);
            points.put(n.path("pl").asInt(), new Point(n.path("speed_pp").asDouble(), n.path("speed_tg").asDouble()));
        }
        for (int pl : npl) if (!points.containsKey(pl)) throw new IOException("llama-batched-bench printed no record for " + pl + " streams: " + out);
        return points;
    }
}
