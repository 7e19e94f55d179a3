package dev.llamajava.hub;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.llamajava.TestSupport;
import dev.llamajava.internal.Hashing;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Hub client against a local HTTP server (loopback only) that serves the Hub's API shapes:
 * revision info, the recursive tree listing with LFS sha256, and resolve downloads with ranges.
 */
class HuggingFaceTest {

    static final String REPO = "acme/Tiny-GGUF";
    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";

    HttpServer server;
    byte[] q4;
    byte[] q8;
    String q8ShaServed; // the sha256 the listing claims for Q8_0 (wrong in one test)
    boolean dropFirstDownload;
    String requiredToken;
    final AtomicInteger downloads = new AtomicInteger();
    final List<String> ranges = new ArrayList<>();
    Path cache;

    static String sha(byte[] b) {
        return Hashing.sha256(b);
    }

    @BeforeEach
    void start() throws Exception {
        q4 = new byte[300_000];
        q8 = new byte[500_000];
        for (int i = 0; i < q4.length; i++) q4[i] = (byte) (i * 31);
        for (int i = 0; i < q8.length; i++) q8[i] = (byte) (i * 17 + 3);
        q8ShaServed = sha(q8);
        cache = TestSupport.workDir("hub-" + System.nanoTime());
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    HuggingFace client(String token) {
        return new HuggingFace(URI.create("http://127.0.0.1:" + server.getAddress().getPort()), token, cache);
    }

    void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getPath();
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            if (requiredToken != null && !("Bearer " + requiredToken).equals(auth)) {
                send(ex, 401, "{\"error\":\"Invalid username or password.\"}".getBytes());
                return;
            }
            if (path.equals("/api/models/" + REPO + "/revision/main")) {
                send(ex, 200, ("{\"id\":\"" + REPO + "\",\"sha\":\"" + COMMIT + "\",\"siblings\":[]}").getBytes());
            } else if (path.equals("/api/models/" + REPO + "/tree/" + COMMIT)) {
                String json = "[{\"type\":\"file\",\"oid\":\"aa\",\"size\":12,\"path\":\"README.md\"},"
                        + "{\"type\":\"file\",\"oid\":\"bb\",\"size\":" + q4.length + ",\"path\":\"Tiny-Q4_K_M.gguf\",\"lfs\":{\"oid\":\"" + sha(q4) + "\",\"size\":" + q4.length + ",\"pointerSize\":134}},"
                        + "{\"type\":\"file\",\"oid\":\"cc\",\"size\":" + q8.length + ",\"path\":\"Tiny-Q8_0.gguf\",\"lfs\":{\"oid\":\"" + q8ShaServed + "\",\"size\":" + q8.length + ",\"pointerSize\":134}}]";
                send(ex, 200, json.getBytes(StandardCharsets.UTF_8));
            } else if (path.startsWith("/" + REPO + "/resolve/" + COMMIT + "/")) {
                String file = path.substring(("/" + REPO + "/resolve/" + COMMIT + "/").length());
                byte[] body = file.equals("Tiny-Q4_K_M.gguf") ? q4 : file.equals("Tiny-Q8_0.gguf") ? q8 : null;
                if (body == null) {
                    send(ex, 404, "Entry not found".getBytes());
                    return;
                }
                int n = downloads.incrementAndGet();
                String range = ex.getRequestHeaders().getFirst("Range");
                synchronized (ranges) { ranges.add(String.valueOf(range)); }
                int from = range == null ? 0 : Integer.parseInt(range.replaceAll("bytes=(\\d+)-", "$1"));
                ex.getResponseHeaders().add("Content-Type", "application/octet-stream");
                ex.sendResponseHeaders(range == null ? 200 : 206, body.length - from);
                OutputStream os = ex.getResponseBody();
                if (dropFirstDownload && n == 1) {
                    os.write(body, from, (body.length - from) / 2);
                    os.flush();
                    // drop the connection mid-file
                    ex.getHttpContext().getServer();
                    throw new IOException("simulated drop");
                }
                os.write(body, from, body.length - from);
            } else {
                send(ex, 404, "{\"error\":\"Repository not found\"}".getBytes());
            }
        } catch (Exception e) {
            // the exchange closes; a dropped connection is what the client sees
        }
    }

    static void send(HttpExchange ex, int status, byte[] body) throws IOException {
        ex.sendResponseHeaders(status, body.length);
        ex.getResponseBody().write(body);
    }

    @Test
    void pullsByQuantIntoAHuggingFaceShapedCache() throws Exception {
        List<long[]> progress = new ArrayList<>();
        Path p = client(null).pull(HuggingFace.Ref.parse("hf:" + REPO + ":Q4_K_M"), Long.MAX_VALUE, (d, t) -> progress.add(new long[]{d, t}));
        assertArrayEquals(q4, Files.readAllBytes(p));
        Path repoDir = cache.resolve("models--acme--Tiny-GGUF");
        assertEquals(repoDir.resolve("snapshots/" + COMMIT + "/Tiny-Q4_K_M.gguf"), p);
        assertTrue(Files.isSymbolicLink(p));
        assertTrue(Files.isRegularFile(repoDir.resolve("blobs/" + sha(q4))));
        assertEquals(COMMIT, Files.readString(repoDir.resolve("refs/main")));
        assertEquals(q4.length, progress.getLast()[0]);
        // a second pull is served from the cache
        int before = downloads.get();
        client(null).pull(HuggingFace.Ref.parse("hf:" + REPO + ":q4_k_m"), Long.MAX_VALUE, null);
        assertEquals(before, downloads.get());
    }

    @Test
    void resumesAfterADroppedConnection() throws Exception {
        dropFirstDownload = true;
        Path p = client(null).pull(HuggingFace.Ref.parse("hf:" + REPO + ":Q8_0"), Long.MAX_VALUE, null);
        assertArrayEquals(q8, Files.readAllBytes(p));
        assertEquals(2, downloads.get());
        assertEquals("null", ranges.get(0));
        assertTrue(ranges.get(1).matches("bytes=\\d+-") && !ranges.get(1).equals("bytes=0-"), ranges.toString());
    }

    @Test
    void wrongHashLeavesNothingBehind() throws Exception {
        q8ShaServed = sha("something else".getBytes());
        HubException e = assertThrows(HubException.class, () -> client(null).pull(HuggingFace.Ref.parse("hf:" + REPO + ":Q8_0"), Long.MAX_VALUE, null));
        assertTrue(e.getMessage().contains("Tiny-Q8_0.gguf failed its check: expected 500000 bytes with sha256 " + q8ShaServed), e.getMessage());
        Path repoDir = cache.resolve("models--acme--Tiny-GGUF");
        try (var s = Files.walk(repoDir)) {
            assertFalse(s.anyMatch(f -> f.getFileName().toString().endsWith(".gguf") || f.getFileName().toString().endsWith(".incomplete")
                    || f.getFileName().toString().equals(q8ShaServed)), "a partial or unverified file was left");
        }
    }

    @Test
    void notFoundAndUnauthorized() {
        HubException e = assertThrows(HubException.class, () -> client(null).pull(HuggingFace.Ref.parse("hf:acme/missing"), Long.MAX_VALUE, null));
        assertEquals("Hugging Face answered 404: acme/missing (/api/models/acme/missing/revision/main) does not exist", e.getMessage());
        e = assertThrows(HubException.class, () -> client(null).pull(HuggingFace.Ref.parse("hf:" + REPO + ":Q5_K_M"), Long.MAX_VALUE, null));
        assertEquals("no GGUF file for Q5_K_M in the repository; it has [Tiny-Q4_K_M.gguf, Tiny-Q8_0.gguf]", e.getMessage());
        requiredToken = "secret";
        e = assertThrows(HubException.class, () -> client(null).pull(HuggingFace.Ref.parse("hf:" + REPO + ":Q8_0"), Long.MAX_VALUE, null));
        assertEquals("Hugging Face answered 401 for " + REPO + ": the repository needs a token; set HF_TOKEN", e.getMessage());
        e = assertThrows(HubException.class, () -> client("wrong").pull(HuggingFace.Ref.parse("hf:" + REPO + ":Q8_0"), Long.MAX_VALUE, null));
        assertEquals("Hugging Face answered 401 for " + REPO + ": HF_TOKEN was rejected", e.getMessage());
        Path p = client("secret").pull(HuggingFace.Ref.parse("hf:" + REPO + ":Q8_0"), Long.MAX_VALUE, null);
        assertTrue(Files.isRegularFile(p));
    }

    @Test
    void withoutQuantTheLargestThatFitsIsChosen() throws Exception {
        Path p = client(null).pull(HuggingFace.Ref.parse("hf:" + REPO), 400_000, null);
        assertEquals("Tiny-Q4_K_M.gguf", p.getFileName().toString());
        HubException e = assertThrows(HubException.class, () -> client(null).pull(HuggingFace.Ref.parse("hf:" + REPO), 1000, null));
        assertEquals("no GGUF file of " + REPO + " fits 1000 bytes", e.getMessage());
    }

    @Test
    void offlineIsAClearErrorAndTheCacheStillServes() throws Exception {
        Path p = client(null).pull(HuggingFace.Ref.parse("hf:" + REPO + ":Q4_K_M"), Long.MAX_VALUE, null);
        server.stop(0);
        Path again = client(null).pull(HuggingFace.Ref.parse("hf:" + REPO + ":Q4_K_M"), Long.MAX_VALUE, null);
        assertEquals(p, again);
        HubException e = assertThrows(HubException.class, () -> client(null).pull(HuggingFace.Ref.parse("hf:" + REPO + ":Q8_0"), Long.MAX_VALUE, null));
        assertTrue(e.getMessage().startsWith("cannot reach http://127.0.0.1:"), e.getMessage());
        assertTrue(e.getMessage().endsWith("are you offline?"), e.getMessage());
    }

    @Test
    void badReferences() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HuggingFace.Ref.parse("hf:nope"));
        assertEquals("not a Hugging Face reference: 'hf:nope' (expected hf:owner/repo[:QUANT])", e.getMessage());
        e = assertThrowsExactly(IllegalArgumentException.class, () -> HuggingFace.Ref.parse("hf:acme/..:Q4_K_M"));
        assertEquals("not a Hugging Face reference: 'hf:acme/..:Q4_K_M' (invalid repository id 'acme/..': expected owner/name"
                + " (letters, digits, '.', '_', '-', exactly one '/', no '..'))", e.getMessage());
        assertEquals(new HuggingFace.Ref("bartowski/Llama-3.2-1B-Instruct-GGUF", "Q4_K_M"),
                HuggingFace.Ref.parse("hf:bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"));
    }

    @Test
    void fromEnvironmentReadsTheHfSettings() throws Exception {
        Path home = cache.resolve("home");
        Map<String, String> saved = new HashMap<>();
        for (String k : List.of("hf.endpoint", "hf.home", "hf.token")) saved.put(k, System.getProperty(k));
        try {
            System.setProperty("hf.endpoint", "http://127.0.0.1:" + server.getAddress().getPort() + "/");
            System.setProperty("hf.home", home.toString());
            System.setProperty("hf.token", "from-settings");
            requiredToken = "from-settings";
            Path p = HuggingFace.fromEnvironment().pull(HuggingFace.Ref.parse("hf:" + REPO + ":Q4_K_M"), Long.MAX_VALUE, null);
            assertEquals(home.resolve("hub/models--acme--Tiny-GGUF/snapshots/" + COMMIT + "/Tiny-Q4_K_M.gguf"), p);
            assertArrayEquals(q4, Files.readAllBytes(p));
            System.setProperty("hf.endpoint", "ftp://127.0.0.1/");
            HubException e = assertThrowsExactly(HubException.class, HuggingFace::fromEnvironment);
            assertEquals("the Hugging Face endpoint 'ftp://127.0.0.1' (-Dhf.endpoint / HF_ENDPOINT) is not an http(s) URL", e.getMessage());
            System.setProperty("hf.endpoint", "http://a b");
            e = assertThrowsExactly(HubException.class, HuggingFace::fromEnvironment);
            assertTrue(e.getMessage().startsWith("the Hugging Face endpoint 'http://a b' (-Dhf.endpoint / HF_ENDPOINT) is not a URL: "), e.getMessage());
        } finally {
            saved.forEach((k, v) -> {
                if (v == null) System.clearProperty(k); else System.setProperty(k, v);
            });
        }
    }
}
