package dev.llamajava.cli;

import dev.llamajava.ContextParams;
import dev.llamajava.ModelParams;
import dev.llamajava.bench.TuneProfile;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;

/** Context options (a mixin of run and chat), and the tuning profile that sets them. */
final class ContextOptions {
    @Option(names = "--ctx", defaultValue = "4096", description = "Context size in tokens (default: ${DEFAULT-VALUE}).")
    int ctx;
    @Option(names = "--threads", description = "Threads (default: all cores, or the profile's).")
    Integer threads;
    @Option(names = "--profile", description = "Settings written by `bench --tune --write-profile` (threads, batch sizes, "
            + "flash attention, KV type, load mode, CPU repacking, huge pages).")
    Path profile;
    @Option(names = "--no-huge-pages", description = "Keep the weights in 4 KiB pages (default: transparent huge pages where "
            + "the kernel offers them, which speeds up CPU decoding).")
    boolean noHugePages;
    @Option(names = "--rpc", split = ",", paramLabel = "HOST:PORT", description = "RPC servers (llama-java rpc-server or llama.cpp's "
            + "rpc-server) whose devices take the layers, comma-separated.")
    List<String> rpc = List.of();

    private TuneProfile loaded() {
        if (profile == null) return null;
        try {
            return TuneProfile.read(profile);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the profile " + profile + ": " + e.getMessage(), e);
        }
    }

    ContextParams params() {
        TuneProfile p = loaded();
        ContextParams.Builder b = p != null ? p.contextParams(ctx).toBuilder() : ContextParams.builder().contextSize(ctx);
        if (threads != null) b.threads(threads).threadsBatch(threads);
        return b.build();
    }

    ModelParams modelParams() {
        TuneProfile p = loaded();
        ModelParams.Builder b = (p != null ? p.modelParams() : ModelParams.defaults()).toBuilder().rpcServers(rpc);
        if (noHugePages) b.hugePages(false);
        return b.build();
    }
}
