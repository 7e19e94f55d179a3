package dev.llamajava.internal.loader;

import dev.llamajava.ffi.ggml_log_callback;
import dev.llamajava.ffi.llama_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Routes llama.cpp's and ggml's log into {@link System.Logger} {@code dev.llamajava.native}.
 * llama.cpp's INFO is chatty (dozens of lines per model load), so it maps to DEBUG; DEBUG maps to
 * TRACE; WARN and ERROR keep their level. Pieces without a newline are buffered per thread until the
 * line is complete. The upcall catches everything: an exception escaping it would end the JVM.
 */
final class NativeLog {

    static final System.Logger LOG = System.getLogger("dev.llamajava.native");
    private static final ThreadLocal<StringBuilder> PENDING = ThreadLocal.withInitial(StringBuilder::new);
    private static final ThreadLocal<int[]> PENDING_LEVEL = ThreadLocal.withInitial(() -> new int[]{llama_h.GGML_LOG_LEVEL_INFO});
    private static volatile String cpuVariant;
    private static volatile String cpuLine;
    private static volatile MemorySegment stub;

    private NativeLog() { }

    static synchronized void install() {
        if (stub != null) return;
        stub = ggml_log_callback.allocate(NativeLog::onLog, Arena.global());
        llama_h.llama_log_set(stub, MemorySegment.NULL);
    }

    private static final ThreadLocal<Boolean> QUIET = new ThreadLocal<>();

    /** While on, this thread's native warnings and errors are logged at DEBUG (they are reported another way). */
    static void quiet(boolean on) {
        if (on) QUIET.set(Boolean.TRUE); else QUIET.remove();
    }

    static String cpuVariant() { return cpuVariant; }

    static void setCpuVariant(String v, String line) {
        cpuVariant = v;
        cpuLine = line;
    }

    static String cpuLine() { return cpuLine; }

    private static void onLog(int level, MemorySegment text, MemorySegment userData) {
        try {
            String s = text.equals(MemorySegment.NULL) ? "" : text.reinterpret(1 << 20).getString(0);
            StringBuilder sb = PENDING.get();
            if (level != llama_h.GGML_LOG_LEVEL_CONT) {
                if (!sb.isEmpty()) flush(sb);
                PENDING_LEVEL.get()[0] = level;
            }
            sb.append(s);
            int nl;
            while ((nl = sb.indexOf("\n")) >= 0) {
                String line = sb.substring(0, nl);
                sb.delete(0, nl + 1);
                emit(PENDING_LEVEL.get()[0], line);
            }
        } catch (Throwable t) {
            // never let anything escape into native code
        }
    }

    private static void flush(StringBuilder sb) {
        emit(PENDING_LEVEL.get()[0], sb.toString());
        sb.setLength(0);
    }

    private static void emit(int level, String line) {
        if (line.isEmpty()) return;
        NativeLoader.noteLogLine(line);
        Natives.captured(level, line);
        System.Logger.Level l = QUIET.get() != null ? System.Logger.Level.DEBUG : switch (level) {
            case llama_h.GGML_LOG_LEVEL_ERROR -> System.Logger.Level.ERROR;
            case llama_h.GGML_LOG_LEVEL_WARN -> System.Logger.Level.WARNING;
            case llama_h.GGML_LOG_LEVEL_INFO -> System.Logger.Level.DEBUG;
            default -> System.Logger.Level.TRACE;
        };
        if (LOG.isLoggable(l)) LOG.log(l, line);
    }
}
