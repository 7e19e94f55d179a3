package dev.llamajava.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamajava.ContextParams;
import dev.llamajava.Engine;
import dev.llamajava.EngineParams;
import dev.llamajava.GenerationParams;
import dev.llamajava.GenerationResult;
import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaModel;
import dev.llamajava.ModelParams;
import dev.llamajava.SamplerParams;
import dev.llamajava.TokenStream;
import dev.llamajava.bench.Bench.Stat;
import dev.llamajava.internal.Json;
import dev.llamajava.internal.RpcBackend;
import dev.llamajava.internal.Settings;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.ProcessBuilder.Redirect;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The RPC benchmark: one model local, then split across {@code --servers} llama.cpp {@code ggml-rpc-server} processes
 * on loopback ports, each behind a counting proxy, so that the bytes and round trips per token that would cross a real
 * network are measured rather than guessed. Streams pick their token in the graph where the output layer is remote (a
 * few candidates cross the wire, not the logits): greedy, and llama.cpp's default sampled chain; and, for comparison, the
 * sampled chain on the host (the whole logits row crosses). From the bytes and round trips it projects what a link of {@code --link-gbps} with {@code --rtt-us} of
 * round-trip latency would add to a token.
 *
 *
 * <p>With {@code --ahead-work-us}, it measures instead what decoding ahead ({@code llama.decode.ahead}) gives where
 * {@code llama_decode} returns before the device is done, as on a GPU: the model wholly on the servers, a greedy stream
 * whose caller spends the given µs of CPU work on each token (a server encoding and writing it, say), decoding ahead
 * off and on in alternating order, each round; generation speed and the paired ratio with its interval.
 *
 * <p>With {@code --engine-streams N}, it runs N concurrent greedy streams through an {@link Engine} over the servers instead,
 * each slot sampling in the graph (the default there) against sampling on the host ({@code llama.sampling.backend=off}:
 * each stream's logits row crosses every step), a new engine for each side, alternating, each round: generation speed
 * of all streams and bytes per generated token on the wire.
 *
 * <p>{@code --servers 0} runs those two on this machine instead, every layer on its GPU (for {@code ci/gpu-check}).
 *
 * <pre>RpcBench [--model PATH | --synthetic Q4_K_M|tiny] [--threads 2] [--servers 2] [--pp 64] [--tg 32] [--rounds 3]
 *          --rpc-server ggml-rpc-server [--link-gbps 10] [--rtt-us 50] [--ahead-work-us 0,100] [--json F] [--markdown F]</pre>
 */
@Command(name = "rpc-bench", mixinStandardHelpOptions = true, description = "Local vs split across RPC servers, with the bytes on the wire.")
public final class RpcBench implements Callable<Integer> {

    @Mixin
    SyntheticOptions opts = new SyntheticOptions();
    @Option(names = "--servers", defaultValue = "2", description = "rpc-server processes (default: ${DEFAULT-VALUE}).")
    int servers = 2;
    @Option(names = "--pp", defaultValue = "64", description = "Prompt tokens (default: ${DEFAULT-VALUE}).")
    int pp = 64;
    @Option(names = "--tg", defaultValue = "32", description = "Generated tokens after the first (default: ${DEFAULT-VALUE}).")
    int tg = 32;
    @Option(names = "--rounds", defaultValue = "3", description = "Rounds, local and split alternating (default: ${DEFAULT-VALUE}).")
    int rounds = 3;
    @Option(names = "--rpc-server", description = "llama.cpp's ggml-rpc-server of the same build (needed unless --servers 0).")
    Path rpcServer;
    @Option(names = "--link-gbps", defaultValue = "10", description = "Link speed of the projection, Gbit/s (default: ${DEFAULT-VALUE}).")
    double linkGbps = 10;
    @Option(names = "--rtt-us", defaultValue = "50", description = "Round-trip time of the projection, µs (default: ${DEFAULT-VALUE}).")
    double rttUs = 50;
    @Option(names = "--engine-streams", description = "Measure an Engine's slots sampling in the graph vs on the host instead, with this many streams.")
    int engineStreams;
    @Option(names = "--ahead-work-us", split = ",", description = "Measure decoding ahead instead, with a caller spending these µs per token.")
    List<Integer> aheadWorkUs = List.of();

    /** @param args see the class comment */
    public static void main(String[] args) {
        System.exit(new CommandLine(new RpcBench()).execute(args));
    }

    /** Bytes and turns (a reply after a request: one synchronous round trip) through one proxied connection set. */
    static final class Counters {
        final AtomicLong up = new AtomicLong();
        final AtomicLong down = new AtomicLong();
        final AtomicLong turns = new AtomicLong();
        volatile boolean lastUp;

        long[] snapshot() {
            return new long[]{up.get(), down.get(), turns.get()};
        }
    }

    /** A loopback proxy in front of one rpc-server that counts what crosses it. */
    static final class Proxy implements AutoCloseable {
        final ServerSocket listen;
        final Counters counters = new Counters();

        Proxy(int targetPort) throws IOException {
            listen = new ServerSocket(0, 4, InetAddress.getLoopbackAddress());
            Thread.ofPlatform().daemon().name("rpc-proxy").start(() -> {
                while (!listen.isClosed()) {
                    try {
                        Socket client = listen.accept();
                        Socket server = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                        client.setTcpNoDelay(true);
                        server.setTcpNoDelay(true);
                        pump(client, server, true);
                        pump(server, client, false);
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        private void pump(Socket from, Socket to, boolean upstream) {
            Thread.ofPlatform().daemon().start(() -> {
                byte[] buf = new byte[1 << 16];
                try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                    for (int n; (n = in.read(buf)) > 0; ) {
                        if (upstream) {
                            counters.up.addAndGet(n);
                            counters.lastUp = true;
                        } else {
                            counters.down.addAndGet(n);
                            if (counters.lastUp) counters.turns.incrementAndGet();
                            counters.lastUp = false;
                        }
                        out.write(buf, 0, n);
                    }
                } catch (IOException ignored) {
                    // a side closed: the other pump ends too
                } finally {
                    try {
                        from.close();
                        to.close();
                    } catch (IOException ignored) {
                        // closing
                    }
                }
            });
        }

        String endpoint() {
            return "127.0.0.1:" + listen.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            listen.close();
        }
    }

    /** One measured run: speeds, and the traffic per prompt and per generated token. */
    record Run(double ppTs, double tgTs, double[] promptTraffic, double[] tokenTraffic) { }

    @Override
    public Integer call() throws Exception {
        if (servers < 0 || (servers > 0 && rpcServer == null)) throw new IllegalArgumentException("--rpc-server is needed for --servers " + servers);
        if (servers == 0 && aheadWorkUs.isEmpty() && engineStreams == 0) {
            throw new IllegalArgumentException("--servers 0 (the model on this machine's GPU) only with --ahead-work-us or --engine-streams");
        }
        Path file = opts.file();
        List<Process> procs = new ArrayList<>();
        List<Proxy> proxies = new ArrayList<>();
        List<String> direct = new ArrayList<>();
        try {
            for (int i = 0; i < servers; i++) {
                int port;
                try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                    port = s.getLocalPort();
                }
                ProcessBuilder pb = new ProcessBuilder(rpcServer.toString(), "-H", "127.0.0.1", "-p", Integer.toString(port), "-t",
                        Integer.toString(opts.threads)).redirectErrorStream(true).redirectOutput(Redirect.DISCARD);
                // the servers share this machine's cores with each other and with us: OpenMP threads that spin after their
                // part of the graph would slow the next server's part (separate machines have no such contention)
                pb.environment().put("OMP_WAIT_POLICY", "passive");
                procs.add(pb.start());
                waitFor("127.0.0.1:" + port);
                direct.add("127.0.0.1:" + port);
                proxies.add(new Proxy(port));
            }
            List<String> endpoints = proxies.stream().map(Proxy::endpoint).toList();
            // decoding ahead is timed on direct connections: the proxy's threads would add their wake-ups to every message
            if (engineStreams > 0) return measureEngine(file, endpoints, proxies);
            return aheadWorkUs.isEmpty() ? measure(file, endpoints, proxies) : measureAhead(file, direct);
        } finally {
            for (Proxy p : proxies) p.close();
            procs.forEach(Process::destroyForcibly);
        }
    }

    private static void waitFor(String endpoint) throws InterruptedException {
        for (int i = 0; ; i++) {
            try {
                RpcBackend.handshake(endpoint, 2000);
                return;
            } catch (RuntimeException e) {
                if (i > 300) throw e;
                Thread.sleep(100);
            }
        }
    }

    private int measure(Path file, List<String> endpoints, List<Proxy> proxies) throws IOException {
        String[] modes = {"local", "rpc greedy (picked in the graph)", "rpc sampled (default chain, in the graph)",
                "rpc sampled on the host (the logits cross)"};
        Map<String, double[][]> speeds = new LinkedHashMap<>();
        Map<String, double[]> traffic = new LinkedHashMap<>();
        for (String m : modes) speeds.put(m, new double[2][rounds]);
        long loadUp;
        ContextParams cp = ContextParams.builder().contextSize(pp + tg + 8).threads(opts.threads).threadsBatch(opts.threads).build();
        try (LlamaModel local = LlamaModel.load(file, ModelParams.builder().gpuLayers(0).build())) {
            long[] before = total(proxies);
            try (LlamaModel remote = LlamaModel.load(file, ModelParams.builder().rpcServers(endpoints).build());
                 LlamaContext lc = LlamaContext.create(local, cp);
                 LlamaContext rc = LlamaContext.create(remote, cp)) {
                loadUp = total(proxies)[0] - before[0];
                System.out.printf(Locale.ROOT, "%s: %d layers over %d servers; the load sent %.1f MB; RPC weight buffers %s%n",
                        file.getFileName(), remote.layerCount(), endpoints.size(), loadUp / 1e6, remote.weightBuffers());
                SplittableRandom rnd = new SplittableRandom(1);
                int[] prompt = rnd.ints(pp, 0, local.vocabSize()).toArray();
                GenerationParams greedy = GenerationParams.builder().greedy().ignoreEos(true).maxTokens(tg + 1).addSpecial(false).build();
                GenerationParams sampled = GenerationParams.builder().sampler(SamplerParams.builder().seed(1).build()).ignoreEos(true)
                        .maxTokens(tg + 1).addSpecial(false).build();
                for (LlamaContext c : List.of(lc, rc)) run(c, prompt, greedy, proxies); // warm-up
                for (int r = 0; r < rounds; r++) {
                    Run[] runs = {run(lc, prompt, greedy, proxies), run(rc, prompt, greedy, proxies), run(rc, prompt, sampled, proxies),
                            hostSampled(rc, prompt, sampled, proxies)};
                    for (int i = 0; i < modes.length; i++) {
                        speeds.get(modes[i])[0][r] = runs[i].ppTs();
                        speeds.get(modes[i])[1][r] = runs[i].tgTs();
                        if (r == 0) {
                            traffic.put(modes[i] + "/prompt", runs[i].promptTraffic());
                            traffic.put(modes[i] + "/token", runs[i].tokenTraffic());
                        }
                        System.out.printf(Locale.ROOT, "round %d, %s: prompt %.1f t/s, generation %.2f t/s%n", r + 1, modes[i],
                                runs[i].ppTs(), runs[i].tgTs());
                    }
                }
            }
        }
        double bytesPerSecond = linkGbps * 1e9 / 8;
        StringBuilder md = new StringBuilder(String.format(Locale.ROOT,
                "| mode | prompt t/s | generation t/s | bytes up / down per generated token | round trips per token "
                        + "| per prompt (%d tokens): up / down / round trips | projected generation t/s at %.0f Gbit/s, %.0f µs RTT |%n"
                        + "|---|---|---|---|---|---|---|%n", pp, linkGbps, rttUs));
        ObjectNode root = Json.object().put("model", file.getFileName().toString()).put("threads", opts.threads).put("servers", servers)
                .put("pp", pp).put("tg", tg).put("rounds", rounds).put("load_bytes_sent", loadUp).put("link_gbps", linkGbps).put("rtt_us", rttUs);
        double localTg = Stat.of(speeds.get(modes[0])[1]).median();
        for (String m : modes) {
            Stat spp = Stat.of(speeds.get(m)[0]), stg = Stat.of(speeds.get(m)[1]);
            double[] tok = traffic.get(m + "/token"), pr = traffic.get(m + "/prompt");
            // on two real machines each computes its own layers, so the compute per token stays the local one; the wire adds
            // its bytes at the link's speed and one RTT per synchronous round trip
            double projected = m.equals(modes[0]) ? localTg : 1.0 / (1.0 / localTg + (tok[0] + tok[1]) / bytesPerSecond + tok[2] * rttUs / 1e6);
            md.append(String.format(Locale.ROOT, "| %s | %.1f | %.2f | %.0f / %.0f | %.1f | %.0f / %.0f / %.0f | %s |%n", m, spp.median(), stg.median(),
                    tok[0], tok[1], tok[2], pr[0], pr[1], pr[2], m.equals(modes[0]) ? "(local)" : String.format(Locale.ROOT, "%.2f", projected)));
            ObjectNode o = root.putObject(m).put("prompt_tps", spp.median()).put("generation_tps", stg.median())
                    .put("bytes_up_per_token", tok[0]).put("bytes_down_per_token", tok[1]).put("round_trips_per_token", tok[2])
                    .put("prompt_bytes_up", pr[0]).put("prompt_bytes_down", pr[1]).put("prompt_round_trips", pr[2]);
            if (!m.equals(modes[0])) o.put("projected_generation_tps", projected);
            o.set("rounds", Json.MAPPER.valueToTree(Map.of("prompt_tps", speeds.get(m)[0], "generation_tps", speeds.get(m)[1])));
        }
        report(md.toString(), "rpc", root);
        return 0;
    }

    /** @return the servers' devices, or with none this machine's GPU, every layer on it */
    private static ModelParams device(List<String> endpoints) {
        return endpoints.isEmpty() ? ModelParams.builder().gpuLayers(-1).build() : ModelParams.builder().rpcServers(endpoints).build();
    }

    /** An engine's slots sampling in the graph vs on the host: see the class comment. */
    private int measureEngine(Path file, List<String> endpoints, List<Proxy> proxies) throws Exception {
        String saved = System.getProperty(Settings.BACKEND_SAMPLING.property());
        String[] modes = {"host", "graph"};
        double[][] tps = new double[2][rounds], bytes = new double[2][rounds];
        ContextParams cp = ContextParams.builder().threads(opts.threads).threadsBatch(opts.threads).build();
        EngineParams ep = EngineParams.builder().slots(engineStreams).slotContext(pp + tg + 1).context(cp).build();
        long graphTokens = 0;
        try (LlamaModel m = LlamaModel.load(file, device(endpoints))) {
            Random rnd = new Random(1);
            for (int r = -1; r < rounds; r++) { // round -1: a warm-up of both sides
                for (int k = 0; k < 2; k++) {
                    int mode = (Math.max(r, 0) + k) % 2;
                    System.setProperty(Settings.BACKEND_SAMPLING.property(), mode == 1 ? "on" : "off");
                    try (Engine e = Engine.create(m, ep)) {
                        long[] before = total(proxies);
                        ParallelBench.Point p = ParallelBench.measure(e, rnd, engineStreams, pp, tg);
                        long[] after = total(proxies);
                        Engine.Stats st = e.stats();
                        if (r < 0) continue;
                        tps[mode][r] = p.tg();
                        bytes[mode][r] = (double) (after[0] + after[1] - before[0] - before[1]) / st.generatedTokens();
                        if (mode == 1) graphTokens += st.graphSampledTokens();
                        System.out.printf(Locale.ROOT, "round %d, %s: generation %.1f t/s (all streams), %.0f bytes a generated token, "
                                + "%d tokens picked in the graph%n", r + 1, modes[mode], tps[mode][r], bytes[mode][r], st.graphSampledTokens());
                    }
                }
            }
        } finally {
            restore(Settings.BACKEND_SAMPLING.property(), saved);
        }
        Stat host = Stat.of(tps[0]), graph = Stat.of(tps[1]);
        Bench.Ratio ratio = Bench.Ratio.of(tps[1], tps[0]);
        String md = String.format(Locale.ROOT, "| sampling | generation t/s, %d streams | bytes on the wire a generated token |%n|---|---|---|%n"
                        + "| on the host (logits cross) | %.1f (%.1f-%.1f) | %.0f |%n| in the graph | %.1f (%.1f-%.1f) | %.0f |%n"
                        + "| ratio, graph / host | %.3f [%.3f-%.3f] | |%n", engineStreams, host.median(), host.min(), host.max(),
                Stat.of(bytes[0]).median(), graph.median(), graph.min(), graph.max(), Stat.of(bytes[1]).median(), ratio.median(), ratio.low(), ratio.high());
        ObjectNode root = Json.object().put("model", file.getFileName().toString()).put("servers", servers).put("server_threads", opts.threads)
                .put("streams", engineStreams).put("pp", pp).put("tg", tg).put("rounds", rounds)
                .put("host_tps", host.median()).put("graph_tps", graph.median()).put("ratio", ratio.median()).put("ratio_low", ratio.low())
                .put("ratio_high", ratio.high()).put("host_bytes_per_token", Stat.of(bytes[0]).median())
                .put("graph_bytes_per_token", Stat.of(bytes[1]).median()).put("graph_sampled_tokens", graphTokens);
        root.set("rounds", Json.MAPPER.valueToTree(Map.of("host_tps", tps[0], "graph_tps", tps[1], "host_bytes", bytes[0], "graph_bytes", bytes[1])));
        report(md, "engine_rpc", root);
        return 0;
    }

    /** Decoding ahead off and on, for each caller's work per token: see the class comment. */
    private int measureAhead(Path file, List<String> endpoints) throws IOException {
        String saved = System.getProperty(Settings.DECODE_AHEAD.property());
        ContextParams cp = ContextParams.builder().contextSize(pp + tg + 8).threads(opts.threads).threadsBatch(opts.threads).build();
        StringBuilder md = new StringBuilder(String.format(Locale.ROOT, "| caller's work µs/token | generation t/s, lazy | generation t/s, ahead "
                + "| ratio [interval] | llama_decode returns after µs (lazy) |%n|---|---|---|---|---|%n"));
        ObjectNode root = Json.object().put("model", file.getFileName().toString()).put("servers", servers).put("server_threads", opts.threads)
                .put("pp", pp).put("tg", tg).put("rounds", rounds);
        try (LlamaModel m = LlamaModel.load(file, device(endpoints));
             LlamaContext ctx = LlamaContext.create(m, cp)) {
            int[] prompt = new SplittableRandom(1).ints(pp, 0, m.vocabSize()).toArray();
            GenerationParams greedy = GenerationParams.builder().greedy().ignoreEos(true).maxTokens(tg + 1).addSpecial(false).build();
            for (int w : aheadWorkUs) {
                double[][] tps = new double[2][rounds];
                double[] decodeUs = new double[rounds];
                for (int warm = 0; warm < 2; warm++) {
                    for (int mode = 0; mode < 2; mode++) aheadRun(ctx, prompt, greedy, mode == 1, w);
                }
                for (int r = 0; r < rounds; r++) {
                    for (int k = 0; k < 2; k++) {
                        int mode = (r + k) % 2; // who goes first alternates
                        GenerationResult g = aheadRun(ctx, prompt, greedy, mode == 1, w);
                        tps[mode][r] = g.generationTokensPerSecond();
                        if (mode == 0) decodeUs[r] = g.decodeNanos() / 1e3 / g.generatedTokens();
                    }
                    System.out.printf(Locale.ROOT, "caller %d µs/token, round %d: lazy %.1f t/s, ahead %.1f t/s%n", w, r + 1, tps[0][r], tps[1][r]);
                }
                Stat lazy = Stat.of(tps[0]), ahead = Stat.of(tps[1]);
                Bench.Ratio ratio = Bench.Ratio.of(tps[1], tps[0]);
                md.append(String.format(Locale.ROOT, "| %d | %.1f (%.1f-%.1f) | %.1f (%.1f-%.1f) | %.3f [%.3f-%.3f] | %.0f |%n", w, lazy.median(), lazy.min(),
                        lazy.max(), ahead.median(), ahead.min(), ahead.max(), ratio.median(), ratio.low(), ratio.high(), Stat.of(decodeUs).median()));
                ObjectNode o = root.putObject("caller_work_us_" + w).put("lazy_tps", lazy.median()).put("ahead_tps", ahead.median())
                        .put("ratio", ratio.median()).put("ratio_low", ratio.low()).put("ratio_high", ratio.high()).put("confidence", ratio.confidence())
                        .put("decode_returns_after_us", Stat.of(decodeUs).median());
                o.set("rounds", Json.MAPPER.valueToTree(Map.of("lazy_tps", tps[0], "ahead_tps", tps[1])));
            }
        } finally {
            restore(Settings.DECODE_AHEAD.property(), saved);
        }
        report(md.toString(), "decode_ahead", root);
        return 0;
    }

    /**
     * One greedy generation whose caller spins {@code workUs} on each token.
     *
     * @return the stream's result (its generation speed counts from the first token to the last, the caller's work included)
     */
    private GenerationResult aheadRun(LlamaContext ctx, int[] prompt, GenerationParams gp, boolean ahead, int workUs) {
        System.setProperty(Settings.DECODE_AHEAD.property(), ahead ? "on" : "off");
        try (TokenStream s = ctx.generate(prompt, gp)) {
            while (s.hasNext()) {
                s.next();
                long until = System.nanoTime() + workUs * 1000L;
                while (System.nanoTime() < until) Thread.onSpinWait();
            }
            GenerationResult r = s.result();
            if (r.generatedTokens() != tg + 1) throw new IllegalStateException("generated " + r.generatedTokens() + " tokens, not " + (tg + 1));
            return r;
        }
    }

    /** Prints the table, and writes it and the JSON (under {@code key}) where the options ask. */
    private void report(String md, String key, ObjectNode root) throws IOException {
        System.out.println();
        System.out.print(md);
        if (opts.markdown != null) Files.writeString(opts.markdown, md);
        if (opts.json != null) Files.writeString(opts.json, Json.pretty(Json.object().set(key, root)) + "\n");
    }

    /** Puts a system property back as it was before a measurement changed it ({@code saved} null: it was unset). */
    private static void restore(String property, String saved) {
        if (saved == null) System.clearProperty(property);
        else System.setProperty(property, saved);
    }

    private static long[] total(List<Proxy> proxies) {
        long[] t = new long[3];
        for (Proxy p : proxies) {
            long[] s = p.counters.snapshot();
            for (int i = 0; i < 3; i++) t[i] += s[i];
        }
        return t;
    }

    /** {@link #run} with sampling in the graph switched off ({@code llama.sampling.backend=off}). */
    private Run hostSampled(LlamaContext ctx, int[] prompt, GenerationParams gp, List<Proxy> proxies) {
        String saved = System.getProperty(Settings.BACKEND_SAMPLING.property());
        System.setProperty(Settings.BACKEND_SAMPLING.property(), "off");
        try {
            return run(ctx, prompt, gp, proxies);
        } finally {
            restore(Settings.BACKEND_SAMPLING.property(), saved);
        }
    }

    /** One generation: the prompt's traffic until the first token, then the generated tokens' traffic per token. */
    private Run run(LlamaContext ctx, int[] prompt, GenerationParams gp, List<Proxy> proxies) {
        long[] t0 = total(proxies);
        long[] t1 = null;
        GenerationResult r;
        try (TokenStream s = ctx.generate(prompt, gp)) {
            int n = 0;
            while (s.hasNext()) {
                s.next();
                if (n++ == 0) t1 = total(proxies);
            }
            r = s.result();
        }
        long[] t2 = total(proxies);
        if (r.generatedTokens() != tg + 1) throw new IllegalStateException("generated " + r.generatedTokens() + " tokens, not " + (tg + 1));
        double[] prompt3 = new double[3], token3 = new double[3];
        for (int i = 0; i < 3; i++) {
            prompt3[i] = t1[i] - t0[i];
            token3[i] = (t2[i] - t1[i]) / (double) tg;
        }
        return new Run(r.promptTokensPerSecond(), r.generationTokensPerSecond(), prompt3, token3);
    }
}
