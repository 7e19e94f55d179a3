package dev.llamajava.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

import static dev.llamajava.cli.Main.out;

/** {@code llama-java pull}: downloads a GGUF from Hugging Face. */
@Command(name = "pull", description = "Download a GGUF from Hugging Face (resumable, sha256-checked).", mixinStandardHelpOptions = true)
final class PullCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "hf:owner/repo[:QUANT]")
    String ref;

    @Override
    public Integer call() {
        out.println(ModelOption.pull(ref));
        return 0;
    }
}
