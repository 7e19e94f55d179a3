package dev.llamajava;

import dev.llamajava.gguf.SyntheticModel;
import dev.llamajava.internal.HugePages;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Weights read into memory get transparent huge pages where the kernel offers them, counted by the kernel itself
 * ({@code AnonHugePages} in {@code /proc/self/smaps_rollup}); without {@code hugePages} they do not; the default load
 * of a large non-repacked file is a read on such a kernel, and the tokens are the same either way.
 */
class HugePagesTest {

    static long anonHugePages() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/smaps_rollup"))) {
            if (line.startsWith("AnonHugePages:")) return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
        }
        throw new AssertionError("no AnonHugePages line in /proc/self/smaps_rollup");
    }

    /** Whether the kernel backs advised anonymous memory with huge pages, read from sysfs here, not from the library. */
    static boolean kernelOffersThp() throws Exception {
        Path enabled = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");
        if (!Files.exists(enabled)) return false;
        String mode = Files.readString(enabled);
        return mode.contains("[always]") || mode.contains("[madvise]");
    }

    record Loaded(long hugeBytes, Map<String, Long> buffers, String text) { }

    static Loaded load(Path model, ModelParams params) throws Exception {
        long before = anonHugePages();
        try (LlamaModel m = LlamaModel.load(model, params);
             LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(64).threads(2).build())) {
            long huge = anonHugePages() - before;
            GenerationParams g = GenerationParams.builder().sampler(SamplerParams.greedy()).maxTokens(8).build();
            return new Loaded(huge, m.weightBuffers(), ctx.generate("The capital of France is", g).text());
        }
    }

    @Test
    void weightsReadIntoMemoryGetHugePages() throws Exception {
        assertEquals(kernelOffersThp(), HugePages.available(), "the library's view of the kernel's THP mode");
        Path q8 = SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, "Q8_0", null);
        Loaded auto = load(q8, ModelParams.builder().gpuLayers(0).build());
        Loaded plain = load(q8, ModelParams.builder().gpuLayers(0).loadMode(ModelParams.LoadMode.NONE).hugePages(false).build());
        long weights = auto.buffers().values().stream().mapToLong(Long::longValue).sum();
        System.out.printf("synthetic 1B Q8_0 on the CPU, %d MB of weights: %d MB in huge pages by default, %d MB without%n",
                weights >> 20, auto.hugeBytes() >> 20, plain.hugeBytes() >> 20);
        assertEquals(auto.text(), plain.text(), "the same greedy tokens with and without huge pages");
        assertTrue(plain.hugeBytes() < weights / 10, "hugePages(false): " + (plain.hugeBytes() >> 20) + " MB of huge pages for "
                + (weights >> 20) + " MB of weights");
        if (kernelOffersThp()) {
            // the default reads a non-repacked file of this size (mapped, it would be "CPU_Mapped") into huge pages
            assertFalse(auto.buffers().containsKey("CPU_Mapped"), auto.buffers().toString());
            assertTrue(auto.hugeBytes() > weights * 6 / 10, "default: " + (auto.hugeBytes() >> 20) + " MB of huge pages for "
                    + (weights >> 20) + " MB of weights " + auto.buffers());
        } else {
            assertTrue(auto.buffers().containsKey("CPU_Mapped"), "no THP here: the file stays mapped " + auto.buffers());
        }
        // a file too small to gain anything stays mapped (stories260K, F32, 1 MB)
        try (LlamaModel small = LlamaModel.load(TestSupport.stories260K(), ModelParams.builder().gpuLayers(0).build())) {
            assertTrue(small.weightBuffers().containsKey("CPU_Mapped"), small.weightBuffers().toString());
        }
    }

    @Test
    void onlyNewRangesAreLeft() {
        // /proc/self/maps lines: an anonymous rw mapping, a file mapping, a named anonymous one, a read-only one
        String maps = """
                7f0000000000-7f0004000000 rw-p 00000000 00:00 0 \s
                7f0004000000-7f0004100000 r-xp 00000000 08:01 1234                       /usr/lib/libc.so.6
                7f0005000000-7f0006000000 rw-p 00000000 00:00 0                          [heap]
                7f0007000000-7f0008000000 r--p 00000000 00:00 0 \s
                """;
        assertEquals(List.of(new HugePages.Range(0x7f0000000000L, 0x7f0004000000L)), HugePages.parse(maps, true));
        assertEquals(4, HugePages.parse(maps, false).size());
        var now = List.of(new HugePages.Range(0x1000, 0x9000), new HugePages.Range(0x10000, 0x20000));
        var before = List.of(new HugePages.Range(0x2000, 0x3000), new HugePages.Range(0x8000, 0x11000), new HugePages.Range(0x18000, 0x20000));
        assertEquals(List.of(new HugePages.Range(0x1000, 0x2000), new HugePages.Range(0x3000, 0x8000), new HugePages.Range(0x11000, 0x18000)),
                HugePages.subtract(now, before));
        assertEquals(now, HugePages.subtract(now, List.of()));
        assertEquals(List.of(), HugePages.subtract(now, List.of(new HugePages.Range(0, 0x30000))));
    }
}
