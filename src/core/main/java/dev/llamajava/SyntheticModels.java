package dev.llamajava;

import dev.llamajava.gguf.SyntheticModel;
import dev.llamajava.internal.Settings;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.function.BiConsumer;
import java.util.function.DoubleConsumer;

/**
 * Synthetic Llama-shaped models (random weights, real Llama 3 tokenizer), written once and cached under
 * {@code <cache>/models/} keyed by shape, seed and quantization, so benchmarks never rebuild them.
 */
public final class SyntheticModels {

    private SyntheticModels() { }

    /** @return the folder for synthetic models: {@code -Dllama.models.dir} / {@code LLAMA_JAVA_MODELS_DIR}, else {@code <cache>/models} */
    public static Path cacheDir() {
        return Settings.MODELS_DIR.path();
    }

    /**
     * @return llama.cpp's {@code ggml-vocab-llama-bpe.gguf}: {@code -Dllama.vocab.gguf}, else under {@code -Dllama.cpp.source},
     *         else in the pinned llama.cpp clone of the cache (its commit is the one the natives were built from)
     * @throws IllegalStateException when it cannot be found
     */
    public static Path llama3Vocab() {
        Path explicit = Settings.VOCAB_GGUF.path();
        if (explicit != null) return explicit;
        Path src = Settings.LLAMA_CPP_SOURCE.path();
        if (src == null) {
            String commit = Llama.buildInfo().getProperty("llama.cpp.commit", "");
            src = Settings.CACHE_DIR.path().resolve("src").resolve(commit);
        }
        Path p = src.resolve("models").resolve("ggml-vocab-llama-bpe.gguf");
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException("the Llama 3 vocabulary " + p + " is missing; run ci/build-native (it fetches the pinned llama.cpp), "
                    + "or set " + Settings.VOCAB_GGUF.names() + " or " + Settings.LLAMA_CPP_SOURCE.names());
        }
        return p;
    }

    /**
     * Returns the cached model, writing (F16) and quantizing it first when missing.
     *
     * @param shape    the shape
     * @param seed     weight seed
     * @param quant    file type name, e.g. {@code Q4_K_M}, {@code Q8_0}, {@code F16}
     * @param progress called with a message and fraction while work runs, may be null
     * @return the GGUF path
     * @throws UncheckedIOException on I/O failure
     */
    public static synchronized Path cached(SyntheticModel.Shape shape, long seed, String quant, BiConsumer<String, Double> progress) {
        String key = shape.layers() + "L" + shape.embd() + "-" + Long.toHexString(seed);
        String base = (shape == SyntheticModel.LLAMA_3_2_1B ? "llama-3.2-1b-synthetic" : "synthetic-" + key) + "-" + key;
        Path dir = cacheDir();
        Path f16 = dir.resolve(base + "-F16.gguf");
        Path out = dir.resolve(base + "-" + quant.toUpperCase(Locale.ROOT) + ".gguf");
        try {
            Files.createDirectories(dir);
            if (Files.isRegularFile(out)) return out;
            // one writer at a time, across threads and processes (test JVMs, the bench): the others wait, then reuse
            try (FileChannel ch = FileChannel.open(dir.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock ignored = lock(ch)) {
                if (Files.isRegularFile(out)) return out;
                if (!Files.isRegularFile(f16)) {
                    DoubleConsumer p = progress == null ? null : f -> progress.accept("writing " + f16.getFileName(), f);
                    SyntheticModel.writeF16(f16, shape, seed, llama3Vocab(), p);
                }
                if (quant.equalsIgnoreCase("F16")) return f16;
                if (progress != null) progress.accept("quantizing to " + quant, 0.0);
                Path part = dir.resolve(out.getFileName() + ".part");
                Quantizer.quantize(f16, part, quant, Quantizer.Options.defaults());
                Files.move(part, out, StandardCopyOption.ATOMIC_MOVE);
                if (progress != null) progress.accept("quantizing to " + quant, 1.0);
                return out;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A lock across processes; threads of one JVM are serialised by {@code cached} being synchronized. */
    private static FileLock lock(FileChannel ch) throws IOException {
        return ch.lock();
    }
}
