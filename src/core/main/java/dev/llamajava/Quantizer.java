package dev.llamajava;

import dev.llamajava.internal.loader.Natives;
import dev.llamajava.ffi.llama_h;
import dev.llamajava.ffi.llama_model_quantize_params;
import dev.llamajava.gguf.FileType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import dev.llamajava.gguf.GgmlType;
import java.util.regex.Pattern;
import java.util.function.DoubleConsumer;
import java.util.List;
import java.io.IOException;

/** Quantizes GGUF models with llama.cpp's {@code llama_model_quantize}. */
public final class Quantizer {

    private Quantizer() { }

    /**
     * Options.
     *
     * @param threads         threads, 0 for all cores
     * @param allowRequantize allow quantizing already-quantized tensors
     * @param pure            quantize every tensor to the target type (no k-quant mixtures)
     * @param outputType      type for output.weight, or null for llama.cpp's choice (a {@code GgmlType} name)
     * @param embeddingType   type for token_embd.weight, or null
     */
    public record Options(int threads, boolean allowRequantize, boolean pure, GgmlType outputType,
                          GgmlType embeddingType) {
        /** Validates. */
        public Options {
            if (threads < 0) throw new IllegalArgumentException("threads must be >= 0, was " + threads);
        }

        /** @return llama.cpp's defaults with all cores */
        public static Options defaults() {
            return new Options(0, false, false, null, null);
        }
    }

    /**
     * Quantizes {@code in} into {@code out}.
     *
     * @param in      a GGUF model (F32/F16/BF16, or quantized with {@code allowRequantize})
     * @param out     the file to write
     * @param type    a llama.cpp file type name such as {@code Q4_K_M}, {@code Q8_0}, {@code F16}
     * @param options options
     * @throws IllegalArgumentException when the type is unknown (the message lists the known ones)
     * @throws ModelLoadException       when {@code in} does not exist
     * @throws LlamaException           when llama.cpp fails (its reason in the message)
     */
    public static void quantize(Path in, Path out, String type, Options options) {
        quantize(in, out, type, options, null);
    }

    private static final Pattern TENSOR_PROGRESS = Pattern.compile("^\\[\\s*(\\d+)/\\s*(\\d+)\\]");

    /**
     * Quantizes {@code in} into {@code out}, reporting progress per tensor.
     *
     * @param in       a GGUF model
     * @param out      the file to write
     * @param type     a llama.cpp file type name such as {@code Q4_K_M}
     * @param options  options
     * @param progress called with the fraction of tensors done (from llama.cpp's per-tensor log), may be null
     * @throws IllegalArgumentException when the type is unknown (the message lists the known ones)
     * @throws ModelLoadException       when {@code in} does not exist
     * @throws LlamaException           when llama.cpp fails (its reason in the message)
     */
    public static void quantize(Path in, Path out, String type, Options options, DoubleConsumer progress) {
        Objects.requireNonNull(in, "in");
        Objects.requireNonNull(out, "out");
        Objects.requireNonNull(options, "options");
        int ftype = FileType.byName(type);
        if (!Files.isRegularFile(in)) throw new ModelLoadException(in, "Model file not found: " + in.toAbsolutePath());
        Natives.ensureLoaded();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = llama_h.llama_model_quantize_default_params(a);
            llama_model_quantize_params.nthread(p, options.threads());
            llama_model_quantize_params.ftype(p, ftype);
            llama_model_quantize_params.allow_requantize(p, options.allowRequantize());
            llama_model_quantize_params.pure(p, options.pure());
            if (options.outputType() != null) llama_model_quantize_params.output_tensor_type(p, options.outputType().id());
            if (options.embeddingType() != null) llama_model_quantize_params.token_embedding_type(p, options.embeddingType().id());
            Natives.beginCapture();
            if (progress != null) {
                Natives.listen(line -> {
                    var m = TENSOR_PROGRESS.matcher(line.text());
                    if (m.find()) {
                        try {
                            progress.accept(Double.parseDouble(m.group(1)) / Double.parseDouble(m.group(2)));
                        } catch (RuntimeException ignore) {
                            // a listener must not break the native call
                        }
                    }
                });
            }
            long rc;
            List<String> errors;
            try {
                rc = Integer.toUnsignedLong(llama_h.llama_model_quantize(a.allocateFrom(in.toAbsolutePath().toString()),
                        a.allocateFrom(out.toAbsolutePath().toString()), p));
            } finally {
                errors = Natives.endCapture();
                Natives.listen(null);
            }
            if (rc != 0) {
                try {
                    Files.deleteIfExists(out);
                } catch (IOException ignore) {
                    // best effort
                }
                throw new LlamaException("llama_model_quantize failed for " + in + " -> " + type + ": "
                        + (errors.isEmpty() ? "code " + rc : String.join("; ", errors)));
            }
        }
    }
}
