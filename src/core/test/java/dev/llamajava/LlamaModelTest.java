package dev.llamajava;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loading, metadata, tokenizing and failure modes of {@link LlamaModel} on the shared stories260K model. */
class LlamaModelTest {

    /** llama.cpp's own llama-tokenize on the same model gives the ids we compare against. */
    static int[] referenceTokenize(Path model, String text) throws Exception {
        var r = TestSupport.run(List.of(TestSupport.tool("llama-tokenize").toString(), "-m", model.toString(), "-p", text,
                "--ids", "--log-disable"), null, null, 120);
        assertEquals(0, r.exit(), r.stderr());
        String line = r.stdout().lines().filter(l -> l.startsWith("[")).reduce((a, b) -> b).orElseThrow(() -> new AssertionError(r.stdout()));
        String inner = line.substring(1, line.length() - 1).trim();
        return inner.isEmpty() ? new int[0] : Arrays.stream(inner.split(",\\s*")).mapToInt(Integer::parseInt).toArray();
    }

    @Test
    void loadsStoriesAndTokenizesLikeLlamaTokenize() throws Exception {
        Path p = TestSupport.stories260K();
        try (LlamaModel m = LlamaModel.load(p)) {
            assertEquals(512, m.vocabSize());
            assertEquals(5, m.layerCount());
            assertEquals(64, m.embeddingSize());
            assertEquals(8, m.headCount());
            assertEquals(4, m.kvHeadCount());
            assertEquals(128, m.trainContextLength());
            assertEquals(1, m.bosToken());
            assertEquals(2, m.eosToken());
            assertTrue(m.parameterCount() > 200_000 && m.parameterCount() < 300_000, "params " + m.parameterCount());
            assertTrue(m.metadata().containsKey("general.architecture"));
            assertEquals("llama", m.metadata("general.architecture").orElseThrow());
            for (String text : List.of("Once upon a time", "The little girl's dog ran to the park.", "  two  spaces", "é€😁 unicode")) {
                assertArrayEquals(referenceTokenize(p, text), m.tokenize(text), "tokenize '" + text + "'");
            }
            assertArrayEquals(new int[]{1}, m.tokenize(""), "empty text is just BOS");
            assertArrayEquals(new int[0], m.tokenize("", false, false));
            int[] ids = m.tokenize("Once upon a time, there was a cat.");
            assertEquals(1, ids[0]);
            // SentencePiece pieces carry the word-start space; this GGUF does not ask llama.cpp to strip the first one
            assertEquals(" Once upon a time, there was a cat.", m.detokenize(ids, true, false));
            assertEquals("<s> Once upon a time, there was a cat.", m.detokenize(ids, false, true));
        }
    }

    @Test
    void missingFile() {
        Path p = Path.of("/nonexistent/dir/model.gguf");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> LlamaModel.load(p));
        assertEquals("Model file not found: /nonexistent/dir/model.gguf", e.getMessage());
        assertEquals(p, e.path());
    }

    @Test
    void notGguf() throws Exception {
        Path f = TestSupport.workDir("model").resolve("not-a-model.gguf");
        Files.writeString(f, "this is plain text, not a model");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> LlamaModel.load(f));
        assertEquals("Not a GGUF file (bad magic 0x74686973, expected \"GGUF\"): " + f, e.getMessage());

        Path tiny = TestSupport.workDir("model").resolve("tiny.gguf");
        Files.write(tiny, new byte[]{'G', 'G'});
        e = assertThrows(ModelLoadException.class, () -> LlamaModel.load(tiny));
        assertEquals("Not a GGUF file (only 2 bytes): " + tiny, e.getMessage());

        Path dir = TestSupport.workDir("model");
        e = assertThrows(ModelLoadException.class, () -> LlamaModel.load(dir));
        assertEquals("Model path is not a regular file: " + dir, e.getMessage());
    }

    @Test
    void truncatedGgufIsRefusedByLlamaCppWithItsReason() throws Exception {
        byte[] all = Files.readAllBytes(TestSupport.stories260K());
        Path f = TestSupport.workDir("model").resolve("truncated.gguf");
        Files.write(f, Arrays.copyOf(all, all.length / 2));
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> LlamaModel.load(f));
        assertTrue(e.getMessage().startsWith("llama.cpp could not load " + f + ": "), e.getMessage());
        assertTrue(e.getMessage().length() > ("llama.cpp could not load " + f + ": ").length() + 10, e.getMessage());
        // the process is fine afterwards: a good model still loads
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K())) {
            assertEquals(512, m.vocabSize());
        }
    }

    @Test
    void closeTwiceIsSafeAndUseAfterCloseThrows() {
        LlamaModel m = LlamaModel.load(TestSupport.stories260K());
        m.close();
        assertDoesNotThrow(m::close);
        assertTrue(m.isClosed());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.tokenize("x"));
        assertEquals("LlamaModel is closed", e.getMessage());
        assertThrows(IllegalStateException.class, m::vocabSize);
    }

    @Test
    void progressListenerCanCancel() {
        ModelParams params = ModelParams.builder().progressListener(p -> false).build();
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> LlamaModel.load(TestSupport.stories260K(), params));
        assertEquals("Loading " + TestSupport.stories260K() + " was cancelled by the progress listener", e.getMessage());

        ModelParams throwing = ModelParams.builder().progressListener(p -> { throw new IllegalStateException("boom"); }).build();
        e = assertThrows(ModelLoadException.class, () -> LlamaModel.load(TestSupport.stories260K(), throwing));
        assertEquals("Loading " + TestSupport.stories260K() + " was cancelled: the progress listener threw java.lang.IllegalStateException: boom",
                e.getMessage());
    }

    @Test
    void invalidParamsAreRejectedInJava() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelParams.builder().gpuLayers(-3).build());
        assertEquals("gpuLayers must be -1 (all), -2 (auto) or >= 0, was -3", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ModelParams.builder().mainGpu(-1).build());
        assertEquals("mainGpu must be >= 0, was -1", e.getMessage());
    }
}
