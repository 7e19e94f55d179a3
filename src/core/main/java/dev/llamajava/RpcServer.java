package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.RpcBackend;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Lends this machine's devices to llama.cpp RPC clients, as llama.cpp's {@code rpc-server} tool does: another process
 * (this library with {@link ModelParams.Builder#rpcServers}, or llama.cpp's tools with {@code --rpc}) then puts model
 * layers on them. The protocol has no authentication or encryption: bind to loopback or a trusted network only.
 */
public final class RpcServer {

    private RpcServer() { }

    /**
     * Serves until the process ends: llama.cpp's server loop has no stop, so this blocks the calling thread for good and
     * returns only by throwing. llama.cpp prints the served devices and each client's arrival to standard output.
     * One client is served at a time.
     *
     * @param host     address to bind, e.g. {@code 127.0.0.1}
     * @param port     port, 1..65535
     * @param threads  threads for the CPU device (llama.cpp's rpc-server uses half the cores)
     * @param devices  device names to serve ({@link Llama#devices()}), empty for llama.cpp's choice: every GPU, else the CPU
     * @param cacheDir a folder where the server caches large tensors by hash (so a reconnecting client sends them once), or null
     * @throws IllegalArgumentException when the port or threads are out of range, or a device is unknown
     * @throws LlamaException           when the address cannot be bound, or llama.cpp's server returns
     * @throws NativeLibraryException   when the native libraries (or their RPC backend) cannot be loaded
     */
    public static void serve(String host, int port, int threads, List<String> devices, Path cacheDir) {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(devices, "devices");
        if (port < 1 || port > 65535) throw new IllegalArgumentException("port must be in 1..65535, was " + port);
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, was " + threads);
        String endpoint = RpcBackend.checkEndpoint((host.contains(":") ? "[" + host + "]" : host) + ":" + port);
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(new InetSocketAddress(host, port));
        } catch (IOException e) {
            throw new LlamaException("cannot serve RPC at " + endpoint + ": " + e.getMessage() + " (is the port taken?)", e);
        }
        if (cacheDir != null) {
            try {
                Files.createDirectories(cacheDir);
            } catch (IOException e) {
                throw new LlamaException("cannot create the RPC cache folder " + cacheDir + ": " + e.getMessage(), e);
            }
        }
        MemorySegment reg;
        try {
            reg = RpcBackend.registry();
        } catch (RpcBackend.RpcException e) {
            throw new NativeLibraryException(e.getMessage(), e);
        }
        List<MemorySegment> devs = devices(devices);
        MethodHandle start;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fn = llama_h.ggml_backend_reg_get_proc_address(reg, a.allocateFrom("ggml_backend_rpc_start_server"));
            if (fn.equals(MemorySegment.NULL)) throw new NativeLibraryException("the RPC backend has no ggml_backend_rpc_start_server");
            start = Linker.nativeLinker().downcallHandle(fn, FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                    ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
        }
        try (Arena a = Arena.ofShared()) {
            MemorySegment list = a.allocate(ValueLayout.ADDRESS, devs.size());
            for (int i = 0; i < devs.size(); i++) list.setAtIndex(ValueLayout.ADDRESS, i, devs.get(i));
            MemorySegment cache = cacheDir == null ? MemorySegment.NULL
                    : a.allocateFrom(cacheDir.toAbsolutePath() + cacheDir.getFileSystem().getSeparator());
            start.invokeExact(a.allocateFrom(endpoint), cache, (long) threads, (long) devs.size(), list);
        } catch (Throwable t) {
            throw new LlamaException("ggml_backend_rpc_start_server(" + endpoint + ") failed: " + t, t);
        }
        throw new LlamaException("llama.cpp's RPC server at " + endpoint + " stopped (its reason is on standard error)");
    }

    /** The devices to serve: the named ones, else every non-CPU device, else the CPU (as llama.cpp's rpc-server picks). */
    private static List<MemorySegment> devices(List<String> names) {
        Llama.devices(); // loads the natives and the backends
        List<MemorySegment> out = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            for (String n : names) {
                MemorySegment d = llama_h.ggml_backend_dev_by_name(a.allocateFrom(n));
                if (d.equals(MemorySegment.NULL)) {
                    throw new IllegalArgumentException("no device named '" + n + "'; devices: "
                            + Llama.devices().stream().map(Device::name).toList());
                }
                out.add(d);
            }
        }
        if (!out.isEmpty()) return out;
        for (long i = 0, n = llama_h.ggml_backend_dev_count(); i < n; i++) {
            MemorySegment d = llama_h.ggml_backend_dev_get(i);
            int type = llama_h.ggml_backend_dev_type(d);
            if (type != llama_h.GGML_BACKEND_DEVICE_TYPE_CPU && type != llama_h.GGML_BACKEND_DEVICE_TYPE_ACCEL) out.add(d);
        }
        if (out.isEmpty()) out.add(llama_h.ggml_backend_dev_by_type(llama_h.GGML_BACKEND_DEVICE_TYPE_CPU));
        return out;
    }
}
