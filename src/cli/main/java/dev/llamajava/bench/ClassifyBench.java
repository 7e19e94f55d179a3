package dev.llamajava.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamajava.Classifier;
import dev.llamajava.ContextParams;
import dev.llamajava.LlamaModel;
import dev.llamajava.ModelParams;
import dev.llamajava.bench.Bench.Ratio;
import dev.llamajava.bench.Bench.Stat;
import dev.llamajava.internal.Json;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;

/**
 * The classification benchmark: decisions per second and p50/p99 latency of {@link Classifier#classify} for inputs
 * of {@code --input} tokens after a cached prefix of {@code --prefix} tokens, and beside it, in the same run and
 * interleaved round by round, llama.cpp's floor for the same work: {@code llama-bench -p INPUT -n 0 -d PREFIX}
 * (a prompt of that size decoded at that depth). The ratio is our p50 over llama-bench's mean time, per round, and
 * its median with a distribution-free interval over the rounds.
 *
 * <pre>ClassifyBench [--model PATH | --synthetic Q4_K_M] [--threads 2] [--prefix 200] [--input 20] [--rounds 7]
 *               [--decisions 10] --compare-native llama-bench [--json F] [--markdown F]</pre>
 */
@Command(name = "classify-bench", mixinStandardHelpOptions = true, description = "Classifier latency vs llama-bench at the same depth.")
public final class ClassifyBench implements Callable<Integer> {

    @Mixin
    SyntheticOptions opts = new SyntheticOptions();

    @Option(names = "--prefix", defaultValue = "200", description = "Cached prefix tokens, BOS included (default: ${DEFAULT-VALUE}).")
    int prefix = 200;
    @Option(names = "--input", defaultValue = "20", description = "Tokens per classified input (default: ${DEFAULT-VALUE}).")
    int input = 20;
    @Option(names = "--rounds", defaultValue = "7", description = "Interleaved rounds (default: ${DEFAULT-VALUE}).")
    int rounds = 7;
    @Option(names = "--decisions", defaultValue = "10", description = "Decisions per round, and llama-bench repetitions (default: ${DEFAULT-VALUE}).")
    int decisions = 10;
    @Option(names = "--compare-native", required = true, description = "llama-bench of the same build.")
    Path llamaBench;

    /** Words that are one token each after a space in the Llama 3 and llama2 vocabularies, for inputs of exact size. */
    private static final List<String> WORDS = List.of(" the", " cat", " dog", " and", " a", " to", " is", " was", " in",
            " it", " he", " she", " they", " big", " red", " day", " time", " not", " very", " good");

