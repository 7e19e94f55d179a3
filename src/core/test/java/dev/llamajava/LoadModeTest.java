package dev.llamajava;

import dev.llamajava.internal.CpuRepack;
import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The default load mode on a CPU: a file whose weights llama.cpp repacks is read, not mapped (llama.cpp's own log line
 * says which mode it used, and its buffers show the weights held once); other files stay mapped; an explicit mode is
 * kept. In child JVMs, the read file's peak resident memory is lower by about the repacked bytes, for the same tokens.
 */
class LoadModeTest {

    static final Pattern MODE = Pattern.compile("load_tensors: loading model tensors, this can take a while\\.\\.\\. \\(load_mode = (\\w+)\\)");

    /** Loads a model and returns the load mode llama.cpp logged, with its weight buffers. */
    static Map.Entry<String, Map<String, Long>> load(Path model, ModelParams params) {
        List<String> lines = new CopyOnWriteArrayList<>();
        Handler h = new Handler() {
            @Override public void publish(LogRecord r) { if (r.getMessage() != null) lines.add(r.getMessage()); }
            @Override public void flush() { }
            @Override public void close() { }
        };
        Logger jul = Logger.getLogger("dev.llamajava.native");
        Level before = jul.getLevel();
        jul.setLevel(Level.ALL);
        h.setLevel(Level.ALL);
        jul.addHandler(h);
        try (LlamaModel m = LlamaModel.load(model, params)) {
            String mode = lines.stream().map(MODE::matcher).filter(Matcher::find).map(x -> x.group(1)).findFirst().orElse("(not logged)");
            return Map.entry(mode, m.weightBuffers());
        } finally {
            jul.removeHandler(h);
            jul.setLevel(before);
        }
    }

    @Test
    void repackedWeightsAreReadOnceOnTheCpu() throws Exception {
        Path q4 = SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, "Q4_K_M", null);
        ModelParams cpu = ModelParams.builder().gpuLayers(0).build();
        var auto = load(q4, cpu);
        assertEquals("none", auto.getKey(), "llama.cpp's load mode for the default on a CPU");
        // AVX2 repacks into CPU_REPACK; AMX CPUs take more weights into their AMX buffer
        String copy = CpuRepack.amx() ? "AMX" : "CPU_REPACK";
        assertTrue(auto.getValue().containsKey(copy) && !auto.getValue().containsKey("CPU_Mapped"), auto.getValue().toString());
        long held = auto.getValue().values().stream().mapToLong(Long::longValue).sum();
        // the weights are held once: llama.cpp's buffers add up to the file (its tensors; the header is under 8 MB),
        // plus, on AMX, the output matmul's copy of the tied embedding and AMX's per-block extras (2.8% of Q4_K)
        QuantSelector.Variant v = QuantSelector.Variant.of(q4);
        long expected = Files.size(q4) + v.tiedOutputCopyBytes();
        assertEquals(expected, held, 8_000_000L + (CpuRepack.amx() ? Files.size(q4) / 30 : 0), "bytes of weights held: " + auto.getValue());
        var mapped = load(q4, ModelParams.builder().gpuLayers(0).loadMode(ModelParams.LoadMode.MMAP).build());
        assertEquals("mmap", mapped.getKey());
        assertTrue(mapped.getValue().containsKey("CPU_Mapped") && mapped.getValue().containsKey(copy), mapped.getValue().toString());
        // F32 weights are never repacked: the file stays mapped
        var stories = load(TestSupport.stories260K(), cpu);
        assertEquals("mmap", stories.getKey());
        assertFalse(stories.getValue().containsKey("CPU_REPACK") || stories.getValue().containsKey("AMX"), stories.getValue().toString());
    }

    @Test
    void readingLowersPeakMemoryForTheSameTokens() throws Exception {
        Path q4 = SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, "Q4_K_M", null);
        String cp = System.getProperty("java.class.path");
        List<String> jvm = List.of("-Xmx256m", "-Dllama.backend=cpu");
        var read = TestSupport.run(TestSupport.javaCommand(cp, jvm, "dev.llamajava.RssProbe", q4.toString(), "AUTO"), null, null, 300);
        var map = TestSupport.run(TestSupport.javaCommand(cp, jvm, "dev.llamajava.RssProbe", q4.toString(), "MMAP"), null, null, 300);
        assertEquals(0, read.exit(), read.stderr());
        assertEquals(0, map.exit(), map.stderr());
        assertEquals(line(map.stdout(), "IDS"), line(read.stdout(), "IDS"), "the same greedy tokens either way");
        long peakRead = Long.parseLong(line(read.stdout(), "PEAK")), peakMap = Long.parseLong(line(map.stdout(), "PEAK"));
        System.out.printf("peak RSS, synthetic 1B Q4_K_M on the CPU: read %d MB, mapped %d MB%n", peakRead >> 20, peakMap >> 20);
        // the repacked Q4_K layers are 467 MB; mapped, their pages are resident beside the interleaved copy
        assertTrue(peakMap - peakRead > 300L << 20, "read " + (peakRead >> 20) + " MB vs mapped " + (peakMap >> 20) + " MB");
    }

    static String line(String out, String key) {
        return out.lines().filter(l -> l.startsWith(key + " ")).map(l -> l.substring(key.length() + 1)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + key + " line in: " + out));
    }
}
