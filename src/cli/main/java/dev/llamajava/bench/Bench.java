package dev.llamajava.bench;

import dev.llamajava.ContextParams;
import dev.llamajava.Device;
import dev.llamajava.GenerationParams;
import dev.llamajava.GenerationResult;
import dev.llamajava.Llama;
import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaModel;
import dev.llamajava.SamplerParams;
import dev.llamajava.SyntheticModels;
import dev.llamajava.TokenStream;
import dev.llamajava.gguf.GgufFile;
import dev.llamajava.gguf.SyntheticModel;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The benchmark: prompt processing and generation tokens/s through the Java API, side by side with
 * llama.cpp's {@code llama-bench} of the same build on the same model and threads, in one run.
 *
 * <pre>
 * Bench [--model PATH ...] [--synthetic Q4_K_M,Q8_0] [--threads N] [--pp 512] [--tg 128] [--reps 5]
 *       [--compare-native PATH-TO-llama-bench] [--json FILE] [--markdown FILE]
 * </pre>
 */
public final class Bench {

    /** Median, min and max of repeated measurements. */
    public record Stat(double median, double min, double max) {
        /**
         * @param samples measurements (not empty)
         * @return their summary
         */
        public static Stat of(double[] samples) {
            if (samples.length == 0) throw new IllegalArgumentException("no samples");
            double[] s = samples.clone();
            Arrays.sort(s);
            int n = s.length;
            double med = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
            return new Stat(med, s[0], s[n - 1]);
        }

