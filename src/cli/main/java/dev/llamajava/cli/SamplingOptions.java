package dev.llamajava.cli;

import dev.llamajava.SamplerParams;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Sampling options (a mixin of run and chat). */
final class SamplingOptions {
    @Option(names = "--temp", description = "Temperature; 0 is greedy (default: ${DEFAULT-VALUE}).", defaultValue = "0.8")
    float temp;
    @Option(names = "--top-k", defaultValue = "40", description = "Top-k (default: ${DEFAULT-VALUE}).")
    int topK;
    @Option(names = "--top-p", defaultValue = "0.95", description = "Top-p (default: ${DEFAULT-VALUE}).")
    float topP;
    @Option(names = "--min-p", defaultValue = "0.05", description = "Min-p (default: ${DEFAULT-VALUE}).")
    float minP;
    @Option(names = "--repeat-penalty", defaultValue = "1.0", description = "Repetition penalty (default: ${DEFAULT-VALUE}).")
    float repeat;
    @Option(names = "--seed", defaultValue = "-1", description = "Seed; -1 random (default: ${DEFAULT-VALUE}).")
    int seed;
    @Option(names = "--grammar-file", description = "GBNF grammar file.")
    Path grammar;

    SamplerParams params() {
        try {
            SamplerParams.Builder b = SamplerParams.builder().temperature(temp).topK(topK).topP(topP).minP(minP)
                    .penalties(64, repeat, 0, 0).seed(seed);
            if (grammar != null) b.grammar(Files.readString(grammar));
            return b.build();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
