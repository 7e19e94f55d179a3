package dev.llamajava.cli;

import dev.llamajava.SyntheticModels;
import dev.llamajava.TestSupport;
import dev.llamajava.gguf.GgufFile;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each subcommand's happy path and its one-line errors, in-process. */
class CliTest {

    static final ObjectMapper JSON = new ObjectMapper();

    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream savedOut;
    PrintStream savedErr;
    InputStream savedIn;

    @BeforeEach
    void capture() {
        savedOut = Main.out;
        savedErr = Main.err;
        savedIn = System.in;
        Main.out = new PrintStream(out, true, StandardCharsets.UTF_8);
        Main.err = new PrintStream(err, true, StandardCharsets.UTF_8);
    }

    @AfterEach
    void restore() {
        Main.out = savedOut;
        Main.err = savedErr;
        System.setIn(savedIn);
    }

    int run(String... args) {
        out.reset();
        err.reset();
        return Main.execute(args);
    }

    /** Runs a command line that must succeed (its stderr is the failure message). */
    void ok(String... args) {
        assertEquals(0, run(args), this::err);
    }

    String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    static String stories() {
        return TestSupport.stories260K().toString();
    }

    @Test
    void info() {
        ok("info", stories());
        assertTrue(out().contains("architecture       llama\n"), out());
        assertTrue(out().contains("parameters         292,800 (0.00 B)\n"), out());
        assertTrue(out().contains("vocabulary         512 tokens (llama)\n"), out());
        assertEquals(1, run("info", "/nonexistent/model.gguf"));
        assertEquals("llama-java: error: no such file: /nonexistent/model.gguf\n", err());
    }

    @Test
    void infoOfANonGgufFile() throws Exception {
        Path f = TestSupport.workDir("cli").resolve("notes.txt");
        Files.writeString(f, "just some text, not a model");
        assertEquals(1, run("info", f.toString()));
        assertEquals("llama-java: error: " + f + " is not a valid GGUF file: not a GGUF file: magic 0x7473756a, expected 0x46554747 (\"GGUF\") (at byte 0)\n", err());
        assertEquals(1, run("run", "-m", f.toString(), "-p", "x"));
        assertEquals("llama-java: error: Not a GGUF file (bad magic 0x6a757374, expected \"GGUF\"): " + f + "\n", err());
    }

    @Test
    void runGreedyEqualsLlamaSimple() throws Exception {
        var r = TestSupport.run(List.of(TestSupport.tool("llama-simple").toString(), "-m", stories(), "-n", "24", "Once upon a time"), null, null, 120);
        assertEquals(0, r.exit());
        ok("run", "-m", stories(), "--temp", "0", "-n", "24", "-p", "Once upon a time", "--ctx", "128");
        // llama-simple prints the prompt (with <s> rendered) then the completion; ours prints the completion
        assertTrue(r.stdout().endsWith(out()), "llama-simple: " + r.stdout() + "\nours: " + out());
        assertTrue(out().length() > 40, out());
        assertTrue(err().contains(" generated, "), err());
    }

