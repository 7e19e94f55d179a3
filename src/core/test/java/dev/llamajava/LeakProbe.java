package dev.llamajava;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * Child-JVM probe for {@link LeakTest}: {@code loads MODEL N} loads and closes a model (with a context) N times,
 * {@code contexts MODEL N} creates, uses and closes N contexts on one model; every twentieth of the run it prints
 * {@code RSS <bytes> LIVE <bytes>}: the resident set, and the bytes glibc's allocator has handed out and not had back
 * ({@code mallinfo2}: {@code uordblks + hblkhd}), which a leak raises and the allocator's own retention does not.
 */
public final class LeakProbe {
    private LeakProbe() { }

    /** {@code struct mallinfo2}: ten {@code size_t}. */
    static final StructLayout MALLINFO2 = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(10, ValueLayout.JAVA_LONG));
    static final MethodHandle MALLINFO = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("mallinfo2").orElseThrow(), FunctionDescriptor.of(MALLINFO2));

    static String point() throws Throwable {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = (MemorySegment) MALLINFO.invokeExact((SegmentAllocator) a);
            long live = m.getAtIndex(ValueLayout.JAVA_LONG, 7) + m.getAtIndex(ValueLayout.JAVA_LONG, 4);
            return "RSS " + LifecycleTest.Rss.now() + " LIVE " + live;
        }
    }

    public static void main(String[] args) throws Throwable {
        Path model = Path.of(args[1]);
        int n = Integer.parseInt(args[2]);
        int every = Math.max(1, n / 20);
        ContextParams p = ContextParams.builder().contextSize(256).build();
        if (args[0].equals("loads")) {
            for (int i = 0; i < n; i++) {
                try (LlamaModel m = LlamaModel.load(model); LlamaContext c = LlamaContext.create(m, p)) {
                    c.cachedTokens();
                }
                if (i % every == every - 1) System.out.println(point());
            }
            return;
        }
        try (LlamaModel m = LlamaModel.load(model)) {
            for (int i = 0; i < n; i++) {
                try (LlamaContext c = LlamaContext.create(m, p);
                     TokenStream ts = c.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(2).build())) {
                    ts.text();
                }
                if (i % every == every - 1) System.out.println(point());
            }
        }
    }
}
