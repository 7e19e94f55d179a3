package dev.llamajava;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The classifier's label probabilities against the slow way: for every label, the whole prompt (prefix, text,
 * label) decoded from an empty cache in one batch, and the label's log-probability summed from the raw logits.
 */
class ClassifierTest {

    static final String PREFIX = "Once upon a time, there was a little";
    static final List<String> LABELS = List.of(" girl", " boy", " dog", " bird named Tim", " red ball", " cat");
    static final List<String> TEXTS = List.of(" girl named Lily. She loved to play with her", " boy. He had a",
            " dog. The dog wanted to find a", " bird. It liked to sing. One day, the bird saw a", " ball");
    static LlamaModel stories;
    static LlamaModel tiny;

    @BeforeAll
    static void load() throws Exception {
        stories = LlamaModel.load(TestSupport.stories260K());
        Path t = TestSupport.writeTinyModel(TestSupport.workDir("classifier").resolve("tiny-classifier.gguf"), 5);
        tiny = LlamaModel.load(t);
    }

    @AfterAll
    static void close() {
        stories.close();
        tiny.close();
    }

    /** Label log-probabilities the slow way, from our raw logits of full-prompt decodes. */
    static double[] reference(LlamaModel model, int[] prefix, int[] input, List<String> labels) {
        double[] lp = new double[labels.size()];
        try (LlamaContext ctx = LlamaContext.create(model, ContextParams.builder().contextSize(512).build())) {
            for (int k = 0; k < labels.size(); k++) {
                int[] label = model.tokenize(labels.get(k), false, false);
                int n = prefix.length + input.length + label.length;
                ctx.clearCache();
                try (Batch b = Batch.create(n, 1)) {
                    int pos = 0;
                    for (int t : prefix) b.add(t, pos++, 0, false);
                    for (int i = 0; i < input.length; i++) b.add(input[i], pos++, 0, i == input.length - 1);
                    for (int j = 0; j < label.length; j++) b.add(label[j], pos++, 0, j < label.length - 1);
                    ctx.decode(b);
                }
                int last = prefix.length + input.length - 1; // batch index of the text's last token
                for (int j = 0; j < label.length; j++) {
                    float[] row = ctx.logits(last + j);
                    lp[k] += row[label[j]] - logSumExp(row);
                }
            }
        }
        return lp;
    }

    /** The log-sum-exp in plain doubles, written here apart from the library's. */
    static double logSumExp(float[] row) {
        double sum = 0;
        for (float v : row) sum += Math.exp(v);
        return Math.log(sum);
    }

    static void assertMatchesReference(LlamaModel model, Classifier c, String prefixText, String text, String suffix) {
        Classifier.Result r = c.classify(text);
        int[] prefix = model.tokenize(prefixText, true, true);
        int[] input = concat(model.tokenize(text, false, false), model.tokenize(suffix, false, true));
        double[] lp = reference(model, prefix, input, c.labels());
        double[] p = new double[lp.length];
        double z = 0;
        for (double v : lp) z += Math.exp(v);
        for (int k = 0; k < p.length; k++) p[k] = Math.exp(lp[k]) / z;
        for (int k = 0; k < p.length; k++) {
            assertEquals(p[k], r.probabilities().get(c.labels().get(k)), 1e-4, "P(" + c.labels().get(k) + " | " + text + ")");
            assertEquals(lp[k], r.logProbabilities()[k], 1e-3, "log P(" + c.labels().get(k) + " | " + text + ")");
        }
        assertEquals(input.length, r.inputTokens());
        assertTrue(r.promptNanos() > 0 && r.scoringNanos() > 0);
    }

    static int[] concat(int[] a, int[] b) {
        int[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void probabilitiesEqualFullDecodesPerLabel() {
        try (Classifier c = Classifier.builder(stories).prefix(PREFIX).labels(LABELS).build()) {
            for (String text : TEXTS) assertMatchesReference(stories, c, PREFIX, text, "");
            assertEquals(stories.tokenize(PREFIX, true, true).length, c.prefixTokens());
        }
    }

    @Test
    void chatTemplateInstructionOnTheLlama3Vocabulary() {
        String instruction = "Classify the sentiment of the message as positive, negative or neutral.";
        List<String> labels = List.of("positive", "negative", "neutral", "mixed feelings");
        try (Classifier c = Classifier.builder(tiny).instruction(instruction).labels(labels).build()) {
            String template = tiny.chatTemplate().orElseThrow();
            String rendered = ChatTemplates.apply(template, List.of(ChatMessage.system(instruction), ChatMessage.user("I love it")), true);
            int at = rendered.indexOf("I love it");
            String pre = rendered.substring(0, at);
            String suf = rendered.substring(at + "I love it".length());
            assertMatchesReference(tiny, c, pre, "I love it", suf);
            assertMatchesReference(tiny, c, pre, "The delivery was late and the box was broken.", suf);
        }
    }

    @Test
    void decisionsAreStableAcrossRunsAndThreads() throws Exception {
        List<Classifier.Result> first = new ArrayList<>();
        try (Classifier c = Classifier.builder(stories).prefix(PREFIX).labels(LABELS).build()) {
            for (String t : TEXTS) first.add(c.classify(t));
        }
        try (Classifier c = Classifier.builder(stories).prefix(PREFIX).labels(LABELS).contexts(2).build();
             ExecutorService pool = Executors.newFixedThreadPool(4)) {
            List<Future<Classifier.Result>> futures = new ArrayList<>();
            for (int round = 0; round < 4; round++) for (String t : TEXTS) futures.add(pool.submit(() -> c.classify(t)));
            for (int i = 0; i < futures.size(); i++) {
                Classifier.Result got = futures.get(i).get();
                Classifier.Result want = first.get(i % TEXTS.size());
                assertEquals(want.label(), got.label(), "decision for " + TEXTS.get(i % TEXTS.size()));
                assertArrayEquals(want.logProbabilities(), got.logProbabilities(), 1e-9, "scores for " + TEXTS.get(i % TEXTS.size()));
            }
        }
    }

    @Test
    void badInputIsAClearException() {
        assertThrows(IllegalArgumentException.class, () -> Classifier.builder(stories).labels(" one").build());
        assertThrows(IllegalArgumentException.class, () -> Classifier.builder(stories).labels(" a", " a").build());
        assertThrows(IllegalArgumentException.class, () -> Classifier.builder(stories).labels(" a", "").build());
        var noTemplate = assertThrows(IllegalArgumentException.class,
                () -> Classifier.builder(stories).instruction("x").labels(" a", " b").build());
        assertTrue(noTemplate.getMessage().contains("chat template"), noTemplate.getMessage());
        Classifier c = Classifier.builder(stories).prefix(PREFIX).labels(LABELS)
                .contextParams(ContextParams.builder().contextSize(64).build()).build();
        assertThrows(IllegalArgumentException.class, () -> c.classify(""));
        assertThrows(ContextOverflowException.class, () -> c.classify(" girl".repeat(80)));
        // still works after the refusals, with the same answer as a fresh one
        Classifier.Result r = c.classify(TEXTS.getFirst());
        try (Classifier fresh = Classifier.builder(stories).prefix(PREFIX).labels(LABELS).build()) {
            assertArrayEquals(fresh.classify(TEXTS.getFirst()).logProbabilities(), r.logProbabilities(), 1e-9);
        }
        c.close();
        c.close();
        assertThrows(IllegalStateException.class, () -> c.classify("x"));
    }
}
