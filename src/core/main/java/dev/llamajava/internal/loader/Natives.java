package dev.llamajava.internal.loader;

import dev.llamajava.ffi.llama_h;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.function.Consumer;

/**
 * Module-internal facade over the package-private loader (this package is not exported).
 * The high-level API calls {@link #ensureLoaded()} before it touches {@link llama_h}, so a loading
 * failure is always the same clear {@link dev.llamajava.NativeLibraryException}.
 */
public final class Natives {

    private Natives() { }

    /**
     * Loads the native libraries if needed.
     *
     * @throws dev.llamajava.NativeLibraryException when they cannot be found or loaded
     */
    public static void ensureLoaded() {
        NativeLoader.load();
    }

    /** @return the directory the libraries were loaded from */
    public static Path directory() { return NativeLoader.load().directory(); }

    /** @param name a library's base name, e.g. {@code ggml-rpc} @return its file in the natives folder (which may lack it) */
    public static Path library(String name) {
        return directory().resolve(NativeLoader.platform().file(name));
    }


    /** @return the CPU backend variant llama.cpp picked, e.g. {@code haswell}, or null when unknown */
    public static String cpuVariant() {
        NativeLoader.load();
        return NativeLoader.cpuVariant();
    }

    /** @return llama.cpp's log line that named the CPU backend it loaded, or null */
    public static String cpuBackendLogLine() {
        NativeLoader.load();
        return NativeLog.cpuLine();
    }

    /** @return the compute backend llama-java chose (CPU or CUDA) and why, e.g. {@code CPU (llama.backend=auto: ...)} */
    public static String backendChoice() {
        NativeLoader.load();
        return String.valueOf(NativeLoader.backendChoice);
    }

    /** @return CPU or CUDA */
    public static String backend() {
        NativeLoader.load();
        return NativeLoader.backendChoice == null ? "CPU" : NativeLoader.backendChoice.backend();
    }

    /** @return the build's properties (llama.cpp commit, variants), empty when unknown */
    public static Properties buildProperties() { return NativeLoader.buildProperties(); }


    /**
     * One native log line.
     *
     * @param level ggml log level
     * @param text  the line
     */
    public record Line(int level, String text) {
        /** @return whether it is a warning or an error */
        public boolean isProblem() {
            return level == llama_h.GGML_LOG_LEVEL_WARN || level == llama_h.GGML_LOG_LEVEL_ERROR;
        }
    }

    private static final ThreadLocal<List<Line>> CAPTURE = new ThreadLocal<>();

    /** Starts collecting this thread's native log lines. */
    public static void beginCapture() { CAPTURE.set(new ArrayList<>()); }

    /** @return the warning and error lines collected since {@link #beginCapture()}, and stops collecting */
    public static List<String> endCapture() {
        return endCaptureAll().stream().filter(Line::isProblem).map(Line::text).toList();
    }

    /** @return every line collected since {@link #beginCapture()}, and stops collecting */
    public static List<Line> endCaptureAll() {
        List<Line> l = CAPTURE.get();
        CAPTURE.remove();
        return l == null ? List.of() : l;
    }

    private static final ThreadLocal<Consumer<Line>> LISTENER = new ThreadLocal<>();

    /** @param listener receives this thread's native log lines as they come (null to stop); must not throw */
    public static void listen(Consumer<Line> listener) {
        if (listener == null) LISTENER.remove(); else LISTENER.set(listener);
    }

    static void captured(int level, String line) {
        List<Line> l = CAPTURE.get();
        if (l != null) l.add(new Line(level, line));
        Consumer<Line> c = LISTENER.get();
        if (c != null) c.accept(new Line(level, line));
    }
}
