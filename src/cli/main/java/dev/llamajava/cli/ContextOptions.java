package dev.llamajava.cli;

import dev.llamajava.ContextParams;
import picocli.CommandLine.Option;

/** Context options (a mixin of run and chat). */
final class ContextOptions {
    @Option(names = "--ctx", defaultValue = "4096", description = "Context size in tokens (default: ${DEFAULT-VALUE}).")
    int ctx;
    @Option(names = "--threads", description = "Threads (default: all cores).")
    Integer threads;

    ContextParams params() {
        ContextParams.Builder b = ContextParams.builder().contextSize(ctx);
        if (threads != null) b.threads(threads).threadsBatch(threads);
        return b.build();
    }
}
