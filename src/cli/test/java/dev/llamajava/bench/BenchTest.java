package dev.llamajava.bench;

import dev.llamajava.internal.CpuRepack;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llamajava.GenerationResult;
import dev.llamajava.ModelParams;
import dev.llamajava.StopReason;
import dev.llamajava.TestSupport;
import dev.llamajava.bench.Bench.Decision;
import dev.llamajava.bench.Bench.Ratio;
import dev.llamajava.bench.Bench.Row;
import dev.llamajava.bench.Bench.Stat;
import dev.llamajava.bench.Bench.Verdict;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bench's arithmetic on recorded numbers, its llama-bench parser on recorded output, its reports, and one tiny end-to-end run. */
class BenchTest {

    static final ObjectMapper JSON = new ObjectMapper();

    /** A profile written before huge pages were searched (no huge_pages field) loads with the library's default: on. */
    @Test
    void readsProfilesWithAndWithoutHugePages() throws Exception {
        Path dir = Files.createTempDirectory("profiles");
        String old = "{\"threads\": 2, \"threads_batch\": 2, \"batch\": 2048, \"ubatch\": 512, \"flash_attention\": \"AUTO\","
                + " \"kv_type\": \"F16\", \"load_mode\": \"NONE\", \"cpu_repack\": false}";
        Path before = Files.writeString(dir.resolve("old.json"), old);
        TuneProfile p = TuneProfile.read(before);
        assertTrue(p.hugePages() && !p.cpuRepack() && p.loadMode() == ModelParams.LoadMode.NONE, p.toString());
        assertTrue(ModelParams.defaults().hugePages());
        Path off = Files.writeString(dir.resolve("off.json"), old.replace("}", ", \"huge_pages\": false}"));
        assertEquals(p.withHugePages(false), TuneProfile.read(off));
        Path written = Files.writeString(dir.resolve("written.json"), p.withHugePages(false).json().toString());
        assertEquals(p.withHugePages(false), TuneProfile.read(written));
    }

    @Test
    void medianMinMax() {
        assertEquals(new Stat(3, 1, 9, 2.0 / 3), Stat.of(new double[]{9, 1, 3}));
        assertEquals(new Stat(2.5, 1, 4, 1.0 / 2.5), Stat.of(new double[]{4, 1, 2, 3}));
        assertEquals(new Stat(7, 7, 7, 0), Stat.of(new double[]{7}));
        assertThrows(IllegalArgumentException.class, () -> Stat.of(new double[0]));
    }

    @Test
    void tokensPerSecondFromRecordedTimings() {
        // 512 prompt tokens decoded in 7.212308336 s (a llama-bench pp512 sample on this machine)
        assertEquals(70.9898, Bench.tokensPerSecond(512, 7_212_308_336L), 1e-4);
        assertEquals(25.0, Bench.tokensPerSecond(128, 5_120_000_000L), 1e-9);
        assertThrows(IllegalArgumentException.class, () -> Bench.tokensPerSecond(1, 0));
    }

    @Test
    void ttftAndOverheadFromRecordedTimings() {
        // a generation: first token at 300 ms, 129 tokens, 5.2 s after the first, 5.1 s in decode, 0.03 s sampling,
        // 0.01 s fetching logits, 0.02 s for text and 0.005 s for stop strings
        var r = new GenerationResult(20, 129, 300_000_000L, 290_000_000L, 5_200_000_000L,
                StopReason.MAX_TOKENS, "", 5_100_000_000L, 30_000_000L, 10_000_000L, 20_000_000L, 5_000_000L, 0L);
        assertEquals(128 / 5.2, r.generationTokensPerSecond(), 1e-9);
        assertEquals(60_000_000.0 / 128, r.overheadNanosPerToken(), 1e-6);
        assertEquals(100_000_000.0 / 128, r.outsideDecodeNanosPerToken(), 1e-6);
        assertEquals(List.of("logits", "sample", "piece", "stop", "plumbing"), List.copyOf(r.perTokenBreakdown().keySet()));
        assertEquals(35_000_000.0 / 128, r.perTokenBreakdown().get("plumbing"), 1e-6);
        assertEquals(20 / 0.29, r.promptTokensPerSecond(), 1e-9);
    }

