package dev.llamajava.internal;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Every setting of llama-java, declared once: its system property, its environment variable and its default.
 * A system property wins over the environment variable; blank values count as unset. Read them here, nowhere else.
 */
public final class Settings {

    private Settings() { }

    /**
     * One setting.
     *
     * @param property    the system property
     * @param env         the environment variable, or null
     * @param fallback    the default, or a supplier of null when there is none
     * @param description what it does (for error messages and documentation)
     */
    public record Setting(String property, String env, Supplier<String> fallback, String description) {

        /** @return the configured value (property, then environment), or empty when neither is set */
        public Optional<String> explicit() {
            return Optional.ofNullable(lookup(property, env));
        }

        /** @return the configured value, else the default (null when there is none) */
        public String get() {
            String v = lookup(property, env);
            return v != null ? v : fallback.get();
        }

        /** @return {@link #get()} as an absolute path, or null */
        public Path path() {
            String v = get();
            return v == null ? null : Path.of(v).toAbsolutePath();
        }

        /**
         * Reads a setting whose values are {@code auto}, {@code on} and {@code off}.
         *
         * @param auto what {@code auto} (and no value) means here
         * @return whether it is on
         * @throws IllegalArgumentException when the value is none of the three
         */
        public boolean onOff(boolean auto) {
            String v = get();
            return switch (v == null ? "auto" : v.trim()) {
                case "on" -> true;
                case "off" -> false;
                case "auto" -> auto;
                default -> throw new IllegalArgumentException(property + " / " + env + " must be auto, on or off, was '" + v + "'");
            };
        }

        /** @return how a user sets it, e.g. {@code -Dllama.backend / LLAMA_BACKEND} */
        public String names() {
            return "-D" + property + (env == null ? "" : " / " + env);
        }
    }

    /** The one property-or-environment lookup: the system property, else the environment variable, else null. */
    public static String lookup(String property, String env) {
        String v = property == null ? null : System.getProperty(property);
        if ((v == null || v.isBlank()) && env != null) v = System.getenv(env);
        return v == null || v.isBlank() ? null : v;
    }

    private static String home() {
        return System.getProperty("user.home");
    }

    /** llama-java's cache folder: extracted natives, synthetic models. */
    public static final Setting CACHE_DIR = new Setting("llama.cache.dir", "LLAMA_JAVA_CACHE_DIR", () -> {
        String xdg = System.getenv("XDG_CACHE_HOME");
        return (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(home(), ".cache")).resolve("llama-java").toString();
    }, "llama-java's cache folder (natives, synthetic models)");

    /** Where synthetic models are written and reused. */
    public static final Setting MODELS_DIR = new Setting("llama.models.dir", "LLAMA_JAVA_MODELS_DIR",
            () -> Path.of(CACHE_DIR.get(), "models").toString(), "the synthetic-model cache");

    /** A folder holding the native libraries, used instead of the natives jar. */
    public static final Setting LIBRARY_PATH = new Setting("llama.library.path", "LLAMA_LIBRARY_PATH", () -> null,
            "a folder with the native libraries");

    /** A folder holding libggml-cuda.so, used instead of the CUDA natives jar. */
    public static final Setting CUDA_LIBRARY_PATH = new Setting("llama.cuda.library.path", "LLAMA_CUDA_LIBRARY_PATH", () -> null,
            "a folder with libggml-cuda.so");

    /** The compute backend: auto, cpu or cuda. */
    public static final Setting BACKEND = new Setting("llama.backend", "LLAMA_BACKEND", () -> "auto",
            "compute backend: auto, cpu or cuda");

    /**
     * Picking tokens inside the decode's graph (the logits never leave it): auto (llama.cpp's samplers when the output
     * layer is on a GPU or an RPC server, llama-java's ops on a CPU for large vocabularies), on (llama.cpp's samplers
     * everywhere), off.
     */
    public static final Setting BACKEND_SAMPLING = new Setting("llama.sampling.backend", "LLAMA_BACKEND_SAMPLING", () -> "auto",
            "picking tokens in the decode's graph: auto (llama.cpp's samplers when the output layer is on a GPU or an RPC server, "
                    + "llama-java's ops on a CPU for vocabularies of 32,768 tokens or more), on (llama.cpp's samplers everywhere) or off");

    /**
     * Decoding a stream's token before handing it over: auto (when the output layer is on a GPU or an RPC server, where
     * {@code llama_decode} returns before the device is done), on, off.
     */
    public static final Setting DECODE_AHEAD = new Setting("llama.decode.ahead", "LLAMA_DECODE_AHEAD", () -> "auto",
            "a stream starts decoding its token before handing it over: auto (when the output layer is on a GPU or an RPC server), on or off");

    /** How long connecting to an RPC server and its handshake may take, in seconds, before a load fails. */
    public static final Setting RPC_TIMEOUT = new Setting("llama.rpc.timeout", "LLAMA_RPC_TIMEOUT", () -> "10",
            "seconds an RPC server has to accept a connection and answer the handshake");

    /** A checkout of llama.cpp (its vocabulary files feed the synthetic models). */
    public static final Setting LLAMA_CPP_SOURCE = new Setting("llama.cpp.source", "LLAMA_CPP_SOURCE_DIR", () -> null,
            "a llama.cpp source tree");

    /** The Llama 3 vocabulary GGUF copied into synthetic models. */
    public static final Setting VOCAB_GGUF = new Setting("llama.vocab.gguf", "LLAMA_JAVA_VOCAB_GGUF", () -> null,
            "llama.cpp's models/ggml-vocab-llama-bpe.gguf");

    /** llama.cpp's reference tools (llama-bench, llama-simple, ...), for benchmarks and tests. */
    public static final Setting TOOLS_DIR = new Setting("llama.tools.dir", "LLAMA_TOOLS_DIR", () -> null,
            "the folder of llama.cpp's tools (llama-bench)");

    /** llama.cpp's llama-bench executable for {@code bench --compare-native}. */
    public static final Setting LLAMA_BENCH = new Setting("llama.bench", "LLAMA_BENCH", () -> null, "the llama-bench executable");

    /** The Hugging Face endpoint. */
    public static final Setting HF_ENDPOINT = new Setting("hf.endpoint", "HF_ENDPOINT", () -> "https://huggingface.co",
            "the Hugging Face endpoint");

    /** The Hugging Face token. */
    public static final Setting HF_TOKEN = new Setting("hf.token", "HF_TOKEN", () -> null, "the Hugging Face access token");

    /** The Hugging Face home (its cache is {@code <home>/hub}). */
    public static final Setting HF_HOME = new Setting("hf.home", "HF_HOME",
            () -> Path.of(home(), ".cache", "huggingface").toString(), "the Hugging Face home folder");

    /** @return every setting, for documentation and diagnostics */
    public static List<Setting> all() {
        return List.of(CACHE_DIR, MODELS_DIR, LIBRARY_PATH, CUDA_LIBRARY_PATH, BACKEND, BACKEND_SAMPLING, RPC_TIMEOUT, LLAMA_CPP_SOURCE, VOCAB_GGUF, TOOLS_DIR, LLAMA_BENCH, HF_ENDPOINT, HF_TOKEN, HF_HOME);
    }
}
