package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.RpcBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * ggml's RPC backend: two llama.cpp {@code ggml-rpc-server} processes on loopback ports take the layers of a model,
 * and its greedy output equals llama.cpp's own local {@code llama-simple}; dead, silent and foreign servers fail the
 * load with a clear exception within the timeout instead of aborting the JVM (llama.cpp's client would) or hanging.
 */
class RpcTest {

    static final List<Process> SERVERS = new ArrayList<>();
    static String first;
    static String second;

    @BeforeAll
    static void startServers() throws Exception {
        first = startServer("a");
        second = startServer("b");
    }

    @AfterAll
    static void stopServers() {
        SERVERS.forEach(Process::destroyForcibly);
    }

    /** Starts llama.cpp's rpc-server (one CPU thread) and waits until it answers the handshake. */
    static String startServer(String name) throws Exception {
        Path log = TestSupport.workDir("rpc").resolve("server-" + name + ".log");
        for (int attempt = 0; attempt < 3; attempt++) {
            int port = TestSupport.freePort();
            Process p = new ProcessBuilder(TestSupport.tool("ggml-rpc-server").toString(), "-H", "127.0.0.1", "-p", Integer.toString(port), "-t", "1")
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            String endpoint = "127.0.0.1:" + port;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (p.isAlive() && System.nanoTime() < deadline) {
                try {
                    String version = RpcBackend.handshake(endpoint, 2000);
                    assertTrue(version.startsWith(RpcBackend.PROTO_MAJOR + "."), version);
                    SERVERS.add(p);
                    return endpoint;
                } catch (RuntimeException e) {
                    Thread.sleep(100);
                }
            }
            p.destroyForcibly();
        }
        fail("ggml-rpc-server did not start: " + Files.readString(log));
        return null;
    }

    /** The text llama-simple prints for a prompt: its pieces, then the generated pieces (see GenerationTest). */
    static String render(LlamaModel model, String prompt, int n) {
        int[] ids = model.tokenize(prompt, true, true);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) out.writeBytes(model.tokenBytes(id, true));
        try (LlamaContext ctx = LlamaContext.create(model, GenerationTest.ctxParams(ids.length + n - 1));
             TokenStream ts = ctx.generate(prompt, GenerationParams.builder().greedy().maxTokens(n).build())) {
            return out.toString(StandardCharsets.UTF_8) + ts.stream().map(Token::text).collect(Collectors.joining()) + "\n";
        }
    }

    static List<Integer> greedyIds(LlamaModel model, String prompt, int n) {
        try (LlamaContext ctx = LlamaContext.create(model, ContextParams.builder().contextSize(256).build());
             TokenStream ts = ctx.generate(prompt, GenerationParams.builder().greedy().maxTokens(n).build())) {
            return ts.stream().map(Token::id).toList();
        }
    }

    static long rpcBytes(LlamaModel m) {
        return m.weightBuffers().entrySet().stream().filter(e -> e.getKey().startsWith("RPC")).mapToLong(Map.Entry::getValue).sum();
    }

    @Test
    void stories260KSplitAcrossTwoServersEqualsLlamaSimple() throws Exception {
        String expected = GenerationTest.llamaSimple("Once upon a time", 40);
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K(), ModelParams.builder().rpcServers(first, second).build())) {
            Map<String, Long> buffers = m.weightBuffers();
            assertTrue(buffers.keySet().stream().filter(k -> k.startsWith("RPC")).count() >= 2,
                    "the weights sit on both servers' devices: " + buffers);
            assertEquals(expected, render(m, "Once upon a time", 40));
        }
    }

    /** The engine's slots over the servers pick their tokens in the graph (the default there) and print what llama-simple prints. */
    @Test
    void engineSlotsPickInTheGraphAndEqualLlamaSimple() throws Exception {
        List<String> prompts = List.of("Once upon a time", "The little dog", "One day");
        int n = 32;
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K(), ModelParams.builder().rpcServers(first, second).build());
             Engine e = Engine.create(m, EngineParams.builder().slots(3).slotContext(128).build())) {
            GenerationParams gp = GenerationParams.builder().greedy().maxTokens(n).build();
            List<int[]> got = EngineTest.concurrently(e, prompts, List.of(gp, gp, gp));
            for (int i = 0; i < prompts.size(); i++) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                for (int id : m.tokenize(prompts.get(i), true, true)) out.writeBytes(m.tokenBytes(id, true));
                for (int id : got.get(i)) out.writeBytes(m.tokenBytes(id, true));
                assertEquals(GenerationTest.llamaSimple(prompts.get(i), n), out.toString(StandardCharsets.UTF_8) + "\n", prompts.get(i));
            }
            Engine.Stats st = e.stats();
            assertTrue(st.graphSampledTokens() >= st.generatedTokens() && st.generatedTokens() > 0, st.toString());
        }
    }

    @Test
    void twoModelsShareTheServersAndALaterLocalLoadStaysLocal() throws Exception {
        Path tiny = TestSupport.writeTinyModel(TestSupport.workDir("rpc").resolve("tiny.gguf"), 7);
        List<Integer> local;
        try (LlamaModel m = LlamaModel.load(tiny)) {
            local = greedyIds(m, "The capital of France is", 32);
        }
        try (LlamaModel stories = LlamaModel.load(TestSupport.stories260K(), ModelParams.builder().rpcServers(first, second).build());
             // while the first model holds both connections (one client per server), the second rides on them
             LlamaModel m = LlamaModel.load(tiny, ModelParams.builder().rpcServers(second, first).build())) {
            assertTrue(rpcBytes(m) > 0, m.weightBuffers().toString());
            assertTrue(rpcBytes(stories) > 0, stories.weightBuffers().toString());
            assertEquals(local, greedyIds(m, "The capital of France is", 32), "greedy tokens split over RPC equal the local ones");
            // the token was picked on the server, and what came back is one candidate, not the 128,256 logits
            try (LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(64).build());
                 TokenStream ts = ctx.generate("Hello", GenerationParams.builder().greedy().maxTokens(3).build())) {
                assertEquals(3, ts.stream().count());
                try (NativeResource.Borrow b = ctx.use()) {
                    int probs = llama_h.llama_get_sampled_probs_count_ith(b.ptr(), -1);
                    int logits = llama_h.llama_get_sampled_logits_count_ith(b.ptr(), -1);
                    assertTrue(probs <= 1 && logits <= 1 && probs + logits >= 1, "one candidate came back: " + probs + " probs, " + logits + " logits");
                }
            }
        }
        try (LlamaModel m = LlamaModel.load(tiny)) {
            assertEquals(0, rpcBytes(m), "a load without rpcServers uses no RPC device: " + m.weightBuffers());
        }
        // the connections were given back when the models closed: a fresh load handshakes and works again
        try (LlamaModel m = LlamaModel.load(tiny, ModelParams.builder().rpcServers(first).build())) {
            assertEquals(local, greedyIds(m, "The capital of France is", 32));
        }
    }

    @Test
    void deadServerIsAClearExceptionNotAnAbort() throws Exception {
        String dead = "127.0.0.1:" + TestSupport.freePort();
        long t0 = System.nanoTime();
        ModelLoadException e = assertThrows(ModelLoadException.class,
                () -> LlamaModel.load(TestSupport.stories260K(), ModelParams.builder().rpcServers(first, dead).build()));
        assertTrue(e.getMessage().contains("cannot connect to RPC server " + dead), e.getMessage());
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(10), "refused at once");
        // nothing broken: the live servers still serve
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K(), ModelParams.builder().rpcServers(first).build())) {
            assertEquals(GenerationTest.llamaSimple("The little dog", 16), render(m, "The little dog", 16));
        }
    }

    /** A stand-in server on a loopback port: each accepted connection is handed to {@code client}. */
    static void withFakeServer(Consumer<Socket> client, Consumer<String> body) throws Exception {
        try (ServerSocket s = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
            Thread t = Thread.ofVirtual().start(() -> {
                while (!s.isClosed()) {
                    try (Socket c = s.accept()) {
                        client.accept(c);
                    } catch (IOException ignored) {
                        return;
                    }
                }
            });
            try {
                body.accept("127.0.0.1:" + s.getLocalPort());
            } finally {
                s.close();
                t.join(5000);
            }
        }
    }

    static ModelLoadException loadFails(String endpoint) {
        return assertThrows(ModelLoadException.class,
                () -> LlamaModel.load(TestSupport.stories260K(), ModelParams.builder().rpcServers(endpoint).build()));
    }

    @Test
    void silentServerTimesOut() throws Exception {
        System.setProperty("llama.rpc.timeout", "1");
        try {
            withFakeServer(c -> {
                try {
                    Thread.sleep(4000); // accepts, reads nothing, says nothing
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            }, endpoint -> {
                long t0 = System.nanoTime();
                ModelLoadException e = loadFails(endpoint);
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                assertTrue(e.getMessage().contains("did not answer within 1000 ms"), e.getMessage());
                assertTrue(ms >= 900 && ms < 3500, "bounded by llama.rpc.timeout: " + ms + " ms");
            });
        } finally {
            System.clearProperty("llama.rpc.timeout");
        }
    }

    /** Answers the hello with {@code response} (after reading the 33-byte request), then hangs up. */
    static Consumer<Socket> answering(byte[] response) {
        return c -> {
            try {
                InputStream in = c.getInputStream();
                byte[] req = in.readNBytes(1 + 8 + 24);
                assertEquals(14, req[0], "RPC_CMD_HELLO");
                assertEquals(24, ByteBuffer.wrap(req, 1, 8).order(ByteOrder.LITTLE_ENDIAN).getLong());
                OutputStream out = c.getOutputStream();
                out.write(response);
                out.flush();
            } catch (IOException ignored) {
                // the client went away
            }
        };
    }

    @Test
    void foreignServersAreRefused() throws Exception {
        withFakeServer(answering("HTTP/1.1 400 Bad Request\r\n\r\n".getBytes(StandardCharsets.US_ASCII)), endpoint -> {
            ModelLoadException e = loadFails(endpoint);
            assertTrue(e.getMessage().contains("not a ggml rpc-server"), e.getMessage());
        });
        ByteBuffer old = ByteBuffer.allocate(8 + 28).order(ByteOrder.LITTLE_ENDIAN).putLong(28).put((byte) 6).put((byte) 1).put((byte) 0);
        withFakeServer(answering(old.array()), endpoint -> {
            ModelLoadException e = loadFails(endpoint);
            assertTrue(e.getMessage().contains("speaks RPC protocol v6.1.0"), e.getMessage());
        });
        withFakeServer(answering(new byte[0]), endpoint -> {
            ModelLoadException e = loadFails(endpoint);
            assertTrue(e.getMessage().contains("closed the connection during the handshake"), e.getMessage());
        });
    }

    @Test
    void endpointsAreChecked() {
        for (String bad : List.of("localhost", "localhost:", ":50052", "h:0", "h:70000", "h:p", "a b:1", "http://h:1")) {
            assertThrows(IllegalArgumentException.class, () -> ModelParams.builder().rpcServers(bad).build(), bad);
        }
        assertThrows(IllegalArgumentException.class, () -> ModelParams.builder().rpcServers("h:1", "h:1").build());
        assertEquals(List.of("h:1", "[::1]:50052", "10.0.0.2:2"), ModelParams.builder().rpcServers("h:1", "[::1]:50052", "10.0.0.2:2").build().rpcServers());
    }

    /** Our handshake's constants are those of the pinned ggml-rpc.h / ggml-rpc.cpp / transport.h. */
    @Test
    void protocolConstantsMatchThePinnedSource() throws IOException {
        Path rpc = TestSupport.llamaSource().resolve("ggml");
        String header = Files.readString(rpc.resolve("include/ggml-rpc.h"));
        assertEquals(RpcBackend.PROTO_MAJOR, define(header, "RPC_PROTO_MAJOR_VERSION"));
        assertEquals(RpcBackend.PROTO_MINOR, define(header, "RPC_PROTO_MINOR_VERSION"));
        String cpp = Files.readString(rpc.resolve("src/ggml-rpc/ggml-rpc.cpp"));
        assertTrue(cpp.contains("static_assert(RPC_CMD_HELLO == 14"), "RPC_CMD_HELLO is 14");
        String transport = Files.readString(rpc.resolve("src/ggml-rpc/transport.h"));
        assertTrue(transport.contains("RPC_CONN_CAPS_SIZE = 24;"), "the hello carries 24 bytes of capabilities");
    }

    static int define(String text, String name) {
        Matcher m = Pattern.compile("#define\\s+" + name + "\\s+(\\d+)").matcher(text);
        assertTrue(m.find(), name);
        return Integer.parseInt(m.group(1));
    }
}
