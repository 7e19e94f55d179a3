package dev.llamajava.bench;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The model, threads and output files of the benchmarks that default to the synthetic 1B ({@link ClassifyBench}, {@link ParallelBench}). */
public final class SyntheticOptions {
    @Option(names = "--model", description = "A GGUF file (default: the synthetic Llama-3.2-1B-shaped model).")
    Path model;
    @Option(names = "--synthetic", defaultValue = "Q4_K_M", description = "Quantization of the synthetic model (default: ${DEFAULT-VALUE}).")
    String synthetic = "Q4_K_M";
    @Option(names = "--threads", defaultValue = "2", description = "Threads (default: ${DEFAULT-VALUE}).")
    int threads = 2;
    @Option(names = "--json", description = "Write JSON here.")
    Path json;
    @Option(names = "--markdown", description = "Write markdown here.")
    Path markdown;

    /** @return the model file: the option, else the cached synthetic model (written the first time) */
    Path file() {
        return model != null ? model : Bench.syntheticPath(synthetic);
    }
}
