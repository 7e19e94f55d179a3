package dev.llamajava.cli;

import dev.llamajava.TestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code llama-java rpc-server} lends this JVM's CPU to an RPC client, and {@code run --rpc} puts the model's layers on
 * it: the greedy text equals llama.cpp's local llama-simple.
 */
class RpcServerCommandTest {

    final ByteArrayOutputStream out = new ByteArrayOutputStream();
    final ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream savedOut;
    PrintStream savedErr;

    @BeforeEach
    void capture() {
        savedOut = Main.out;
        savedErr = Main.err;
        Main.out = new PrintStream(out, true, StandardCharsets.UTF_8);
        Main.err = new PrintStream(err, true, StandardCharsets.UTF_8);
    }

    @AfterEach
    void restore() {
        Main.out = savedOut;
        Main.err = savedErr;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Test
    void runOverAnRpcServerStartedFromJava() throws Exception {
        int port = freePort();
        // llama.cpp's server loop never returns: it serves from a daemon thread for the rest of this JVM
        Thread server = Thread.ofPlatform().daemon().name("rpc-server").start(
                () -> Main.execute("rpc-server", "--port", Integer.toString(port), "--threads", "1"));
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (true) {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                break;
            } catch (IOException e) {
                assertTrue(server.isAlive() && System.nanoTime() < deadline, "rpc-server did not listen: " + err);
                Thread.sleep(100);
            }
        }
        String stories = TestSupport.stories260K().toString();
        var r = TestSupport.run(List.of(TestSupport.tool("llama-simple").toString(), "-m", stories, "-n", "24", "Once upon a time"), null, null, 120);
        assertEquals(0, r.exit(), r.stderr());
        out.reset();
        err.reset();
        assertEquals(0, Main.execute("run", "-m", stories, "--rpc", "127.0.0.1:" + port, "--temp", "0", "-n", "24", "-p", "Once upon a time",
                "--ctx", "128"), err::toString);
        String ours = out.toString(StandardCharsets.UTF_8);
        assertTrue(ours.length() > 40 && r.stdout().endsWith(ours), "llama-simple: " + r.stdout() + "\nours over RPC: " + ours);
    }

    @Test
    void badArgumentsAreOneLineErrors() throws Exception {
        assertEquals(1, Main.execute("rpc-server", "--port", "0"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("port must be in 1..65535"), err::toString);
        err.reset();
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertEquals(1, Main.execute("rpc-server", "--port", Integer.toString(taken.getLocalPort())));
        }
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("cannot serve RPC at 127.0.0.1:"), err::toString);
        err.reset();
        assertEquals(1, Main.execute("run", "-m", TestSupport.stories260K().toString(), "--rpc", "nohost", "-n", "1", "-p", "x"));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("is not host:port"), err::toString);
    }
}
