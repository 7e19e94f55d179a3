package dev.llamajava.internal;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.loader.Natives;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * ggml's RPC backend ({@code libggml-rpc}): devices lent by {@code rpc-server} processes, reached over TCP.
 *
 * <p>llama.cpp's RPC client aborts the process when a server cannot be reached or breaks the protocol
 * ({@code GGML_ABORT("Failed to connect to ...")}), and its connect has no timeout. So before llama.cpp opens a
 * connection, {@link #connect} opens one of its own, with a timeout, and performs the protocol's handshake
 * ({@code RPC_CMD_HELLO}): an endpoint that is down, silent or of another protocol version becomes an
 * {@link RpcException} naming it, and llama.cpp is never asked to connect there.
 *
 * <p>An {@code rpc-server} serves one client at a time, and llama.cpp keeps one connection per endpoint for as long as a
 * model holds buffers there. While a model of this JVM holds an endpoint, a second handshake would wait behind that
 * connection, so held endpoints are not probed again: llama.cpp reuses its live connection. Loads that use RPC are
 * serialised by {@link #lock()}, so no other load connects between the probe and llama.cpp's own connection.
 *
 * <p>Not covered, and cannot be from here: a server that dies while a model uses it. llama.cpp's RPC client then
 * aborts the process ({@code "Remote RPC server crashed or returned malformed response"}); a service that must survive
 * that runs the model in a process of its own.
 */
public final class RpcBackend {

    /** {@code RPC_PROTO_MAJOR_VERSION} of the pinned {@code ggml-rpc.h}: a server must speak this major version. */
    public static final int PROTO_MAJOR = 7;
    /** {@code RPC_PROTO_MINOR_VERSION}: a server of a newer minor version is refused, as llama.cpp refuses it. */
    public static final int PROTO_MINOR = 0;
    /** {@code RPC_CMD_HELLO} (ggml-rpc.cpp asserts it is always 14). */
    static final int CMD_HELLO = 14;
    /** {@code RPC_CONN_CAPS_SIZE} (transport.h): the transport capabilities in the hello request and response. */
    static final int CONN_CAPS_SIZE = 24;

    private static final Pattern ENDPOINT = Pattern.compile("(\\[[0-9A-Fa-f:.]+]|[A-Za-z0-9.\\-_]+):([0-9]{1,5})");
    private static final ReentrantLock LOCK = new ReentrantLock();
    /** Endpoint to the number of live models holding buffers there (guarded by the class). */
    private static final Map<String, Integer> HELD = new HashMap<>();
    private static volatile MethodHandle addServer;

    private RpcBackend() { }

    /** Something about an RPC endpoint that keeps a model from loading there. */
    public static final class RpcException extends RuntimeException {
        RpcException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * @param endpoint {@code host:port}, e.g. {@code 192.168.1.20:50052} or {@code [::1]:50052}
     * @return the endpoint
     * @throws IllegalArgumentException when it is not {@code host:port} with a port in 1..65535
     */
    public static String checkEndpoint(String endpoint) {
        parse(endpoint);
        return endpoint;
    }

    /** @return the matched endpoint: group 1 the host (an IPv6 one in brackets), group 2 the port */
    private static Matcher parse(String endpoint) {
        if (endpoint == null) throw new IllegalArgumentException("an RPC endpoint is null");
        Matcher m = ENDPOINT.matcher(endpoint);
        if (!m.matches()) {
            throw new IllegalArgumentException("RPC endpoint '" + endpoint + "' is not host:port (for example 127.0.0.1:50052)");
        }
        int port = Integer.parseInt(m.group(2));
        if (port < 1 || port > 65535) throw new IllegalArgumentException("RPC endpoint '" + endpoint + "': port " + port + " is not in 1..65535");
        return m;
    }

    /** @return the lock every load that uses RPC holds from its probes to the end of llama.cpp's load */
    public static ReentrantLock lock() {
        return LOCK;
    }

    /**
     * Probes every endpoint that no live model holds, then registers each with llama.cpp's RPC backend and returns its
     * devices, in the order given. Call with {@link #lock()} held.
     *
     * @param endpoints {@code host:port} values
     * @return the devices ({@code ggml_backend_dev_t}), one or more per endpoint
     * @throws RpcException when the RPC backend is missing, or an endpoint is down, silent, or speaks another version
     */
    public static List<MemorySegment> connect(List<String> endpoints) {
        if (!LOCK.isHeldByCurrentThread()) throw new IllegalStateException("RpcBackend.connect needs RpcBackend.lock()");
        MethodHandle add = addServer();
        int timeoutMs = timeoutMillis();
        List<MemorySegment> devices = new ArrayList<>();
        for (String endpoint : endpoints) {
            if (!held(endpoint)) handshake(endpoint, timeoutMs);
            MemorySegment reg;
            try (Arena a = Arena.ofConfined()) {
                reg = (MemorySegment) add.invokeExact(a.allocateFrom(endpoint));
            } catch (Throwable t) {
                throw new RpcException("ggml_backend_rpc_add_server(\"" + endpoint + "\") failed: " + t, t);
            }
            if (reg.equals(MemorySegment.NULL)) throw new RpcException("the RPC server at " + endpoint + " reports no devices", null);
            long n = llama_h.ggml_backend_reg_dev_count(reg);
            for (long i = 0; i < n; i++) devices.add(llama_h.ggml_backend_reg_dev_get(reg, i));
        }
        return devices;
    }

    /** @param endpoints endpoints a loaded model now holds buffers at */
    public static synchronized void hold(List<String> endpoints) {
        for (String e : endpoints) HELD.merge(e, 1, Integer::sum);
    }

    /** @param endpoints endpoints a model held, after llama.cpp freed it (and with it its connections) */
    public static synchronized void release(List<String> endpoints) {
        for (String e : endpoints) HELD.computeIfPresent(e, (k, v) -> v == 1 ? null : v - 1);
    }

    private static synchronized boolean held(String endpoint) {
        return HELD.containsKey(endpoint);
    }

    private static int timeoutMillis() {
        String v = Settings.RPC_TIMEOUT.get();
        double s;
        try {
            s = Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(Settings.RPC_TIMEOUT.names() + " must be a number of seconds, was '" + v + "'");
        }
        if (!(s > 0) || s > 3600) throw new IllegalArgumentException(Settings.RPC_TIMEOUT.names() + " must be in (0, 3600] seconds, was " + v);
        return (int) Math.max(1, Math.round(s * 1000));
    }

    /**
     * Connects with a timeout and performs {@code RPC_CMD_HELLO}: | cmd (1 byte) | size (8 bytes LE) | caps (24) |,
     * answered by | size (8 bytes LE) = 28 | major | minor | patch | pad | caps (24) |.
     *
     * @return the server's version, e.g. {@code 7.0.0}
     * @throws RpcException when it cannot connect, the handshake times out or fails, or the version differs
     */
    public static String handshake(String endpoint, int timeoutMs) {
        Matcher m = parse(endpoint);
        String host = m.group(1).startsWith("[") ? m.group(1).substring(1, m.group(1).length() - 1) : m.group(1);
        int port = Integer.parseInt(m.group(2));
        String what = "RPC server " + endpoint;
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), timeoutMs);
            s.setSoTimeout(timeoutMs);
            s.setTcpNoDelay(true);
            ByteBuffer req = ByteBuffer.allocate(1 + 8 + CONN_CAPS_SIZE).order(ByteOrder.LITTLE_ENDIAN);
            req.put((byte) CMD_HELLO).putLong(CONN_CAPS_SIZE);
            OutputStream out = s.getOutputStream();
            out.write(req.array());
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] size = new byte[8];
            in.readFully(size);
            long n = ByteBuffer.wrap(size).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (n != 4 + CONN_CAPS_SIZE) {
                throw new RpcException(what + " answered the handshake with " + n + " bytes instead of " + (4 + CONN_CAPS_SIZE)
                        + ": not a ggml rpc-server of protocol v" + PROTO_MAJOR + ".x", null);
            }
            byte[] rsp = new byte[(int) n];
            in.readFully(rsp);
            int major = rsp[0] & 0xff, minor = rsp[1] & 0xff, patch = rsp[2] & 0xff;
            String version = major + "." + minor + "." + patch;
            if (major != PROTO_MAJOR || minor > PROTO_MINOR) {
                throw new RpcException(what + " speaks RPC protocol v" + version + ", this build of llama.cpp v" + PROTO_MAJOR + "."
                        + PROTO_MINOR + ".x: run an rpc-server built from the same llama.cpp", null);
            }
            return version;
        } catch (SocketTimeoutException e) {
            throw new RpcException(what + " did not answer within " + timeoutMs + " ms (" + e.getMessage()
                    + "): is it running, reachable, and not serving another client? (an rpc-server serves one client at a time;"
                    + " the wait is " + Settings.RPC_TIMEOUT.names() + " seconds)", e);
        } catch (EOFException e) {
            throw new RpcException(what + " closed the connection during the handshake: not a ggml rpc-server, or one that"
                    + " refused this client", e);
        } catch (IOException e) {
            throw new RpcException("cannot connect to " + what + ": " + e.getMessage() + " (start it with llama-java rpc-server"
                    + " or llama.cpp's rpc-server, and check the host and port)", e);
        }
    }

    /** Loads {@code libggml-rpc} from the natives folder once, and finds {@code ggml_backend_rpc_add_server}. */
    private static MethodHandle addServer() {
        MethodHandle h = addServer;
        if (h != null) return h;
        synchronized (RpcBackend.class) {
            if (addServer != null) return addServer;
            MemorySegment reg = registry();
            MemorySegment fn;
            try (Arena a = Arena.ofConfined()) {
                fn = llama_h.ggml_backend_reg_get_proc_address(reg, a.allocateFrom("ggml_backend_rpc_add_server"));
            }
            if (fn.equals(MemorySegment.NULL)) throw new RpcException("the RPC backend has no ggml_backend_rpc_add_server", null);
            addServer = Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
            return addServer;
        }
    }

    /**
     * @return the RPC backend's registry ({@code ggml_backend_reg_t}), loading {@code libggml-rpc} on first use
     * @throws RpcException when the natives have no RPC backend
     */
    public static synchronized MemorySegment registry() {
        Natives.ensureLoaded();
        MemorySegment reg;
        try (Arena a = Arena.ofConfined()) {
            reg = llama_h.ggml_backend_reg_by_name(a.allocateFrom("RPC"));
            if (!reg.equals(MemorySegment.NULL)) return reg;
            Path lib = Natives.library("ggml-rpc");
            if (!Files.isRegularFile(lib)) {
                throw new RpcException("these natives have no RPC backend (" + lib + " is missing): use natives built with GGML_RPC"
                        + " (llama-java's own are)", null);
            }
            reg = llama_h.ggml_backend_load(a.allocateFrom(lib.toString()));
        }
        if (reg.equals(MemorySegment.NULL)) throw new RpcException("llama.cpp could not load the RPC backend " + Natives.library("ggml-rpc"), null);
        return reg;
    }
}
