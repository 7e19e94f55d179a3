package dev.llamajava.bench;

import dev.llamajava.TestSupport;
import org.junit.jupiter.api.Test;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bench's arithmetic on recorded numbers, its llama-bench parser on recorded output, and one tiny end-to-end run. */
class BenchTest {

    @Test
    void medianMinMax() {
        assertEquals(new Bench.Stat(3, 1, 9), Bench.Stat.of(new double[]{9, 1, 3}));
        assertEquals(new Bench.Stat(2.5, 1, 4), Bench.Stat.of(new double[]{4, 1, 2, 3}));
        assertEquals(new Bench.Stat(7, 7, 7), Bench.Stat.of(new double[]{7}));
        assertThrows(IllegalArgumentException.class, () -> Bench.Stat.of(new double[0]));
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
        // a generation: first token at 300 ms, 129 tokens, 5.2 s after the first, 5.1 s in decode, 0.03 s sampling
        var r = new dev.llamajava.GenerationResult(20, 129, 300_000_000L, 290_000_000L, 5_200_000_000L,
                dev.llamajava.StopReason.MAX_TOKENS, "", 5_100_000_000L, 30_000_000L);
        assertEquals(128 / 5.2, r.generationTokensPerSecond(), 1e-9);
        assertEquals(70_000_000.0 / 128, r.overheadNanosPerToken(), 1e-6);
        assertEquals(20 / 0.29, r.promptTokensPerSecond(), 1e-9);
    }

    @Test
    void parsesRecordedLlamaBenchJson() throws Exception {
        String json;
        try (var in = BenchTest.class.getResourceAsStream("/llama-bench-sample.json")) {
            json = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        Bench.Native n = Bench.parseLlamaBench(json);
        // the avg_ts llama-bench wrote for its pp16 and tg4 records
        assertEquals(46.458794, n.pp(), 0);
        assertEquals(21.138731, n.tg(), 0);
    }

    @Test
    void endToEndAtTinySizes() throws Exception {
        Path model = TestSupport.workDir("bench").resolve("tiny-F16.gguf");
        if (!Files.exists(model)) {
            TestSupport.writeTinyModel(model, 3);
        }
        PrintStream quiet = new PrintStream(java.io.OutputStream.nullOutputStream());
        Bench.Row row = Bench.benchModel(model, 2, 16, 4, 1, TestSupport.tool("llama-bench"), quiet);
        assertTrue(row.pp().median() > 0 && row.tg().median() > 0, row.toString());
        assertNotNull(row.nativePp());
        assertNotNull(row.nativeTg());
        assertTrue(row.ppRatio() > 0 && row.tgRatio() > 0);
        String md = Bench.markdown(List.of(row), "test CPU", 16, 4, "llama.cpp test");
        assertTrue(md.startsWith("| hardware | backend | model | quant |"), md);
        String json = Bench.json(List.of(row), "test CPU", "llama.cpp test");
        assertTrue(json.contains("\"pp_ratio\": ") && json.contains("\"quant\": \"F16\""), json);
    }
}
