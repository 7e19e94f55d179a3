package dev.llamajava.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamajava.internal.Json;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A load generator for OpenAI-compatible servers: {@code --clients} concurrent clients, each sending
 * {@code --requests} streamed {@code /v1/completions} requests one after another (fixed prompts, fixed
 * {@code max_tokens}, greedy, {@code ignore_eos}), measuring aggregate generated tokens/s, time to first token and
 * the gaps between tokens, and errors. The same generator runs against both servers ({@code ci/load}).
 *
 * <pre>LoadBench --url http://127.0.0.1:8080 --label NAME [--clients 1,4,8] [--requests 2] [--max-tokens 32]
 *           [--json F]   (appends this run's points to F, a JSON array)</pre>
 */
@Command(name = "load-bench", mixinStandardHelpOptions = true, description = "Load an OpenAI-compatible server.")
public final class LoadBench implements Callable<Integer> {

    @Option(names = "--url", required = true, description = "The server's base URL (without /v1).")
    String url;
    @Option(names = "--label", required = true, description = "A name for the server in the results.")
    String label;
    @Option(names = "--clients", defaultValue = "1,4,8", split = ",", description = "Concurrent clients (default: ${DEFAULT-VALUE}).")
    int[] clients = {1, 4, 8};
    @Option(names = "--requests", defaultValue = "2", description = "Requests per client (default: ${DEFAULT-VALUE}).")
    int requests = 2;
    @Option(names = "--max-tokens", defaultValue = "32", description = "max_tokens (default: ${DEFAULT-VALUE}).")
    int maxTokens = 32;
    @Option(names = "--model", defaultValue = "model", description = "The model field sent (default: ${DEFAULT-VALUE}).")
    String model = "model";
    @Option(names = "--json", description = "Append the points to this JSON array file.")
    Path json;

    /** The prompts, one per client (cycled): fixed, a few dozen tokens each. */
    static final List<String> PROMPTS = List.of(
            "Write a short story about a robot who learns to paint. It begins on a rainy morning in a small town,",
            "Explain to a child why the sky is blue, using simple words and one example from everyday life, then",
            "List the steps to bake bread at home: the flour, the water, the yeast, the salt, the kneading, and",
            "Describe a walk through a forest in autumn: the colours of the leaves, the sounds, the smell of rain,",
            "A letter to a friend who moved to another country, telling them about the new cafe on the corner and",
            "Summarise the rules of chess for a beginner: how each piece moves, what check means, and how to win,",
            "The history of the bicycle in five sentences, from the first wooden machines to the racing bikes of",
            "A recipe for a vegetable soup for four people, with the quantities, the order of the steps, and the");

    /** One request's measurements. */
    record Sample(long ttftNanos, List<Long> gaps, int tokens, long endNanos, String error) { }

    /**
     * @param args see the class comment
     */
    public static void main(String[] args) {
        System.exit(new CommandLine(new LoadBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        ArrayNode out = json != null && Files.exists(json) ? (ArrayNode) Json.parse(Files.readString(json)) : Json.MAPPER.createArrayNode();
        for (int w = 0; w < 4; w++) one(http, w, 0); // warm-up: the JIT compiles the server's path before anything is measured
        for (int n : clients) {
            long t0 = System.nanoTime();
            List<Sample> samples = new ArrayList<>();
            try (ExecutorService ex = Executors.newVirtualThreadPerTaskExecutor()) {
                List<Future<List<Sample>>> fs = new ArrayList<>();
                for (int c = 0; c < n; c++) {
                    int client = c;
                    fs.add(ex.submit(() -> {
                        List<Sample> mine = new ArrayList<>();
                        for (int r = 0; r < requests; r++) mine.add(one(http, client, r));
                        return mine;
                    }));
                }
                for (Future<List<Sample>> f : fs) samples.addAll(f.get(60, TimeUnit.MINUTES));
            }
            long end = samples.stream().mapToLong(Sample::endNanos).max().orElse(t0);
            double seconds = (end - t0) / 1e9;
            int tokens = samples.stream().mapToInt(Sample::tokens).sum();
            long errors = samples.stream().filter(s -> s.error() != null).count();
            double[] ttft = samples.stream().filter(s -> s.error() == null).mapToDouble(s -> s.ttftNanos() / 1e6).sorted().toArray();
            double[] gaps = samples.stream().flatMap(s -> s.gaps().stream()).mapToDouble(g -> g / 1e6).sorted().toArray();
            ObjectNode p = out.addObject().put("server", label).put("clients", n).put("requests", samples.size())
                    .put("max_tokens", maxTokens).put("tokens", tokens).put("seconds", seconds).put("tokens_per_second", tokens / seconds)
                    .put("ttft_p50_ms", Bench.percentile(ttft, 0.5)).put("ttft_p99_ms", Bench.percentile(ttft, 0.99)).put("itl_p50_ms", Bench.percentile(gaps, 0.5))
                    .put("errors", errors);
            samples.stream().filter(s -> s.error() != null).limit(3).forEach(s -> p.withArray("error_samples").add(s.error()));
            System.out.printf(Locale.ROOT, "%s, %d clients: %.2f tokens/s, TTFT p50 %.0f ms p99 %.0f ms, ITL p50 %.1f ms, %d errors%n",
                    label, n, tokens / seconds, Bench.percentile(ttft, 0.5), Bench.percentile(ttft, 0.99), Bench.percentile(gaps, 0.5), errors);
        }
        if (json != null) Files.writeString(json, Json.pretty(out) + "\n");
        return 0;
    }


    /** One streamed completion. */
    private Sample one(HttpClient http, int client, int r) {
        ObjectNode body = Json.object().put("model", model).put("prompt", PROMPTS.get(client % PROMPTS.size())).put("max_tokens", maxTokens)
                .put("temperature", 0).put("stream", true).put("ignore_eos", true);
        body.putObject("stream_options").put("include_usage", true);
        HttpRequest req = HttpRequest.newBuilder(URI.create(url + "/v1/completions")).header("Content-Type", "application/json")
                .timeout(Duration.ofMinutes(30)).POST(HttpRequest.BodyPublishers.ofString(Json.write(body))).build();
        long t0 = System.nanoTime();
        long first = 0, last = 0;
        List<Long> gaps = new ArrayList<>();
        int chunks = 0, usage = -1;
        try {
            HttpResponse<Stream<String>> res = http.send(req, HttpResponse.BodyHandlers.ofLines());
            if (res.statusCode() != 200) {
                String text = String.join("\n", res.body().toList());
                return new Sample(0, List.of(), 0, System.nanoTime(), "HTTP " + res.statusCode() + ": " + text);
            }
            for (String line : (Iterable<String>) res.body()::iterator) {
                if (!line.startsWith("data: ")) continue;
                String data = line.substring(6).trim();
                if (data.equals("[DONE]")) break;
                JsonNode n = Json.parse(data);
                if (n.path("usage").has("completion_tokens")) usage = n.path("usage").path("completion_tokens").asInt();
                JsonNode choices = n.path("choices");
                if (choices.isEmpty()) continue;
                if (choices.get(0).path("text").asText("").isEmpty()) continue;
                long now = System.nanoTime();
                if (first == 0) first = now;
                else gaps.add(now - last);
                last = now;
                chunks++;
            }
            return new Sample(first == 0 ? 0 : first - t0, gaps, usage >= 0 ? usage : chunks, System.nanoTime(), null);
        } catch (Exception e) {
            return new Sample(0, List.of(), 0, System.nanoTime(), e.toString());
        }
    }

    /** @return the two servers' points side by side as markdown, with the ratio of tokens/s */
    static String table(JsonNode points, String ours, String theirs) {
        StringBuilder sb = new StringBuilder("| clients | server | tokens/s | ratio | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | errors |\n|---|---|---|---|---|---|---|---|\n");
        List<JsonNode> all = new ArrayList<>();
        points.forEach(all::add);
        int[] ns = all.stream().mapToInt(p -> p.path("clients").asInt()).distinct().sorted().toArray();
        for (int n : ns) {
            JsonNode o = find(all, ours, n), t = find(all, theirs, n);
            for (JsonNode p : Arrays.asList(o, t)) {
                if (p == null) continue;
                double ratio = o != null && t != null ? p.path("tokens_per_second").asDouble() / t.path("tokens_per_second").asDouble() : Double.NaN;
                sb.append(String.format(Locale.ROOT, "| %d | %s | %.2f | %s | %.0f | %.0f | %.1f | %d |%n", n, p.path("server").asText(),
                        p.path("tokens_per_second").asDouble(), p == o ? String.format(Locale.ROOT, "%.3f", ratio) : "1", p.path("ttft_p50_ms").asDouble(),
                        p.path("ttft_p99_ms").asDouble(), p.path("itl_p50_ms").asDouble(), p.path("errors").asInt()));
            }
        }
        return sb.toString();
    }

    private static JsonNode find(List<JsonNode> all, String server, int n) {
        return all.stream().filter(p -> p.path("server").asText().equals(server) && p.path("clients").asInt() == n).findFirst().orElse(null);
    }

    /** Writes the markdown table of a results file: {@code LoadBench$Table FILE OURS THEIRS OUT.md}. */
    public static final class Table {
        private Table() { }

        /**
         * @param args the JSON file, our label, their label, the markdown file
         * @throws Exception when a file cannot be read or written
         */
        public static void main(String[] args) throws Exception {
            String md = table(Json.parse(Files.readString(Path.of(args[0]))), args[1], args[2]);
            System.out.print(md);
            Files.writeString(Path.of(args[3]), md);
        }
    }
}
