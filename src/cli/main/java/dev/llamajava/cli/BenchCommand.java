package dev.llamajava.cli;

import dev.llamajava.bench.Bench;
import dev.llamajava.bench.BenchOptions;
import dev.llamajava.bench.LlamaBench;
import dev.llamajava.bench.Tune;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import static dev.llamajava.cli.Main.out;

/** {@code llama-java bench}: the benchmark ({@link Bench}) on models given as on the rest of the command line. */
@Command(name = "bench", description = "Benchmark prompt and generation speed (optionally side by side with llama-bench).", mixinStandardHelpOptions = true)
final class BenchCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, description = "GGUF file or hf:owner/repo[:QUANT] (repeatable; default: the synthetic 1B model).")
    List<String> models = new ArrayList<>();
    @Option(names = "--quants", split = ",", description = "Synthetic 1B quantizations to bench, e.g. Q4_K_M,Q8_0.")
    List<String> quants = new ArrayList<>();
    @Option(names = "--compare-native", description = "Run llama.cpp's llama-bench side by side (path, or found in the build).", arity = "0..1", fallbackValue = "")
    String compare;
    @Option(names = "--tune", description = "Search threads, batch sizes, flash attention, KV type, load mode and CPU repacking "
            + "for the (first) model, against llama-bench's defaults measured in the same run.")
    boolean tune;
    @Option(names = "--write-profile", description = "With --tune: write the best settings here (run and chat read them with --profile).")
    Path profileOut;
    @Mixin
    BenchOptions options = new BenchOptions();

    @Override
    public Integer call() throws Exception {
        List<Path> files = new ArrayList<>();
        for (String m : models) files.add(ModelOption.resolve(m));
        if (models.isEmpty() && quants.isEmpty()) files.add(ModelOption.resolve(null));
        if (tune) {
            Path model = files.isEmpty() ? ModelOption.resolve(null) : files.getFirst();
            Tune.run(model, options, compare == null || compare.isEmpty() ? LlamaBench.find() : Path.of(compare), profileOut, out);
            return 0;
        }
        Path tool = compare == null ? null : compare.isEmpty() ? LlamaBench.find() : Path.of(compare);
        Bench.run(files, quants, tool, options, out);
        return 0;
    }
}
