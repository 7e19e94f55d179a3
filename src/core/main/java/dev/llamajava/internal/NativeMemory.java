package dev.llamajava.internal;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Gives freed native memory back to the operating system after a model or a context is freed.
 *
 * <p>glibc's allocator keeps freed blocks below its mmap threshold in its heaps, and raises that threshold (up to
 * 32 MiB) each time a larger block is freed; llama.cpp's compute buffers and graph metadata are such blocks. A service
 * that loads and closes models or contexts would see its resident memory stay at its peak. {@code malloc_trim(0)}
 * returns every free page of every heap; it is called once per model or context free (about 0.1-1 ms), never on the
 * per-token path. On a C library without {@code malloc_trim} (musl, macOS, Windows) this does nothing.
 */
public final class NativeMemory {

    private static final MethodHandle MALLOC_TRIM = libc("malloc_trim", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));

    private NativeMemory() { }

    /**
     * @param name       a function of the C library the JVM runs on
     * @param descriptor its signature
     * @return a downcall handle for it, or null where the C library has no such function
     */
    static MethodHandle libc(String name, FunctionDescriptor descriptor) {
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find(name).map(s -> linker.downcallHandle(s, descriptor)).orElse(null);
        } catch (RuntimeException | Error e) {
            return null;
        }
    }

    /** Returns free heap pages to the operating system where the C library can (glibc's {@code malloc_trim}). */
    public static void trim() {
        if (MALLOC_TRIM == null) return;
        try {
            int ignored = (int) MALLOC_TRIM.invokeExact(0L);
        } catch (Throwable e) {
            // nothing to give back is not an error
        }
    }
}