    @Test
    void tuneWritesAProfileThatRunLoads() throws Exception {
        Path profile = TestSupport.workDir("cli").resolve("tune-profile.json");
        Files.deleteIfExists(profile);
        ok("bench", "-m", stories(), "--tune", "--pp", "16", "--tg", "4", "--inner", "1", "--threads", "2", "--write-profile", profile.toString());
        assertTrue(out().contains("| llama-bench, its defaults |") && out().contains("best: threads "), out());
        JsonNode p = JSON.readTree(profile.toFile());
        assertEquals("stories260K.gguf", p.get("model").asText());
        // the library's defaults first, then each setting's candidates: threads, threads-batch, ubatch, flash-attn, kv, load,
        // repack, huge pages
        JsonNode trials = p.get("trials");
        assertEquals("llama-java's defaults", trials.get(0).get("setting").asText());
        assertTrue(trials.size() >= 9, trials.toString()); // the micro-batches at or above the 16-token prompt are skipped
        assertTrue(trials.findValuesAsText("setting").contains("huge pages false"), trials.toString());
        assertTrue(p.get("profile").has("huge_pages"), p.toString());
        for (JsonNode t : trials) assertTrue(t.get("pp_tps").asDouble() > 0 && t.get("tg_tps").asDouble() > 0, t.toString());
        // each candidate met the incumbent back to back (4 rounds by default): the median of its paired ratios and the
        // worst, taken only at 2% by the median and better in every round
        assertTrue(trials.get(0).get("vs_incumbent").isNull(), trials.get(0).toString());
        for (int i = 1; i < trials.size(); i++) {
            JsonNode t = trials.get(i);
            double median = t.get("vs_incumbent").asDouble(), worst = t.get("worst_vs_incumbent").asDouble();
            assertTrue(worst > 0 && worst <= median, t.toString());
            assertEquals(median >= 1.02 && worst > 1, t.get("taken").asBoolean(), t.toString());
        }
        assertTrue(out().contains("each candidate against the incumbent in 4 rounds back to back"), out());
        // a micro-batch at or above the 16-token prompt is the incumbent's work: not measured
        assertTrue(out().contains("ubatch 256                   the same work as the incumbent for a 16-token prompt: skipped"), out());
        assertTrue(p.get("measured").get("llama_bench_tg_tps").asDouble() > 0, p.toString());
        // confirmed in --reps (6 by default) paired rounds, whose min..max covers the median gain with 1 - 2/64, and
        // judged against the 5% asked of the tuner
        JsonNode measured = p.get("measured");
        assertEquals(6, measured.get("rounds").asInt());
        assertEquals(1 - 2.0 / 64, measured.get("confidence").asDouble(), 1e-12);
        assertTrue(measured.get("tg_ratio_low").asDouble() <= measured.get("tg_ratio").asDouble()
                && measured.get("tg_ratio").asDouble() <= measured.get("tg_ratio_high").asDouble(), measured.toString());
        assertTrue(List.of("met", "missed", "undecided").contains(measured.get("pp_at_least_5_percent").asText()), measured.toString());
        assertTrue(out().contains("5% faster than llama-bench's defaults: prompt "), out());
        // the profile drives run: greedy text is the same whatever the settings (llama-simple's, as in runGreedyEqualsLlamaSimple)
        var r = TestSupport.run(List.of(TestSupport.tool("llama-simple").toString(), "-m", stories(), "-n", "24", "Once upon a time"), null, null, 120);
        ok("run", "-m", stories(), "--profile", profile.toString(), "--temp", "0", "-n", "24", "-p", "Once upon a time", "--ctx", "128");
        assertTrue(r.stdout().endsWith(out()), "llama-simple: " + r.stdout() + "\nours: " + out());
        Files.writeString(profile, "{\"threads\": 2}");
        assertEquals(1, run("run", "-m", stories(), "--profile", profile.toString(), "-p", "x"));
        assertTrue(err().contains("bad profile " + profile + ": no \"threads_batch\""), err());
    }

    @Test
    void runJsonParses() throws Exception {
        ok("run", "-m", stories(), "--temp", "0", "-n", "8", "-p", "Once upon a time", "--ctx", "128", "--json");
        List<String> lines = out().lines().toList();
        assertEquals(9, lines.size(), out());
        StringBuilder text = new StringBuilder();
        for (String l : lines.subList(0, 8)) {
            JsonNode t = JSON.readTree(l);
            assertTrue(t.get("id").isIntegralNumber(), l);
            assertTrue(t.get("logprob").isNumber(), l);
            text.append(t.get("text").asText());
        }
        JsonNode summary = JSON.readTree(lines.get(8)).get("summary");
        assertEquals(8, summary.get("generated_tokens").asInt());
        assertEquals("MAX_TOKENS", summary.get("stop_reason").asText());
        assertEquals(text.toString(), summary.get("text").asText());
    }

    @Test
    void runWithAJsonSchemaAndTopLogprobs() throws Exception {
        Path schema = Files.createTempFile("schema", ".json");
        Files.writeString(schema, """
                {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 99},
                 "ok": {"type": "boolean"}}, "required": ["n", "ok"], "additionalProperties": false}""");
        ok("run", "-m", stories(), "--temp", "0", "-n", "64", "-p", "Once upon a time", "--ctx", "256", "--json-schema", schema.toString());
        JsonNode v = JSON.readTree(out().strip());
        assertTrue(v.get("n").isInt() && v.get("ok").isBoolean() && v.size() == 2, out());
        ok("run", "-m", stories(), "--temp", "0", "-n", "4", "-p", "Once upon a time", "--ctx", "128", "--json", "--top-logprobs", "3");
        JsonNode first = JSON.readTree(out().lines().findFirst().orElseThrow());
        assertEquals(3, first.get("top_logprobs").size(), out());
        assertEquals(first.get("id").asInt(), first.get("top_logprobs").get(0).get("id").asInt(), "greedy takes the most probable");
        assertEquals(1, run("run", "-m", stories(), "-p", "x", "--json-schema", schema.resolveSibling("missing.json").toString()));
        assertTrue(err().contains("missing.json"), err());
    }