    @Test
    void parsesRecordedLlamaBenchJson() throws Exception {
        String json;
        try (InputStream in = BenchTest.class.getResourceAsStream("/llama-bench-sample.json")) {
            json = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        LlamaBench.Averages n = LlamaBench.parse(json);
        // the avg_ts llama-bench wrote for its pp16 and tg4 records
        assertEquals(46.458794, n.pp(), 0);
        assertEquals(21.138731, n.tg(), 0);
    }

    @Test
    void llamaBenchJsonWithoutATestOrNotAnArray() {
        LlamaBench.Averages onlyPp = LlamaBench.parse("[{\"n_prompt\": 512, \"n_gen\": 0, \"avg_ts\": 1.5e2}]");
        assertEquals(150.0, onlyPp.pp(), 0);
        assertTrue(Double.isNaN(onlyPp.tg()));
        assertTrue(Double.isNaN(LlamaBench.parse("[]").pp()));
        assertThrows(IllegalArgumentException.class, () -> LlamaBench.parse("{\"n_prompt\": 512}"));
        assertThrows(IllegalArgumentException.class, () -> LlamaBench.parse("llama-bench: error"));
        // GNU time's -f %M output (KiB), also after a "Command exited with non-zero status" line
        assertEquals(1_611_204, LlamaBench.peakKib("1611204\n"));
        assertEquals(2_048, LlamaBench.peakKib("Command exited with non-zero status 1\n2048\n"));
        assertEquals(-1, LlamaBench.peakKib(""));
    }

    static Row row(String model, Double nativePp, Double ppRatio) {
        Stat s = new Stat(2, 1, 3);
        Ratio ratio = ppRatio == null ? null : new Ratio(ppRatio, ppRatio - 0.5, ppRatio + 0.5, 0.96);
        return new Row(model, "Q8_0", 2_000_000_000L, 1_000_000_000L, 4, 640, s, s, s, 12.5, Double.NaN, 7.25, s, 3_000_000_000L,
                nativePp == null ? null : new Stat(nativePp, nativePp - 1, nativePp + 1), null, ratio, null, 6,
                ratio == null ? null : Decision.of(ratio, 0.95, 0.95), null,
                Map.of("logits", 1.0, "total", 2.5), null, Map.of("KV cache", 1L << 20, "peak RSS", 3L << 30));
    }

    @Test
    void ratioIntervalFromOrderStatistics() {
        // 5 repetitions: no narrower interval than min..max, which covers the median with 1 - 2/32
        Ratio five = Ratio.of(new double[]{1.0, 0.9, 1.1, 0.95, 1.05}, new double[]{1, 1, 1, 1, 1});
        assertEquals(new Ratio(1.0, 0.9, 1.1, 1 - 2.0 / 32), five);
        // 9 repetitions: the 2nd and 8th order statistics, coverage 1 - 2 * (1 + 9) / 512
        double[] ours = {9, 1, 8, 2, 7, 3, 6, 4, 5}, ones = new double[9];
        Arrays.fill(ones, 1);
        assertEquals(new Ratio(5, 2, 8, 1 - 2 * 10.0 / 512), Ratio.of(ours, ones));
        // the ratio is per repetition: ours over theirs measured back to back
        assertEquals(0.5, Ratio.of(new double[]{1, 2, 3}, new double[]{2, 4, 6}).median(), 0);
        assertEquals(5.0 / 16, Ratio.binomialCdf(4, 1), 1e-12);
        assertEquals(1.0, Ratio.binomialCdf(6, 6), 1e-12);
        // a higher level widens the interval: 9 repetitions at 98.3% need the 1st and 9th (coverage 1 - 2 / 512)
        assertEquals(new Ratio(5, 1, 9, 1 - 2.0 / 512), Ratio.of(ours, ones, 1 - 0.05 / 3));
    }

    @Test
    void spreadIsTheMedianAbsoluteDeviationOverTheMedian() {
        // median 10; deviations 0, 1, 1, 2, 10: their median 1, so a spread of 10%
        Stat s = Stat.of(new double[]{10, 9, 11, 8, 20});
        assertEquals(new Stat(10, 8, 20, 0.1), s);
        assertEquals(0.0, Stat.of(new double[]{4, 4, 4}).spread(), 0);
        assertTrue(Double.isNaN(new Stat(1, 1, 1).spread()));
    }

    @Test
    void barsAreDecidedByTheIntervalAtEachLook() {
        // looks: the first count, doubling, and the maximum
        assertArrayEquals(new int[]{7, 14, 28}, Bench.Looks.of(7, 28).at());
        assertArrayEquals(new int[]{7, 14, 20}, Bench.Looks.of(7, 20).at());
        assertArrayEquals(new int[]{6}, Bench.Looks.of(6, 0).at());
        assertArrayEquals(new int[]{6}, Bench.Looks.of(6, 6).at());
        Bench.Looks looks = Bench.Looks.of(7, 28);
        double level = 1 - 0.05 / 3;
        assertEquals(level, looks.level(), 1e-15);
        assertEquals(0.95, Bench.Looks.of(6, 0).level(), 0);
        Ratio above = new Ratio(1.02, 0.995, 1.05, 0.984), straddles = new Ratio(1.0, 0.98, 1.03, 0.99),
                below = new Ratio(0.95, 0.94, 0.985, 0.99), thin = new Ratio(1.1, 1.05, 1.2, 0.9375);
        assertEquals(Verdict.MET, Decision.of(above, 0.99, level).verdict());
        assertEquals(Verdict.UNDECIDED, Decision.of(straddles, 0.99, level).verdict());
        assertEquals(Verdict.MISSED, Decision.of(below, 0.99, level).verdict());
        // an interval that covers with less than the level decides nothing, however far from the bar
        assertEquals(Verdict.UNDECIDED, Decision.of(thin, 0.99, level).verdict());
        // the bar is met at it exactly
        assertEquals(Verdict.MET, Decision.of(new Ratio(1, 0.99, 1.1, 0.99), 0.99, level).verdict());
        BenchOptions o = new BenchOptions();
        o.ppBar = 0;
        o.tgBar = 0.99;
        double[] ones = new double[7];
        Arrays.fill(ones, 1);
        double[] fast = {1.01, 1.02, 1.00, 1.03, 0.995, 1.01, 1.02}, noisy = {1.01, 0.9, 1.1, 0.97, 1.02, 0.98, 1.0};
        // 7 paired repetitions: min..max covers with 1 - 2/128, above 1 - 0.05/3; the prompt has no bar
        assertTrue(Bench.decided(noisy, ones, fast, ones, 7, o, looks));
        assertFalse(Bench.decided(fast, ones, noisy, ones, 7, o, looks));
        // too few repetitions for the level: undecided
        assertFalse(Bench.decided(fast, ones, fast, ones, 5, o, looks));
        o.ppBar = 0.95;
        assertFalse(Bench.decided(noisy, ones, fast, ones, 7, o, looks));
    }

    @Test
    void reportsWriteNullForMissingAndNonFiniteNumbers() throws Exception {
        Instant date = Instant.parse("2026-01-02T03:04:05Z");
        BenchReport report = new BenchReport("test \"CPU\"", "CPU", "llama.cpp test", 16, 4, date,
                List.of(row("a \"quoted\"\nname.gguf", Double.NaN, Double.POSITIVE_INFINITY), row("b.gguf", 40.0, 1.25)));
        JsonNode root = JSON.readTree(report.json());
        assertEquals("test \"CPU\"", root.get("hardware").asText());
        assertEquals("CPU", root.get("backend").asText());
        assertEquals("2026-01-02T03:04:05Z", root.get("date").asText());
        // the measuring JVM and its options: checked against this process's command line as the kernel holds it
        // (/proc/self/cmdline, through ProcessHandle), where surefire put the pom's test.argLine (-Xss4m and the native
        // access), not against the management bean the field is built from
        String jvm = root.get("jvm").asText();
        assertTrue(jvm.contains(Runtime.version().toString()), jvm);
        List<String> options = Arrays.stream(ProcessHandle.current().info().arguments().orElseThrow())
                .filter(a -> a.startsWith("-X") || a.startsWith("--enable-native-access")).toList();
        assertTrue(options.contains("-Xss4m"), "the pom's test.argLine on the command line: " + options);
        for (String option : options) assertTrue(jvm.contains(option), option + " in " + jvm);
        JsonNode a = root.get("results").get(0), b = root.get("results").get(1);
        assertEquals("a \"quoted\"\nname.gguf", a.get("model").asText());
        assertTrue(a.get("llama_bench_pp_tps").isNull() && a.get("pp_ratio").isNull() && a.get("tg_ratio").isNull()
                && a.get("ttft_beyond_decode_ms").isNull(), a.toString());
        assertEquals(2.0, a.get("pp_tps").get("median").asDouble(), 0);
        assertEquals(3_000_000_000L, a.get("peak_rss_bytes").asLong());
        assertEquals(40.0, b.get("llama_bench_pp_tps").asDouble(), 0);
        assertEquals(1.25, b.get("pp_ratio").asDouble(), 0);
        assertEquals(0.75, b.get("pp_ratio_ci").get("low").asDouble(), 0);
        assertEquals(2.5, b.get("greedy_token_us").get("total").asDouble(), 0);
        assertTrue(a.get("pp_ratio_ci").get("low").isNull(), a.toString());
        // b's prompt ratio 1.25 [0.75-1.75] holds the bar 0.95: undecided; no generation bar
        assertEquals("undecided", b.get("pp_decision").get("verdict").asText());
        assertEquals(0.95, b.get("pp_decision").get("bar").asDouble(), 0);
        assertTrue(b.get("tg_decision").isNull() && b.get("reps").asInt() == 6, b.toString());
        assertEquals(1.0, b.get("pp_tps").get("max").asDouble() - b.get("pp_tps").get("median").asDouble(), 0);
        assertTrue(report.decisionMarkdown().contains("| b.gguf | prompt | 1.250 [0.750-1.750] | 0.960 | 0.950 | undecided | 6 | - | - |"),
                report.decisionMarkdown());
        String md = report.markdown();
        assertTrue(md.startsWith("| hardware | backend | model | quant | size | params | threads | ctx | pp16 t/s (llama-java) |"), md);
        assertTrue(md.contains("| b.gguf | Q8_0 | 2.00 GB | 1.00 B | 4 | 640 | 2.00 (1.00-3.00) | 40.00 (39.00-41.00) | 1.250 [0.750-1.750] | 2.00 (1.00-3.00) | - | - |"), md);
        assertTrue(md.endsWith("| llama.cpp test | 2026-01-02 |\n"), md);
    }

    @Test
    void commandLineOfCiBench() {
        Bench b = new Bench();
        new CommandLine(b).parseArgs("--synthetic", "Q4_K_M,Q8_0", "--compare-native", "/opt/llama-bench", "--json", "out/b.json",
                "--markdown", "out/b.md", "--gpu", "--reps", "3", "--threads", "2", "--pp", "64", "--tg", "8", "--model", "m.gguf");
        assertEquals(List.of("Q4_K_M", "Q8_0"), b.synthetic);
        assertEquals(List.of(Path.of("m.gguf")), b.models);
        assertEquals(Path.of("/opt/llama-bench"), b.llamaBench);
        BenchOptions o = b.options;
        assertEquals(Path.of("out/b.json"), o.json);
        assertEquals(Path.of("out/b.md"), o.markdown);
        assertTrue(o.gpu);
        assertEquals("CUDA", o.backend());
        assertEquals(List.of(3, 2, 64, 8), List.of(o.reps, o.threads(), o.pp, o.tg));
        Bench defaults = new Bench();
        new CommandLine(defaults).parseArgs();
        assertEquals(List.of(6, Runtime.getRuntime().availableProcessors(), 512, 128),
                List.of(defaults.options.reps, defaults.options.threads(), defaults.options.pp, defaults.options.tg));
        assertEquals(List.of(0.99, 0.0, 0.0), List.of(defaults.options.tgBar, defaults.options.ppBar, (double) defaults.options.maxReps));
        Bench bars = new Bench();
        new CommandLine(bars).parseArgs("--reps", "7", "--max-reps", "28", "--tg-bar", "0.95", "--pp-bar", "0.95");
        assertEquals(List.of(7.0, 28.0, 0.95, 0.95), List.of((double) bars.options.reps, (double) bars.options.maxReps, bars.options.tgBar, bars.options.ppBar));
        assertEquals("CPU", defaults.options.backend());
        assertEquals(2, new CommandLine(new Bench()).execute("--frobnicate"));
    }

    @Test
    void endToEndAtTinySizes() throws Exception {
        Path model = TestSupport.workDir("bench").resolve("tiny-F16.gguf");
        if (!Files.exists(model)) {
            TestSupport.writeTinyModel(model, 3);
        }
        BenchOptions o = new BenchOptions();
        o.threads = 2;
        o.pp = 16;
        o.tg = 4;
        o.reps = 1;
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        Row row = Bench.benchModel(model, o, TestSupport.tool("llama-bench"), quiet);
        assertTrue(row.pp().median() > 0 && row.tg().median() > 0, row.toString());
        assertNotNull(row.nativePp());
        assertNotNull(row.nativeTg());
        assertTrue(row.ppRatio().median() > 0 && row.tgRatio().median() > 0);
        // one repetition decides nothing: its interval covers the median with no confidence
        assertEquals(1, row.reps());
        assertEquals(Verdict.UNDECIDED, row.tgDecision().verdict());
        assertNull(row.ppDecision());
        assertTrue(row.greedyTokenUs().get("total") > 0 && row.sampledTokenUs().get("sample") > 0, row.toString());
        // the memory table holds the buffers llama.cpp reported while loading the F16 file (mapped; read into CPU and AMX
        // buffers on AMX CPUs, see CpuRepack) and creating the context
        Map<String, Long> mem = row.memory();
        String weights = CpuRepack.amx() ? "llama.cpp allocated: weights AMX" : "llama.cpp allocated: weights CPU_Mapped";
        assertTrue(mem.containsKey(weights) && mem.get("llama.cpp allocated: KV cache") > 0
                && mem.get("llama.cpp allocated: compute buffers") > 0, mem.toString());
        assertEquals(row.peakRssBytes(), mem.get(MemoryTable.PEAK));
        // the resident parts come from /proc/self/smaps; the kernel's own counters, read with them, are the reference
        long parts = mem.get(MemoryTable.NOW), vmRss = mem.get("VmRSS read with it (the kernel's own count)");
        assertTrue(parts > 0 && Math.abs(parts - vmRss) < (16L << 20), mem.toString());
        assertTrue(mem.get(MemoryTable.PEAK) >= parts - (16L << 20), mem.toString());
        if (!CpuRepack.amx()) {
            long mapped = mem.get("weights: model file, mapped pages");
            assertTrue(mapped > 0 && mapped <= Files.size(model) + 4096, mem + " vs file " + Files.size(model));
        }
        // llama-bench's own peak beside ours, as GNU time reports it (ci/setup installs it): the process that mapped the
        // same file and ran the same test; a real process's size, not a parse error's -1 or a byte count read as KiB
        assertTrue(Files.isExecutable(Path.of("/usr/bin/time")), "GNU time is missing (ci/setup installs it)");
        long ref = mem.getOrDefault(MemoryTable.LLAMA_BENCH_PEAK, -1L);
        assertTrue(ref > (10L << 20) && ref < row.peakRssBytes() + (512L << 20), ref + " vs ours " + row.peakRssBytes());
        long heapCommitted = ManagementFactory.getMemoryPoolMXBeans().stream().filter(p -> p.getType() == MemoryType.HEAP)
                .mapToLong(p -> p.getUsage().getCommitted()).sum();
        long heap = mem.get("JVM heap (resident pages)");
        assertTrue(heap > 0 && heap <= heapCommitted, heap + " resident vs " + heapCommitted + " committed");
        BenchReport report = new BenchReport("test CPU", "CPU", "llama.cpp test", 16, 4, Instant.now(), List.of(row));
        assertTrue(report.markdown().startsWith("| hardware | backend | model | quant |"), report.markdown());
        JsonNode r = JSON.readTree(report.json()).get("results").get(0);
        assertTrue(r.get("pp_ratio").asDouble() > 0, r.toString());
        assertEquals("F16", r.get("quant").asText());
    }
}
