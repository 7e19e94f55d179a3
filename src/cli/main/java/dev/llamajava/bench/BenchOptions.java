package dev.llamajava.bench;

import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;

/** What the benchmark measures and where it writes its tables: options shared by {@link Bench} and {@code llama-java bench}. */
public final class BenchOptions {
    @Option(names = "--threads", description = "Threads (default: all cores).")
    Integer threads;
    @Option(names = "--pp", defaultValue = "512", description = "Prompt tokens (default: ${DEFAULT-VALUE}).")
    int pp = 512;
    @Option(names = "--tg", defaultValue = "128", description = "Generated tokens (default: ${DEFAULT-VALUE}).")
    int tg = 128;
    @Option(names = "--reps", defaultValue = "5", description = "Repetitions (default: ${DEFAULT-VALUE}).")
    int reps = 5;
    @Option(names = "--inner", defaultValue = "1", description = "Runs per repetition on each side, averaged (llama-bench -r N; default: ${DEFAULT-VALUE}). "
            + "Fast models (a token in well under a millisecond) need several for a steady number.")
    int inner = 1;
    @Option(names = "--gpu", description = "Offload every layer to the GPU (and run llama-bench with -ngl 99).")
    boolean gpu;
    @Option(names = "--rpc", split = ",", paramLabel = "HOST:PORT", description = "Split the layers across these RPC servers "
            + "(every layer offloaded; llama-java's side only: an rpc-server serves one client at a time, so llama-bench cannot share them).")
    List<String> rpc = List.of();
    @Option(names = "--json", description = "Write JSON here.")
    Path json;
    @Option(names = "--markdown", description = "Write markdown here.")
    Path markdown;

    /** @return the threads to use: the option, else every core */
    int threads() {
        return threads != null ? threads : Runtime.getRuntime().availableProcessors();
    }

    /** @return the backend's name in the tables */
    String backend() {
        return !rpc.isEmpty() ? "RPC" : gpu ? "CUDA" : "CPU";
    }
}