    @Test
    void classifyPrintsALabelPerText() throws Exception {
        ok("classify", "-m", stories(), "--ctx", "256", "--prefix", "Once upon a time, there was a little", "--labels", "girl,boy,dog",
                "--label-prefix", " ", "-t", " girl named Lily. She was a happy", "-t", " dog. The");
        List<String> lines = out().lines().toList();
        assertEquals(2, lines.size(), out());
        for (String l : lines) {
            JsonNode r = JSON.readTree(l);
            assertTrue(List.of("girl", "boy", "dog").contains(r.get("label").asText()), l);
            double sum = 0;
            for (JsonNode p : r.get("probabilities")) sum += p.asDouble();
            assertEquals(1.0, sum, 1e-6, l);
        }
        assertEquals(1, run("classify", "-m", stories(), "--labels", "only", "-t", "x"));
        assertTrue(err().contains("at least two labels"), err());
    }

    @Test
    void runReadsStdinAndRejectsBadArguments() {
        System.setIn(new ByteArrayInputStream("The little dog".getBytes(StandardCharsets.UTF_8)));
        ok("run", "-m", stories(), "--temp", "0", "-n", "4", "--ctx", "64");
        assertTrue(!out().isBlank());
        assertEquals(2, run("run", "--max-tokens", "many"));
        assertTrue(err().startsWith("Invalid value for option '--max-tokens'"), err());
        assertEquals(1, run("run", "-m", "/nonexistent.gguf", "-p", "x"));
        assertEquals("llama-java: error: model file not found: /nonexistent.gguf\n", err());
        assertEquals(2, run("frobnicate"));
        assertTrue(err().startsWith("Unmatched argument at index 0: 'frobnicate'"), err());
    }

    @Test
    void chatFromAPipe() throws Exception {
        Path state = TestSupport.workDir("cli").resolve("chat.state");
        System.setIn(new ByteArrayInputStream(("Once upon a time\n/save " + state + "\n/reset\n/load " + state + "\nThe end\n")
                .getBytes(StandardCharsets.UTF_8)));
        ok("chat", "-m", stories(), "--template", "chatml", "--temp", "0", "-n", "6", "--ctx", "512");
        assertEquals(2, out().lines().count(), out());
        assertTrue(err().contains("[saved 2 messages]"), err());
        assertTrue(err().contains("[conversation reset]"), err());
        assertTrue(err().contains("[loaded 2 messages]"), err());
    }

    @Test
    void quantizeAndSelect() throws Exception {
        Path dir = TestSupport.workDir("cli-quant");
        Path f16 = dir.resolve("tiny-F16.gguf");
        TestSupport.writeTinyModel(f16, 5);
        Path q8 = dir.resolve("tiny-Q8_0.gguf");
        ok("quantize", f16.toString(), q8.toString(), "Q8_0");
        assertEquals("Q8_0", GgufFile.read(q8).fileTypeName());
        assertEquals(1, run("quantize", f16.toString(), dir.resolve("x.gguf").toString(), "Q9_X"));
        assertTrue(err().startsWith("llama-java: error: unknown quantization type 'Q9_X'; known: [F32, F16,"), err());
        ok("select", dir.toString(), "--budget", "8G", "--ctx", "2048");
        assertTrue(out().contains("F16 ") && out().contains("<- chosen"), out());
        assertEquals(1, run("select", dir.toString(), "--budget", "1M"));
        assertTrue(out().contains("no variant fits the budget"), out());
    }

    @Test
    void benchAtTinySizes() throws Exception {
        Path dir = TestSupport.workDir("cli-bench");
        Path f16 = dir.resolve("tiny-F16.gguf");
        TestSupport.writeTinyModel(f16, 9);
        Path json = dir.resolve("bench.json");
        ok("bench", "-m", f16.toString(), "--pp", "16", "--tg", "4", "--reps", "1", "--compare-native",
                TestSupport.tool("llama-bench").toString(), "--json", json.toString());
        assertTrue(out().contains("| hardware | backend | model | quant |"), out());
        JsonNode results = JSON.readTree(json.toFile()).get("results");
        assertTrue(results.isArray() && results.size() == 1, results.toString());
        assertEquals("F16", results.get(0).get("quant").asText());
    }

