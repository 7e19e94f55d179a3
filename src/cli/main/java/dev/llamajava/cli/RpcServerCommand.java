package dev.llamajava.cli;

import dev.llamajava.RpcServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import static dev.llamajava.cli.Main.err;

/**
 * {@code llama-java rpc-server}: lends this machine's devices to llama.cpp RPC clients (llama.cpp's {@code rpc-server}
 * from Java), until the process is stopped.
 */
@Command(name = "rpc-server", description = "Serve this machine's devices to RPC clients (--rpc HOST:PORT elsewhere) until stopped.",
        mixinStandardHelpOptions = true)
final class RpcServerCommand implements Callable<Integer> {
    @Option(names = {"-H", "--host"}, defaultValue = "127.0.0.1", description = "Address to bind (default: ${DEFAULT-VALUE}). "
            + "The protocol has no authentication or encryption: only a trusted network.")
    String host;
    @Option(names = {"-p", "--port"}, defaultValue = "50052", description = "Port (default: ${DEFAULT-VALUE}).")
    int port;
    @Option(names = {"-t", "--threads"}, description = "Threads for the CPU device (default: half the cores).")
    Integer threads;
    @Option(names = {"-d", "--device"}, split = ",", description = "Devices to serve (default: every GPU, else the CPU).")
    List<String> devices = List.of();
    @Option(names = {"-c", "--cache"}, description = "Cache large tensors in this folder, so a client sends them once.")
    Path cache;

    @Override
    public Integer call() {
        if (!host.equals("127.0.0.1") && !host.equals("::1") && !host.equals("localhost")) {
            err.println("llama-java rpc-server: warning: serving on " + host + ": anyone who reaches this port can use the devices"
                    + " and read what they compute (no authentication, no encryption)");
        }
        int t = threads != null ? threads : Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
        RpcServer.serve(host, port, t, devices, cache); // returns only by throwing
        return 1;
    }
}
