package dev.llamajava.cli;

import dev.llamajava.LlamaException;
import dev.llamajava.SyntheticModels;
import dev.llamajava.gguf.SyntheticModel;
import dev.llamajava.hub.HuggingFace;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.llamajava.cli.Main.err;

/** The {@code -m/--model} option (a mixin), and how a model given on the command line becomes a local file. */
final class ModelOption {

    @Option(names = {"-m", "--model"}, description = "GGUF file or hf:owner/repo[:QUANT] (default: the synthetic 1B model).")
    String model;

    /** @return the model file, downloaded or created when needed */
    Path resolve() {
        return resolve(model);
    }

    /**
     * @param spec a GGUF file, {@code hf:owner/repo[:QUANT]}, or null for the synthetic Llama-3.2-1B-shaped model
     * @return the local file
     */
    static Path resolve(String spec) {
        if (spec == null) {
            ProgressBar bar = new ProgressBar("creating the default model");
            Path p = SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, "Q4_K_M", (m, f) -> bar.update(f, m));
            err.println("llama-java: no --model given: using the synthetic Llama-3.2-1B-shaped model (random weights, its output is meaningless): " + p);
            return p;
        }
        if (spec.startsWith("hf:")) return pull(spec);
        Path p = Path.of(spec);
        if (!Files.exists(p)) throw new LlamaException("model file not found: " + p.toAbsolutePath());
        return p;
    }

    /**
     * @param ref {@code hf:owner/repo[:QUANT]}
     * @return the downloaded (or already cached) file
     */
    static Path pull(String ref) {
        ProgressBar bar = new ProgressBar("downloading");
        return HuggingFace.fromEnvironment().pull(HuggingFace.Ref.parse(ref), Long.MAX_VALUE, bar::bytes);
    }
}