        String fmt() {
            return String.format(Locale.ROOT, "%.2f (%.2f-%.2f)", median, min, max);
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

    /** One model's results. */
    public record Row(String model, String quant, long sizeBytes, long params, int threads, int ctx, Stat pp, Stat tg,
                      Stat ttftMs, double ttftPromptMs, double ttftOverheadMs, double overheadUs, Stat loadMs, long peakRssBytes,
                      Double nativePp, Double nativeTg, Double ppRatio, Double tgRatio) { }

    /** The median of per-repetition ratios (ours over llama-bench, measured back to back): drift cancels out. */
    static Double pairedRatio(double[] ours, double[] theirs) {
        double[] r = new double[ours.length];
        for (int i = 0; i < r.length; i++) r[i] = ours[i] / theirs[i];
        return Stat.of(r).median();
    }

    /** llama-bench's averages for one model. */
    public record Native(double pp, double tg) { }

    static final Pattern RECORD = Pattern.compile("\"n_prompt\":\\s*(\\d+),\\s*\"n_gen\":\\s*(\\d+).*?\"avg_ts\":\\s*([0-9.eE+-]+)", Pattern.DOTALL);

    /**
     * Parses llama-bench's {@code -o json} output.
     *
     * @param json the output
     * @return average prompt and generation tokens/s (NaN when absent)
     */
    public static Native parseLlamaBench(String json) {
        double pp = Double.NaN, tg = Double.NaN;
        for (String rec : json.split("\\}\\s*,\\s*\\{")) {
            Matcher m = RECORD.matcher(rec);
            if (!m.find()) continue;
            int np = Integer.parseInt(m.group(1)), ng = Integer.parseInt(m.group(2));
            double ts = Double.parseDouble(m.group(3));
            if (np > 0 && ng == 0) pp = ts;
            if (ng > 0 && np == 0) tg = ts;
        }
        return new Native(pp, tg);
    }

    /** Set by {@code --gpu}: offload every layer, and give llama-bench {@code -ngl 99}. */
    static boolean gpu;

    static Native runLlamaBench(Path tool, Path model, int threads, int pp, int tg, int reps) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(tool.toString(), "-m", model.toString(), "-t", Integer.toString(threads),
                "-p", Integer.toString(pp), "-n", Integer.toString(tg), "-r", Integer.toString(reps), "-o", "json",
                "-ngl", gpu ? "99" : "0"));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.redirectError(ProcessBuilder.Redirect.DISCARD);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) throw new IOException("llama-bench failed: " + out);
        return parseLlamaBench(out);
    }

    static long peakRss() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) return Long.parseLong(l.replaceAll("\\D", "")) * 1024;
            }
        } catch (IOException | RuntimeException ignore) {
            // not Linux
        }
        return -1;
    }

    /**
     * Measures one model. With llama-bench given, every repetition runs llama-bench (one repetition, after its own
     * warm-up) and then ours, back to back, so drift in the machine's speed affects both sides alike.
     */
    static Row benchModel(Path model, int threads, int pp, int tg, int reps, Path llamaBench, PrintStream log) throws Exception {
        GgufFile g = GgufFile.read(model);
        log.println("  " + model.getFileName() + ": " + reps + " repetitions" + (llamaBench != null ? ", llama-bench and llama-java back to back, alternating who goes first" : ""));
        double[] load = new double[Math.max(1, Math.min(reps, 3))];
        LlamaModel m = null;
        for (int i = 0; i < load.length; i++) {
            if (m != null) m.close();
            long t0 = System.nanoTime();
            m = LlamaModel.load(model, dev.llamajava.ModelParams.builder().gpuLayers(gpu ? -1 : 0).build());
            load[i] = (System.nanoTime() - t0) / 1e6;
        }
        try (LlamaModel mm = m;
             LlamaContext ctx = LlamaContext.create(mm, ContextParams.builder().contextSize(pp + tg).threads(threads).threadsBatch(threads).build())) {
            SplittableRandom rnd = new SplittableRandom(1);
            int nv = mm.vocabSize();
            int[] prompt = rnd.ints(pp, 0, nv).toArray();
            GenerationParams one = GenerationParams.builder().sampler(SamplerParams.greedy()).maxTokens(1).addSpecial(false).build();
            GenerationParams gen = GenerationParams.builder().sampler(SamplerParams.greedy()).maxTokens(tg + 1).addSpecial(false).build();
            double[] ppTs = new double[reps], tgTs = new double[reps], ttft = new double[reps];
            double[] natPp = new double[reps], natTg = new double[reps];
            double overhead = 0, ttftPrompt = 0;
            double[] ttftOver = new double[reps];
            String tmpl = SyntheticModel.LLAMA3_TEMPLATE.equals(mm.chatTemplate().orElse("")) ? "llama3" : "chatml";
            int[] shortPrompt = mm.tokenize(dev.llamajava.ChatTemplates.apply(tmpl,
                    List.of(dev.llamajava.ChatMessage.user("Summarise the weather report in one line, please.")), true), true, true);
            if (shortPrompt.length > 20) shortPrompt = Arrays.copyOf(shortPrompt, 20);
            for (int r = -2; r < reps; r++) { // r < 0: our warm-up (JIT, caches)
                // alternate who goes first, so a slow or fast spell of the machine does not favour one side
                boolean nativeFirst = r % 2 == 0;
                if (r >= 0 && llamaBench != null && nativeFirst) {
                    Native n = runLlamaBench(llamaBench, model, threads, pp, tg, 1);
                    natPp[r] = n.pp();
                    natTg[r] = n.tg();
                }
                GenerationResult a;
                try (TokenStream ts = ctx.generate(prompt, one)) {
                    a = ts.result();
                }
                GenerationResult b;
                try (TokenStream ts = ctx.generate(new int[]{prompt[0]}, gen)) {
                    b = ts.result();
                }
                GenerationResult c;
                try (TokenStream ts = ctx.generate(shortPrompt, one)) {
                    c = ts.result();
                }
                if (r < 0) continue;
                if (llamaBench != null && !nativeFirst) {
                    Native n = runLlamaBench(llamaBench, model, threads, pp, tg, 1);
                    natPp[r] = n.pp();
                    natTg[r] = n.tg();
                }
                ppTs[r] = tokensPerSecond(a.promptTokens(), a.promptNanos());
                tgTs[r] = b.generationTokensPerSecond();
                overhead += b.overheadNanosPerToken() / 1e3 / reps;
                ttft[r] = c.timeToFirstTokenNanos() / 1e6;
                ttftPrompt += c.promptNanos() / 1e6 / reps;
                ttftOver[r] = (c.timeToFirstTokenNanos() - c.promptNanos()) / 1e6;
                log.printf(Locale.ROOT, "    rep %d: pp %.2f / %.2f t/s, tg %.2f / %.2f t/s (llama-java / llama-bench)%n", r + 1, ppTs[r],
                        natPp[r], tgTs[r], natTg[r]);
            }
            return new Row(model.getFileName().toString(), g.fileTypeName(), g.fileSize(), g.parameterCount(), threads, pp + tg,
                    Stat.of(ppTs), Stat.of(tgTs), Stat.of(ttft), ttftPrompt, Stat.of(ttftOver).median(), overhead, Stat.of(load), peakRss(),
                    llamaBench == null ? null : Stat.of(natPp).median(), llamaBench == null ? null : Stat.of(natTg).median(),
                    llamaBench == null ? null : pairedRatio(ppTs, natPp), llamaBench == null ? null : pairedRatio(tgTs, natTg));
        }
    }

    static String markdown(List<Row> rows, String hardware, int pp, int tg, String build) {
        StringBuilder sb = new StringBuilder();
        sb.append("| hardware | backend | model | quant | size | params | threads | ctx | pp").append(pp).append(" t/s (llama-java) | pp")
          .append(pp).append(" t/s (llama-bench) | ratio | tg").append(tg).append(" t/s (llama-java) | tg").append(tg)
          .append(" t/s (llama-bench) | ratio | TTFT ms (20-token prompt) | TTFT beyond prompt decode | Java cost/token | load ms | peak RSS | build | date |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        String date = Instant.now().toString().substring(0, 10);
        for (Row r : rows) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %.2f GB | %.2f B | %d | %d | %s | %s | %s | %s | %s | %s | %s | %.2f ms | %.1f µs | %.0f | %.2f GB | %s | %s |%n",
                    hardware, gpu ? "CUDA" : "CPU", r.model(), r.quant(), r.sizeBytes() / 1e9, r.params() / 1e9, r.threads(), r.ctx(), r.pp().fmt(),
                    r.nativePp() == null ? "-" : String.format(Locale.ROOT, "%.2f", r.nativePp()),
                    r.ppRatio() == null ? "-" : String.format(Locale.ROOT, "%.3f", r.ppRatio()), r.tg().fmt(),
                    r.nativeTg() == null ? "-" : String.format(Locale.ROOT, "%.2f", r.nativeTg()),
                    r.tgRatio() == null ? "-" : String.format(Locale.ROOT, "%.3f", r.tgRatio()), r.ttftMs().fmt(), r.ttftOverheadMs(),
                    r.overheadUs(), r.loadMs().median(), r.peakRssBytes() / 1e9, build, date));
        }
        return sb.toString();
    }

    /**
     * @param s text
     * @return it as a JSON string literal
     */
    public static String jsonString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        return b.append('"').toString();
    }

    static String json(List<Row> rows, String hardware, String build) {
        StringBuilder sb = new StringBuilder("{\n  \"hardware\": " + jsonString(hardware) + ",\n  \"backend\": \"" + (gpu ? "CUDA" : "CPU") + "\",\n  \"build\": "
                + jsonString(build) + ",\n  \"date\": \"" + Instant.now() + "\",\n  \"results\": [\n");
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            sb.append(String.format(Locale.ROOT, "    {\"model\": %s, \"quant\": %s, \"size_bytes\": %d, \"params\": %d, \"threads\": %d, \"ctx\": %d, "
                            + "\"pp_tps\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}, \"tg_tps\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}, "
                            + "\"ttft_ms\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}, \"ttft_prompt_decode_ms\": %.3f, \"ttft_beyond_decode_ms\": %.3f, \"java_cost_per_token_us\": %.3f, "
                            + "\"load_ms\": %.1f, \"peak_rss_bytes\": %d, \"llama_bench_pp_tps\": %s, \"llama_bench_tg_tps\": %s, \"pp_ratio\": %s, \"tg_ratio\": %s}%s%n",
                    jsonString(r.model()), jsonString(r.quant()), r.sizeBytes(), r.params(), r.threads(), r.ctx(), r.pp().median(), r.pp().min(), r.pp().max(),
                    r.tg().median(), r.tg().min(), r.tg().max(), r.ttftMs().median(), r.ttftMs().min(), r.ttftMs().max(), r.ttftPromptMs(),
                    r.ttftOverheadMs(), r.overheadUs(), r.loadMs().median(), r.peakRssBytes(), r.nativePp(), r.nativeTg(), r.ppRatio(), r.tgRatio(),
                    i + 1 < rows.size() ? "," : ""));
        }
        return sb.append("  ]\n}\n").toString();
    }

    /**
     * @param args see the class comment
     * @throws Exception on failure
     */
    public static void main(String[] args) throws Exception {
        run(args, new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8));
    }

    /**
     * Runs the benchmark.
     *
     * @param args see the class comment
     * @param out  where the progress and the table go
     * @throws Exception on failure
     */
    public static void run(String[] args, PrintStream out) throws Exception {
        List<Path> models = new ArrayList<>();
        List<String> synthetic = new ArrayList<>();
        int threads = Runtime.getRuntime().availableProcessors(), pp = 512, tg = 128, reps = 5;
        Path llamaBench = null, jsonOut = null, mdOut = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--model" -> models.add(Path.of(args[++i]));
                case "--synthetic" -> synthetic.addAll(List.of(args[++i].split(",")));
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--pp" -> pp = Integer.parseInt(args[++i]);
                case "--tg" -> tg = Integer.parseInt(args[++i]);
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--compare-native" -> llamaBench = Path.of(args[++i]);
                case "--json" -> jsonOut = Path.of(args[++i]);
                case "--markdown" -> mdOut = Path.of(args[++i]);
                case "--gpu" -> gpu = true;
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        for (String q : synthetic) {
            out.println("synthetic Llama-3.2-1B-shaped model (random weights), " + q + " ...");
            models.add(SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, q, null));
        }
        String hardware = gpu
                ? Llama.devices().stream().filter(d -> d.type() == Device.Type.GPU)
                        .map(d -> d.description() + String.format(Locale.ROOT, " %.0f GiB", d.memoryTotal() / 1073741824.0)).findFirst().orElse("GPU")
                : Llama.devices().stream().filter(d -> d.type() == Device.Type.CPU).map(Device::description).findFirst().orElse("CPU")
                        + " (" + Runtime.getRuntime().availableProcessors() + " cores, " + Llama.cpuVariant() + ")";
        String build = "llama.cpp " + Llama.buildInfo().getProperty("llama.cpp.commit", "?").substring(0, Math.min(7, Llama.buildInfo().getProperty("llama.cpp.commit", "?").length()));
        List<Row> rows = new ArrayList<>();
        for (Path m : models) rows.add(benchModel(m, threads, pp, tg, reps, llamaBench, out));
        String md = markdown(rows, hardware, pp, tg, build);
        out.println();
        out.print(md);
        if (mdOut != null) {
            Files.createDirectories(mdOut.toAbsolutePath().getParent());
            Files.writeString(mdOut, md);
        }
        if (jsonOut != null) {
            Files.createDirectories(jsonOut.toAbsolutePath().getParent());
            Files.writeString(jsonOut, json(rows, hardware, build));
        }
    }
}