    @Test
    void pullFromALocalHub() throws Exception {
        byte[] body = new byte[100_000];
        for (int i = 0; i < body.length; i++) body[i] = (byte) (i * 7);
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(body));
        String commit = "c0ffee".repeat(6) + "c0ff"; // 40 hexadecimal characters
        byte[] revision = JSON.writeValueAsBytes(JSON.createObjectNode().put("sha", commit));
        ObjectNode file = JSON.createObjectNode().put("type", "file").put("path", "M-Q8_0.gguf").put("size", body.length);
        file.putObject("lfs").put("oid", sha).put("size", body.length);
        byte[] tree = JSON.writeValueAsBytes(JSON.createArrayNode().add(file));
        Map<String, byte[]> replies = Map.of("/api/models/acme/M/revision/main", revision, "/api/models/acme/M/tree/" + commit, tree,
                "/acme/M/resolve/" + commit + "/M-Q8_0.gguf", body);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ex -> {
            try (ex) {
                byte[] reply = replies.get(ex.getRequestURI().getPath());
                ex.sendResponseHeaders(reply == null ? 404 : 200, reply == null ? -1 : reply.length);
                if (reply != null) ex.getResponseBody().write(reply);
            }
        });
        server.start();
        Path home = TestSupport.workDir("cli-hf-" + System.nanoTime());
        System.setProperty("hf.endpoint", "http://127.0.0.1:" + server.getAddress().getPort());
        System.setProperty("hf.home", home.toString());
        try {
            ok("pull", "hf:acme/M:Q8_0");
            Path p = home.resolve("hub/models--acme--M/snapshots/" + commit + "/M-Q8_0.gguf");
            assertEquals(p + "\n", out());
            assertEquals(-1L, Files.mismatch(p, Files.write(home.resolve("expected"), body)));
            assertEquals(1, run("pull", "hf:acme/Missing"));
            assertEquals("llama-java: error: Hugging Face answered 404: acme/Missing (/api/models/acme/Missing/revision/main) does not exist\n", err());
        } finally {
            server.stop(0);
            System.clearProperty("hf.endpoint");
            System.clearProperty("hf.home");
        }
    }

    @Test
    void defaultModelIsTheSyntheticOne() {
        System.setProperty("llama.cpp.source", TestSupport.llamaSource().toString());
        ok("run", "-p", "Hello", "-n", "3", "--ctx", "256");
        assertTrue(err().contains("no --model given: using the synthetic Llama-3.2-1B-shaped model (random weights, its output is meaningless): "
                + SyntheticModels.cacheDir()), err());
    }

    /** {@code rpc-server} lends this JVM's CPU; {@code run --rpc} puts the layers there: llama-simple's local greedy text. */
    @Test
    void runOverAnRpcServerStartedFromJava() throws Exception {
        int port = TestSupport.freePort();
        // llama.cpp's server loop never returns: it serves from a daemon thread for the rest of this JVM
        Thread server = Thread.ofPlatform().daemon().name("rpc-server").start(
                () -> Main.execute("rpc-server", "--port", Integer.toString(port), "--threads", "1"));
        long deadline = System.nanoTime() + 30_000_000_000L;
        for (boolean up = false; !up; ) {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                up = true;
            } catch (IOException e) {
                assertTrue(server.isAlive() && System.nanoTime() < deadline, "rpc-server did not listen: " + err());
                Thread.sleep(100);
            }
        }
        var r = TestSupport.run(List.of(TestSupport.tool("llama-simple").toString(), "-m", stories(), "-n", "24", "Once upon a time"), null, null, 120);
        assertEquals(0, r.exit(), r.stderr());
        ok("run", "-m", stories(), "--rpc", "127.0.0.1:" + port, "--temp", "0", "-n", "24", "-p", "Once upon a time", "--ctx", "128");
        assertTrue(out().length() > 40 && r.stdout().endsWith(out()), "llama-simple: " + r.stdout() + "\nours over RPC: " + out());
    }

    @Test
    void rpcServerArgumentsAreOneLineErrors() throws Exception {
        assertEquals(1, run("rpc-server", "--port", "0"));
        assertTrue(err().contains("port must be in 1..65535"), err());
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertEquals(1, run("rpc-server", "--port", Integer.toString(taken.getLocalPort())));
        }
        assertTrue(err().contains("cannot serve RPC at 127.0.0.1:"), err());
        assertEquals(1, run("run", "-m", stories(), "--rpc", "nohost", "-n", "1", "-p", "x"));
        assertTrue(err().contains("is not host:port"), err());
    }
}
