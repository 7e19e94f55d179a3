package dev.llamajava;

import dev.llamajava.gguf.GgufFile;
import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The tiny synthetic model through llama.cpp: it loads, generates finite values, and quantizes like llama-quantize. */
class SyntheticNativeTest {

    static Path f16;

    @BeforeAll
    static void write() throws Exception {
        f16 = TestSupport.workDir("synthetic").resolve("tiny-F16.gguf");
        TestSupport.writeTinyModel(f16, 7);
    }

    @Test
    void loadsAndGeneratesFiniteTokens() throws Exception {
        GgufFile g = GgufFile.read(f16);
        try (LlamaModel m = LlamaModel.load(f16);
             LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(256).build())) {
            assertEquals(g.parameterCount(), m.parameterCount());
            assertEquals(128256, m.vocabSize());
            assertEquals(2, m.layerCount());
            assertEquals(128000, m.bosToken());
            assertTrue(m.isEndOfGeneration(128009), "<|eot_id|> ends generation");
            assertEquals(SyntheticModel.LLAMA3_TEMPLATE, m.chatTemplate().orElseThrow());
            assertEquals("F16", g.fileTypeName());
            try (TokenStream ts = ctx.generate("Hello", GenerationParams.builder().greedy().maxTokens(8).logprobs(true).build())) {
                List<Token> t = ts.stream().toList();
                assertFalse(t.isEmpty());
                for (Token k : t) assertTrue(Float.isFinite(k.logprob()) && k.logprob() <= 0, "logprob " + k.logprob());
            }
        }
    }

    @Test
    void textStaysValidUtf8WhenTokensSplitCharacters() throws Exception {
        // a grammar forces emoji and CJK text; byte-level BPE may emit one character over several tokens
        String gbnf = "root ::= \"😁🦙 我想在\"";
        try (LlamaModel m = LlamaModel.load(f16);
             LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(256).build());
             TokenStream ts = ctx.generate("Hello", GenerationParams.builder().maxTokens(40)
                     .sampler(SamplerParams.builder().grammar(gbnf).seed(1).build()).build())) {
            List<Token> tokens = ts.stream().toList();
            StringBuilder all = new StringBuilder();
            int partial = 0;
            for (Token t : tokens) {
                assertFalse(t.text().contains("\uFFFD"), "a token's text holds a broken character: " + tokens);
                if (m.tokenBytes(t.id(), false).length > 0 && t.text().isEmpty()) partial++;
                all.append(t.text());
            }
            assertEquals("😁🦙 我想在", all.toString());
            assertTrue(partial > 0, "the test must exercise a character split over tokens: " + tokens);
        }
    }

    @Test
    void quantizeEqualsLlamaQuantizeByteForByte() throws Exception {
        for (String type : List.of("Q8_0", "Q4_K_M")) {
            Path ours = TestSupport.workDir("synthetic").resolve("ours-" + type + ".gguf");
            Path theirs = TestSupport.workDir("synthetic").resolve("theirs-" + type + ".gguf");
            List<Double> progress = new CopyOnWriteArrayList<>();
            Quantizer.quantize(f16, ours, type, Quantizer.Options.defaults(), progress::add);
            assertEquals(1.0, progress.getLast(), 1e-9, "per-tensor progress ends at 1");
            assertEquals(GgufFile.read(f16).tensors().size(), progress.size(), "one step per tensor");
            var r = TestSupport.run(List.of(TestSupport.tool("llama-quantize").toString(), f16.toString(), theirs.toString(), type), null, null, 300);
            assertEquals(0, r.exit(), r.stderr());
            assertEquals(-1L, Files.mismatch(ours, theirs), type + ": our file differs from llama-quantize's");
            assertEquals(type, GgufFile.read(ours).fileTypeName());
        }
    }

    @Test
    void quantizeErrors() throws Exception {
        Path out = TestSupport.workDir("synthetic").resolve("bad.gguf");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Quantizer.quantize(f16, out, "Q9_X", Quantizer.Options.defaults()));
        assertTrue(e.getMessage().startsWith("unknown quantization type 'Q9_X'; known: [F32, F16, Q4_0, Q4_1, Q8_0,"), e.getMessage());
        ModelLoadException m = assertThrows(ModelLoadException.class, () -> Quantizer.quantize(Path.of("/nonexistent.gguf"), out, "Q8_0", Quantizer.Options.defaults()));
        assertEquals("Model file not found: /nonexistent.gguf", m.getMessage());
    }
}
