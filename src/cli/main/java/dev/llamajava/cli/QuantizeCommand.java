package dev.llamajava.cli;

import dev.llamajava.Quantizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import static dev.llamajava.cli.Main.out;

/** {@code llama-java quantize}: llama.cpp's quantizer. */
@Command(name = "quantize", description = "Quantize a GGUF model with llama.cpp.", mixinStandardHelpOptions = true)
final class QuantizeCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "Input GGUF.")
    Path in;
    @Parameters(index = "1", description = "Output GGUF.")
    Path outFile;
    @Parameters(index = "2", description = "Type, e.g. Q4_K_M, Q8_0.")
    String type;
    @Option(names = "--threads", defaultValue = "0", description = "Threads, 0 = all.")
    int threads;

    @Override
    public Integer call() {
        ProgressBar bar = new ProgressBar("quantizing to " + type);
        Quantizer.quantize(in, outFile, type, new Quantizer.Options(threads, false, false, null, null), f -> bar.update(f, null));
        out.println("wrote " + outFile);
        return 0;
    }
}
