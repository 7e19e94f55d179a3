package dev.llamajava.cli;

import dev.llamajava.ChatSession;
import dev.llamajava.ContextParams;
import dev.llamajava.GenerationParams;
import dev.llamajava.GenerationResult;
import dev.llamajava.Llama;
import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaException;
import dev.llamajava.LlamaModel;
import dev.llamajava.QuantSelector;
import dev.llamajava.Quantizer;
import dev.llamajava.SamplerParams;
import dev.llamajava.SyntheticModels;
import dev.llamajava.TokenStream;
import dev.llamajava.bench.Bench;
import dev.llamajava.gguf.GgufFile;
import dev.llamajava.gguf.GgufFormatException;
import dev.llamajava.gguf.GgufValue;
import dev.llamajava.gguf.SyntheticModel;
import dev.llamajava.hub.HuggingFace;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** The {@code llama-java} command line. */
@Command(name = "llama-java", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Run GGUF language models through llama.cpp from Java.",
        subcommands = {Main.Run.class, Main.Chat.class, Main.BenchCmd.class, Main.Info.class, Main.Quantize.class, Main.Pull.class, Main.Select.class})
public final class Main {

    static PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
    static PrintStream err = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.err), true, StandardCharsets.UTF_8);

    @Option(names = "--verbose", description = "Print stack traces on errors.", scope = CommandLine.ScopeType.INHERIT)
    boolean verbose;

    /** The version line. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[]{"llama-java " + (v == null ? "dev" : v) + ", llama.cpp de3ff81 (ggml 0.25.1)"};
        }
    }

    /**
     * @param args command-line arguments
     */
    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /**
     * Runs a command line and returns its exit code (0 success, 1 failure, 2 bad arguments).
     *
     * @param args arguments
     * @return the exit code
     */
    public static int execute(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(new java.io.PrintWriter(out, true));
        cl.setErr(new java.io.PrintWriter(err, true));
        cl.setExecutionExceptionHandler((ex, cmd, parse) -> {
            boolean verbose = args.length > 0 && List.of(args).contains("--verbose");
            err.println("llama-java: error: " + message(ex));
            if (verbose) ex.printStackTrace(err);
            return 1;
        });
        return cl.execute(args);
    }

    static String message(Throwable ex) {
        if (ex instanceof NoSuchFileException n) return "no such file: " + n.getFile();
        if (ex instanceof UncheckedIOException u && u.getCause() instanceof NoSuchFileException n) return "no such file: " + n.getFile();
        String m = ex.getMessage();
        return (m == null ? ex.toString() : m).replace('\n', ' ');
    }

    static boolean terminal() {
        return System.console() != null;
    }

    /** A one-line progress bar on a terminal (stderr); silent when piped. */
    static final class ProgressBar {
        private final String label;
        private final boolean on = terminal();
        private final long start = System.nanoTime();
        private int lastPct = -1;

        ProgressBar(String label) {
            this.label = label;
        }

        void update(double fraction, String extra) {
            if (!on) return;
            int pct = (int) Math.floor(fraction * 100);
            if (pct == lastPct && fraction < 1) return;
            lastPct = pct;
            int width = 30;
            int fill = (int) Math.round(fraction * width);
            err.print("\r" + label + " [" + "#".repeat(fill) + " ".repeat(width - fill) + "] " + pct + "% " + (extra == null ? "" : extra) + "   ");
            if (fraction >= 1) err.println();
        }

        void bytes(long done, long total) {
            double secs = (System.nanoTime() - start) / 1e9;
            double rate = secs > 0 ? done / secs : 0;
            String eta = rate > 0 && total > 0 ? String.format(Locale.ROOT, "ETA %ds", (long) ((total - done) / rate)) : "";
            update(total > 0 ? (double) done / total : 0, String.format(Locale.ROOT, "%.1f/%.1f MB %.1f MB/s %s", done / 1e6, total / 1e6, rate / 1e6, eta));
        }
    }

    /** Model resolution shared by run, chat and bench. */
    static Path resolveModel(String spec) {
        if (spec == null) {
            ProgressBar bar = new ProgressBar("creating the default model");
            Path p = SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, "Q4_K_M", (m, f) -> bar.update(f, m));
            err.println("llama-java: no --model given: using the synthetic Llama-3.2-1B-shaped model (random weights, its output is meaningless): " + p);
            return p;
        }
        if (spec.startsWith("hf:")) {
            ProgressBar bar = new ProgressBar("downloading");
            return HuggingFace.fromEnvironment().pull(HuggingFace.Ref.parse(spec), Long.MAX_VALUE, bar::bytes);
        }
        Path p = Path.of(spec);
        if (!Files.exists(p)) throw new LlamaException("model file not found: " + p.toAbsolutePath());
        return p;
    }

    /** Sampling options. */
    static final class Sampling {
        @Option(names = "--temp", description = "Temperature; 0 is greedy (default: ${DEFAULT-VALUE}).", defaultValue = "0.8")
        float temp;
        @Option(names = "--top-k", defaultValue = "40", description = "Top-k (default: ${DEFAULT-VALUE}).")
        int topK;
        @Option(names = "--top-p", defaultValue = "0.95", description = "Top-p (default: ${DEFAULT-VALUE}).")
        float topP;
        @Option(names = "--min-p", defaultValue = "0.05", description = "Min-p (default: ${DEFAULT-VALUE}).")
        float minP;
        @Option(names = "--repeat-penalty", defaultValue = "1.0", description = "Repetition penalty (default: ${DEFAULT-VALUE}).")
        float repeat;
        @Option(names = "--seed", defaultValue = "-1", description = "Seed; -1 random (default: ${DEFAULT-VALUE}).")
        int seed;
        @Option(names = "--grammar-file", description = "GBNF grammar file.")
        Path grammar;

        SamplerParams params() {
            try {
                SamplerParams.Builder b = SamplerParams.builder().temperature(temp).topK(topK).topP(topP).minP(minP)
                        .penalties(64, repeat, 0, 0).seed(seed);
                if (grammar != null) b.grammar(Files.readString(grammar));
                return b.build();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Context options. */
    static final class Ctx {
        @Option(names = "--ctx", defaultValue = "4096", description = "Context size in tokens (default: ${DEFAULT-VALUE}).")
        int ctx;
        @Option(names = "--threads", description = "Threads (default: all cores).")
        Integer threads;

        ContextParams params() {
            ContextParams.Builder b = ContextParams.builder().contextSize(ctx);
            if (threads != null) b.threads(threads).threadsBatch(threads);
            return b.build();
        }
    }

    @Command(name = "run", description = "Stream a completion.", mixinStandardHelpOptions = true)
    static final class Run implements Callable<Integer> {
        @Option(names = {"-m", "--model"}, description = "GGUF file or hf:owner/repo[:QUANT] (default: the synthetic 1B model).")
        String model;
        @Option(names = {"-p", "--prompt"}, description = "Prompt (default: read stdin).")
        String prompt;
        @Option(names = {"-n", "--max-tokens"}, defaultValue = "256", description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
        int maxTokens;
        @Option(names = "--stop", description = "Stop string (repeatable).")
        List<String> stop = new ArrayList<>();
        @Option(names = "--json", description = "One JSON object per token, then a summary.")
        boolean json;
        @CommandLine.ArgGroup(exclusive = false)
        Sampling sampling = new Sampling();
        @CommandLine.ArgGroup(exclusive = false)
        Ctx ctx = new Ctx();

        @Override
        public Integer call() throws Exception {
            String p = prompt != null ? prompt : new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
            Path path = resolveModel(model);
            try (LlamaModel m = LlamaModel.load(path);
                 LlamaContext c = LlamaContext.create(m, ctx.params());
                 TokenStream ts = c.generate(p, GenerationParams.builder().maxTokens(maxTokens).stopStrings(stop)
                         .sampler(sampling.params()).logprobs(json).build())) {
                GenerationResult r = ts.collect(t -> {
                    if (json) {
                        out.printf(Locale.ROOT, "{\"id\":%d,\"text\":%s,\"logprob\":%.6f}%n", t.id(), Bench.jsonString(t.text()), t.logprob());
                    } else {
                        out.print(t.text());
                        out.flush();
                    }
                });
                if (json) {
                    out.printf(Locale.ROOT, "{\"summary\":{\"prompt_tokens\":%d,\"generated_tokens\":%d,\"ttft_ms\":%.3f,\"prompt_tps\":%.3f,"
                                    + "\"generation_tps\":%.3f,\"stop_reason\":\"%s\",\"text\":%s}}%n", r.promptTokens(), r.generatedTokens(),
                            r.timeToFirstTokenNanos() / 1e6, r.promptTokensPerSecond(), r.generationTokensPerSecond(), r.stopReason(), Bench.jsonString(r.text()));
                } else {
                    out.println();
                    err.printf(Locale.ROOT, "[%d prompt tokens, %d generated, %.1f t/s, first token %.0f ms, %s]%n", r.promptTokens(),
                            r.generatedTokens(), r.generationTokensPerSecond(), r.timeToFirstTokenNanos() / 1e6, r.stopReason());
                }
            }
            return 0;
        }
    }

    @Command(name = "chat", description = "Interactive chat with the model's template (/reset, /save FILE, /load FILE, /quit).", mixinStandardHelpOptions = true)
    static final class Chat implements Callable<Integer> {
        @Option(names = {"-m", "--model"}, description = "GGUF file or hf:owner/repo[:QUANT] (default: the synthetic 1B model).")
        String model;
        @Option(names = "--system", description = "System prompt.")
        String system;
        @Option(names = "--template", description = "Chat template name or text (default: the model's).")
        String template;
        @Option(names = {"-n", "--max-tokens"}, defaultValue = "512", description = "Most tokens per answer (default: ${DEFAULT-VALUE}).")
        int maxTokens;
        @CommandLine.ArgGroup(exclusive = false)
        Sampling sampling = new Sampling();
        @CommandLine.ArgGroup(exclusive = false)
        Ctx ctx = new Ctx();

        @Override
        public Integer call() throws Exception {
            Path path = resolveModel(model);
            boolean tty = terminal();
            try (LlamaModel m = LlamaModel.load(path); LlamaContext c = LlamaContext.create(m, ctx.params())) {
                ChatSession chat = new ChatSession(c, template, system);
                GenerationParams gp = GenerationParams.builder().maxTokens(maxTokens).sampler(sampling.params()).build();
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                for (;;) {
                    if (tty) {
                        out.print("> ");
                        out.flush();
                    }
                    String line = in.readLine();
                    if (line == null || line.equals("/quit") || line.equals("/exit")) break;
                    if (line.isBlank()) continue;
                    if (line.equals("/reset")) {
                        chat.reset();
                        err.println("[conversation reset]");
                        continue;
                    }
                    if (line.startsWith("/save ")) {
                        chat.save(Path.of(line.substring(6).trim()));
                        err.println("[saved " + chat.messages().size() + " messages]");
                        continue;
                    }
                    if (line.startsWith("/load ")) {
                        chat.load(Path.of(line.substring(6).trim()));
                        err.println("[loaded " + chat.messages().size() + " messages]");
                        continue;
                    }
                    try (TokenStream ts = chat.send(line, gp)) {
                        ts.forEachRemaining(t -> {
                            out.print(t.text());
                            out.flush();
                        });
                    }
                    out.println();
                }
            }
            return 0;
        }
    }

    @Command(name = "bench", description = "Benchmark prompt and generation speed (optionally side by side with llama-bench).", mixinStandardHelpOptions = true)
    static final class BenchCmd implements Callable<Integer> {
        @Option(names = {"-m", "--model"}, description = "GGUF file (repeatable; default: the synthetic 1B model).")
        List<String> models = new ArrayList<>();
        @Option(names = "--quants", split = ",", description = "Synthetic 1B quantizations to bench, e.g. Q4_K_M,Q8_0.")
        List<String> quants = new ArrayList<>();
        @Option(names = "--threads", description = "Threads (default: all cores).")
        Integer threads;
        @Option(names = "--pp", defaultValue = "512", description = "Prompt tokens (default: ${DEFAULT-VALUE}).")
        int pp;
        @Option(names = "--tg", defaultValue = "128", description = "Generated tokens (default: ${DEFAULT-VALUE}).")
        int tg;
        @Option(names = "--reps", defaultValue = "5", description = "Repetitions (default: ${DEFAULT-VALUE}).")
        int reps;
        @Option(names = "--compare-native", description = "Run llama.cpp's llama-bench side by side (path, or found in the build).", arity = "0..1", fallbackValue = "")
        String compare;
        @Option(names = "--json", description = "Write JSON here.")
        Path json;
        @Option(names = "--markdown", description = "Write markdown here.")
        Path markdown;

        @Override
        public Integer call() throws Exception {
            List<String> args = new ArrayList<>();
            for (String m : models) args.addAll(List.of("--model", resolveModel(m).toString()));
            if (!quants.isEmpty()) args.addAll(List.of("--synthetic", String.join(",", quants)));
            if (models.isEmpty() && quants.isEmpty()) args.addAll(List.of("--model", resolveModel(null).toString()));
            if (threads != null) args.addAll(List.of("--threads", threads.toString()));
            args.addAll(List.of("--pp", Integer.toString(pp), "--tg", Integer.toString(tg), "--reps", Integer.toString(reps)));
            if (compare != null) {
                Path tool = compare.isEmpty() ? findLlamaBench() : Path.of(compare);
                args.addAll(List.of("--compare-native", tool.toString()));
            }
            if (json != null) args.addAll(List.of("--json", json.toString()));
            if (markdown != null) args.addAll(List.of("--markdown", markdown.toString()));
            Bench.run(args.toArray(String[]::new), out);
            return 0;
        }

        static Path findLlamaBench() {
            List<Path> tried = new ArrayList<>();
            String env = System.getenv("LLAMA_BENCH");
            if (env != null) tried.add(Path.of(env));
            String tools = System.getProperty("llama.tools.dir");
            if (tools != null) tried.add(Path.of(tools, "llama-bench"));
            tried.add(Path.of("build/native/llama-bench"));
            for (Path p : tried) if (Files.isExecutable(p)) return p;
            throw new LlamaException("llama-bench not found (tried " + tried + "); build it with ci/build-native or pass --compare-native PATH");
        }
    }

    @Command(name = "info", description = "Show a GGUF file's metadata (no weights are loaded).", mixinStandardHelpOptions = true)
    static final class Info implements Callable<Integer> {
        @Parameters(index = "0", description = "GGUF file.")
        Path model;
        @Option(names = "--all", description = "Print every metadata key.")
        boolean all;

        @Override
        public Integer call() throws Exception {
            GgufFile g;
            try {
                g = GgufFile.read(model);
            } catch (GgufFormatException e) {
                throw new LlamaException(model + " is not a valid GGUF file: " + e.getMessage());
            }
            String a = g.architecture();
            row("file", model.toString());
            row("architecture", a);
            row("name", str(g, "general.name"));
            row("parameters", String.format(Locale.ROOT, "%,d (%.2f B)", g.parameterCount(), g.parameterCount() / 1e9));
            row("quantization", g.fileTypeName() + String.format(Locale.ROOT, " (%.2f bits/weight)", g.bitsPerWeight()));
            row("size", String.format(Locale.ROOT, "%,d bytes (%.2f GB)", g.fileSize(), g.fileSize() / 1e9));
            row("context", str(g, a + ".context_length"));
            row("layers", str(g, a + ".block_count"));
            row("embedding", str(g, a + ".embedding_length"));
            row("heads / KV heads", str(g, a + ".attention.head_count") + " / " + str(g, a + ".attention.head_count_kv"));
            row("vocabulary", g.get("tokenizer.ggml.tokens").map(v -> v.asList().size() + " tokens (" + str(g, "tokenizer.ggml.model") + ")").orElse("-"));
            row("chat template", g.get("tokenizer.chat_template").map(v -> v.asString().length() + " characters").orElse("none"));
            row("tensors", Integer.toString(g.tensors().size()));
            if (all) for (Map.Entry<String, GgufValue> e : g.metadata().entrySet()) row(e.getKey(), e.getValue().toString());
            return 0;
        }

        static String str(GgufFile g, String key) {
            return g.get(key).map(GgufValue::toString).orElse("-");
        }

        static void row(String k, String v) {
            out.printf("%-18s %s%n", k, v);
        }
    }

    @Command(name = "quantize", description = "Quantize a GGUF model with llama.cpp.", mixinStandardHelpOptions = true)
    static final class Quantize implements Callable<Integer> {
        @Parameters(index = "0", description = "Input GGUF.")
        Path in;
        @Parameters(index = "1", description = "Output GGUF.")
        Path outFile;
        @Parameters(index = "2", description = "Type, e.g. Q4_K_M, Q8_0.")
        String type;
        @Option(names = "--threads", defaultValue = "0", description = "Threads, 0 = all.")
        int threads;

        @Override
        public Integer call() {
            ProgressBar bar = new ProgressBar("quantizing to " + type);
            Quantizer.quantize(in, outFile, type, new Quantizer.Options(threads, false, false, null, null), f -> bar.update(f, null));
            out.println("wrote " + outFile);
            return 0;
        }
    }

    @Command(name = "pull", description = "Download a GGUF from Hugging Face (resumable, sha256-checked).", mixinStandardHelpOptions = true)
    static final class Pull implements Callable<Integer> {
        @Parameters(index = "0", description = "hf:owner/repo[:QUANT]")
        String ref;

        @Override
        public Integer call() {
            ProgressBar bar = new ProgressBar("downloading");
            Path p = HuggingFace.fromEnvironment().pull(HuggingFace.Ref.parse(ref), Long.MAX_VALUE, bar::bytes);
            out.println(p);
            return 0;
        }
    }

    @Command(name = "select", description = "Choose the quantization that fits a memory budget.", mixinStandardHelpOptions = true)
    static final class Select implements Callable<Integer> {
        @Parameters(index = "0", description = "A folder of GGUF variants.")
        Path dir;
        @Option(names = "--budget", description = "Memory budget, e.g. 2G (default: the CPU device's free memory).")
        String budget;
        @Option(names = "--ctx", defaultValue = "4096", description = "Context size (default: ${DEFAULT-VALUE}).")
        int ctx;

        @Override
        public Integer call() {
            if (!Files.isDirectory(dir)) throw new LlamaException("not a folder of GGUF files: " + dir);
            long b = budget != null ? QuantSelector.parseSize(budget)
                    : Llama.devices().stream().mapToLong(dev.llamajava.Device::memoryFree).max().orElse(0);
            QuantSelector.Selection s = QuantSelector.select(QuantSelector.fromDirectory(dir), b, ctx, ContextParams.KvCacheType.F16);
            out.print(s.table());
            return s.chosen() == null ? 1 : 0;
        }
    }
}
