package dev.llamajava.cli;

import dev.llamajava.ContextParams;
import dev.llamajava.Device;
import dev.llamajava.Llama;
import dev.llamajava.LlamaException;
import dev.llamajava.QuantSelector;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

import static dev.llamajava.cli.Main.out;

/** {@code llama-java select}: the quantization that fits a memory budget. */
@Command(name = "select", description = "Choose the quantization that fits a memory budget.", mixinStandardHelpOptions = true)
final class SelectCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "A folder of GGUF variants.")
    Path dir;
    @Option(names = "--budget", description = "Memory budget, e.g. 2G (default: the CPU device's free memory).")
    String budget;
    @Option(names = "--ctx", defaultValue = "4096", description = "Context size (default: ${DEFAULT-VALUE}).")
    int ctx;

    @Override
    public Integer call() {
        if (!Files.isDirectory(dir)) throw new LlamaException("not a folder of GGUF files: " + dir);
        long b = budget != null ? QuantSelector.parseSize(budget)
                : Llama.devices().stream().mapToLong(Device::memoryFree).max().orElse(0);
        QuantSelector.Selection s = QuantSelector.select(QuantSelector.fromDirectory(dir), b, ctx, ContextParams.KvCacheType.F16);
        out.print(s.table());
        return s.chosen() == null ? 1 : 0;
    }
}