    /**
     * @param args see the class comment
     */
    public static void main(String[] args) {
        System.exit(new CommandLine(new ClassifyBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        Path file = opts.file();
        ContextParams cp = ContextParams.builder().contextSize(512).threads(opts.threads).threadsBatch(opts.threads).build();
        List<Double> latencies = new ArrayList<>();
        double[] ourP50 = new double[rounds];
        double[] native_ = new double[rounds];
        long t0;
        double prefixMs;
        try (LlamaModel m = LlamaModel.load(file, ModelParams.defaults())) {
            Random rnd = new Random(7);
            String prefixText = text(m, rnd, prefix - (m.tokenize("", true, false).length));
            t0 = System.nanoTime();
            try (Classifier c = Classifier.builder(m).prefix(prefixText).labels(" yes", " no", " maybe").contextParams(cp).build()) {
                prefixMs = (System.nanoTime() - t0) / 1e6;
                if (c.prefixTokens() != prefix) throw new IllegalStateException("prefix has " + c.prefixTokens() + " tokens, not " + prefix);
                List<String> inputs = new ArrayList<>();
                for (int i = 0; i < 64; i++) inputs.add(text(m, rnd, input));
                for (int i = 0; i < 3; i++) c.classify(inputs.get(i)); // warm-up
                int next = 0;
                for (int r = 0; r < rounds; r++) {
                    native_[r] = nativeMillis(file);
                    double[] round = new double[decisions];
                    for (int d = 0; d < decisions; d++) {
                        String in = inputs.get(next++ % inputs.size());
                        long s = System.nanoTime();
                        Classifier.Result res = c.classify(in);
                        round[d] = (System.nanoTime() - s) / 1e6;
                        if (res.inputTokens() != input) throw new IllegalStateException("input has " + res.inputTokens() + " tokens");
                        latencies.add(round[d]);
                    }
                    ourP50[r] = Stat.of(round).median();
                    System.out.printf(Locale.ROOT, "round %d: classify p50 %.2f ms, llama-bench pp%d@d%d %.2f ms%n", r + 1, ourP50[r], input, prefix, native_[r]);
                }
            }
        }
        double[] all = latencies.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(all);
        double p50 = Bench.percentile(all, 0.50), p99 = Bench.percentile(all, 0.99);
        double total = Arrays.stream(all).sum();
        double perSecond = all.length * 1000.0 / total;
        Ratio ratio = Ratio.of(ourP50, native_);
        Stat nat = Stat.of(native_);
        String md = String.format(Locale.ROOT, """
                | model | threads | prefix | input | decisions/s | p50 ms | p99 ms | llama-bench pp%d @ d%d ms | p50 / llama-bench |
                |---|---|---|---|---|---|---|---|---|
                | %s | %d | %d | %d | %.1f | %.2f | %.2f | %.2f | %.3f [%.3f-%.3f] |
                """, input, prefix, file.getFileName(), opts.threads, prefix, input, perSecond, p50, p99, nat.median(), ratio.median(), ratio.low(), ratio.high());
        System.out.println();
        System.out.print(md);
        System.out.printf(Locale.ROOT, "%d decisions over %d rounds; prefix decoded once per context in %.0f ms; bar: p50 within 1.10x of llama-bench%n",
                all.length, rounds, prefixMs);
        if (opts.markdown != null) Files.writeString(opts.markdown, md);
        if (opts.json != null) {
            ObjectNode o = Json.object().put("model", file.getFileName().toString()).put("threads", opts.threads)
                    .put("prefix_tokens", prefix).put("input_tokens", input).put("decisions", all.length)
                    .put("decisions_per_second", perSecond).put("p50_ms", p50).put("p99_ms", p99)
                    .put("llama_bench_ms", nat.median()).put("p50_over_llama_bench", ratio.median())
                    .put("prefix_decode_ms", prefixMs);
            o.putObject("p50_over_llama_bench_ci").put("low", ratio.low()).put("high", ratio.high()).put("confidence", ratio.confidence());
            o.putArray("round_p50_ms").addAll(Arrays.stream(ourP50).mapToObj(v -> Json.object().numberNode(v)).toList());
            o.putArray("round_llama_bench_ms").addAll(Arrays.stream(native_).mapToObj(v -> Json.object().numberNode(v)).toList());
            Files.writeString(opts.json, Json.pretty(Json.object().set("classify", o)) + "\n");
        }
        return 0;
    }

    /** A text of exactly {@code tokens} tokens (no BOS) from one-token words. */
    static String text(LlamaModel m, Random rnd, int tokens) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < tokens; i++) sb.append(WORDS.get(rnd.nextInt(WORDS.size())));
        String s = sb.toString();
        int n = m.tokenize(s, false, false).length;
        if (n != tokens) throw new IllegalStateException("the words gave " + n + " tokens, not " + tokens + ", in this vocabulary");
        return s;
    }


    /** llama-bench's mean time for a prompt of {@code input} tokens at depth {@code prefix}, in ms. */
    private double nativeMillis(Path file) throws IOException, InterruptedException {
        var records = LlamaBench.records(llamaBench, file, opts.threads, decisions, false,
                "-p", Integer.toString(input), "-n", "0", "-d", Integer.toString(prefix));
        for (var rec : records) {
            if (rec.path("n_prompt").asInt() == input && rec.path("n_gen").asInt() == 0) return rec.path("avg_ns").asDouble() / 1e6;
        }
        throw new IOException("llama-bench printed no pp" + input + " record: " + records);
    }
}
