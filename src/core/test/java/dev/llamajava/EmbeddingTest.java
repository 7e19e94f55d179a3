package dev.llamajava;

import dev.llamajava.ContextParams.Pooling;
import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Embeddings and rerank scores against llama.cpp's own {@code llama-embedding} on the same model, prompts and pooling. */
class EmbeddingTest {

    static final double TOLERANCE = 1e-5;
    static final List<String> PROMPTS = List.of("Once upon a time", "The little dog ran to the park.", "Lily liked her red ball very much");
    static Path tiny;
    static LlamaModel stories;
    static LlamaModel tinyModel;

    @BeforeAll
    static void load() throws Exception {
        tiny = TestSupport.writeTinyModel(TestSupport.workDir("embedding").resolve("tiny-embed.gguf"), 11);
        stories = LlamaModel.load(TestSupport.stories260K());
        tinyModel = LlamaModel.load(tiny);
    }

    @AfterAll
    static void close() {
        stories.close();
        tinyModel.close();
    }

    static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": dimensions");
        for (int i = 0; i < expected.length; i++) {
            if (Math.abs(expected[i] - actual[i]) > TOLERANCE) {
                throw new AssertionError(what + ": component " + i + " is " + actual[i] + ", llama-embedding printed " + expected[i]);
            }
        }
    }

    static LlamaContext context(LlamaModel model, Pooling pooling, int sequences) {
        return LlamaContext.create(model, ContextParams.builder().contextSize(512).threads(2).threadsBatch(2)
                .embeddings(true).pooling(pooling).sequences(sequences).build());
    }

    @ParameterizedTest
    @EnumSource(value = Pooling.class, names = {"MEAN", "LAST", "CLS"})
    void pooledEqualsLlamaEmbedding(Pooling pooling) throws Exception {
        String name = pooling.name().toLowerCase();
        for (var m : List.of(new Object[]{stories, TestSupport.stories260K()}, new Object[]{tinyModel, tiny})) {
            LlamaModel model = (LlamaModel) m[0];
            List<float[]> normalised = TestSupport.llamaEmbedding((Path) m[1], PROMPTS, name, 2);
            List<float[]> raw = TestSupport.llamaEmbedding((Path) m[1], PROMPTS.subList(0, 1), name, -1);
            try (LlamaContext one = context(model, pooling, 1); LlamaContext many = context(model, pooling, 4)) {
                assertEquals(pooling, one.pooling());
                for (int i = 0; i < PROMPTS.size(); i++) {
                    assertClose(normalised.get(i), one.embed(PROMPTS.get(i)), name + " " + model + " prompt " + i);
                }
                List<float[]> batched = many.embed(PROMPTS, true);
                for (int i = 0; i < PROMPTS.size(); i++) assertClose(normalised.get(i), batched.get(i), name + " batched prompt " + i);
                assertClose(raw.getFirst(), one.embed(PROMPTS.getFirst(), false), name + " unnormalised");
                assertEquals(0, one.cachedTokens(), "the cache is empty after embedding");
            }
        }
    }

    @Test
    void perTokenEqualsLlamaEmbedding() throws Exception {
        List<float[]> expected = TestSupport.llamaEmbedding(TestSupport.stories260K(), PROMPTS.subList(1, 2), "none", 2);
        try (LlamaContext ctx = context(stories, Pooling.NONE, 1)) {
            float[][] got = ctx.tokenEmbeddings(PROMPTS.get(1), true);
            assertEquals(expected.size(), got.length, "one vector per token");
            for (int t = 0; t < got.length; t++) assertClose(expected.get(t), got[t], "token " + t);
            assertThrows(IllegalStateException.class, () -> ctx.embed("pooled"), "a NONE context has no pooled vector");
        }
    }

    @Test
    void rerankScoresEqualLlamaEmbeddingOnASyntheticReranker() throws Exception {
        Path reranker = TestSupport.workDir("embedding").resolve("tiny-reranker.gguf");
        SyntheticModel.writeRerankerF16(reranker, SyntheticModel.TINY, 17, TestSupport.llamaSource().resolve("models/ggml-vocab-llama-bpe.gguf"),
                List.of("yes", "no"));
        String query = "Where did the dog go?";
        List<String> docs = List.of("The dog ran to the park.", "Once upon a time there was a girl.", "Red ball", "The cat slept.");
        List<float[]> expected = TestSupport.llamaEmbedding(reranker, docs.stream().map(d -> query + "\t" + d).toList(), "rank", -1);
        try (LlamaModel m = LlamaModel.load(reranker); LlamaContext ctx = context(m, Pooling.UNSPECIFIED, 3)) {
            assertEquals(Pooling.RANK, ctx.pooling(), "the model's own pooling");
            float[] scores = ctx.rerank(query, docs);
            List<float[]> heads = ctx.embed(docs.stream().map(d -> query + d).toList(), false);
            for (int i = 0; i < docs.size(); i++) {
                assertEquals(expected.get(i)[0], scores[i], TOLERANCE, "score of document " + i);
                assertEquals(2, heads.get(i).length, "one output per classifier label");
                assertEquals(expected.get(i)[1], heads.get(i)[1], TOLERANCE, "second output of document " + i);
            }
            assertTrue(scores[0] != scores[1] || scores[1] != scores[2], "the scores depend on the document");
        }
    }

    @Test
    void rankPoolingWithoutAClassifierHeadIsRefused() {
        // llama.cpp's rank pooling on a model with no cls/cls.output weights yields undefined floats (its own
        // llama-embedding prints nan or zeros there, differently each run): refused before it is read
        try (LlamaContext ctx = context(stories, Pooling.RANK, 1)) {
            var e = assertThrows(IllegalStateException.class, () -> ctx.rerank("Where did the dog go?", List.of("The dog ran.")));
            assertTrue(e.getMessage().contains("classification head"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> ctx.embed("x"));
        }
    }

    @Test
    void misuseIsAClearException() {
        try (LlamaContext plain = LlamaContext.create(stories, ContextParams.builder().contextSize(256).build());
             LlamaContext mean = context(stories, Pooling.MEAN, 1)) {
            var e = assertThrows(IllegalStateException.class, () -> plain.embed("x"));
            assertTrue(e.getMessage().contains("embeddings(true)"), e.getMessage());
            assertThrows(IllegalStateException.class, () -> mean.rerank("q", List.of("d")));
            assertThrows(IllegalStateException.class, () -> mean.tokenEmbeddings("x", true));
            var tooLong = assertThrows(IllegalArgumentException.class, () -> mean.embed("word ".repeat(600)));
            assertTrue(tooLong.getMessage().contains("microBatchSize"), tooLong.getMessage());
            assertThrows(IllegalArgumentException.class, () -> mean.embed(new int[]{1, 999_999}, true));
            assertThrows(IllegalArgumentException.class, () -> mean.embed(new int[0], true));
            // the context still works after every refusal
            assertEquals(stories.embeddingSize(), mean.embed("Once upon a time").length);
        }
        assertThrows(IllegalArgumentException.class, () -> ContextParams.builder().sequences(0).build());
        assertThrows(IllegalArgumentException.class, () -> ContextParams.builder().sequences(257).build());
    }
}
