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
    @Option(names = "--reps", defaultValue = "6", description = "Repetitions (default: ${DEFAULT-VALUE}, the fewest whose "
            + "interval on a median ratio covers it with 95%).")
    int reps = 6;
    @Option(names = "--max-reps", defaultValue = "0", description = "Beside llama-bench, go on to this many repetitions "
            + "(looking again each time the count doubles) until every ratio with a bar is decided; each look's interval "
            + "then covers with 1 - 0.05 / looks (default: only --reps).")
    int maxReps;
    @Option(names = "--tg-bar", defaultValue = "0.99", description = "The generation ratio against llama-bench to decide "
            + "(met, missed or undecided by its interval; 0: none; default: ${DEFAULT-VALUE}).")
    double tgBar = 0.99;
    @Option(names = "--pp-bar", defaultValue = "0", description = "The prompt ratio against llama-bench to decide (0: none; "
            + "default: ${DEFAULT-VALUE}).")
    double ppBar;
    @Option(names = "--inner", defaultValue = "1", description = "Runs per repetition on each side, averaged (llama-bench -r N; default: ${DEFAULT-VALUE}). "
            + "Fast models (a token in well under a millisecond) need several for a steady number.")
    int inner = 1;
    @Option(names = "--tune-pairs", defaultValue = "4", description = "With --tune: rounds in which each candidate setting "
            + "meets the best so far, back to back, alternating who goes first (default: ${DEFAULT-VALUE}).")
    int tunePairs = 4;
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
