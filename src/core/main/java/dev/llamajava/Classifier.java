package dev.llamajava;

import dev.llamajava.NativeResource.Borrow;
import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.LogSoftmax;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Routing and classification in one decode: a fixed prefix (instruction, few-shot examples) is decoded once and kept
 * in the KV cache; each {@link #classify} decodes only the new text and scores every label from the logits, never by
 * sampling.
 *
 * <p>A label's score is the log-probability of its tokens after the text. Single-token labels are read from the
 * logits of the text's last token. Multi-token labels are scored in one more decode: their tokens form a trie, and
 * each trie node is one token of that batch, shared by the sequences of every label passing through it (the labels'
 * sequences are copies of the prefix-and-text sequence, cheap in the unified KV cache). The probabilities are the
 * softmax of the scores over the labels.
 *
 * <p>Tokens: the prefix is tokenized with the model's special tokens (BOS) and special-token parsing; the text
 * without either (so a text can never inject control tokens); the suffix (the template's tail, for example the
 * assistant header) with special-token parsing; each label without BOS, as the continuation it is, so write labels
 * the way the model would continue (a leading space where a word follows a space).
 *
 * <p>Thread-safe: it owns a pool of contexts ({@link Builder#contexts}), each holding the decoded prefix; a call
 * takes a free one and waits while all are busy. Close it when done (its contexts pin the model).
 *
 * <pre>{@code
 * try (Classifier router = Classifier.builder(model)
 *         .instruction("Route the request to one of: billing, technical, other. Answer with the word only.")
 *         .labels("billing", "technical", "other")
 *         .build()) {
 *     Classifier.Result r = router.classify("My invoice is wrong");
 *     r.label(); r.probabilities();
 * }
 * }</pre>
 */
public final class Classifier implements AutoCloseable {

    /** Marks where the text goes when an instruction is rendered through the chat template. */
    private static final String SLOT = "LLAMAJAVAINPUTSLOT7F3A";

    /**
     * One decision.
     *
     * @param label            the most probable label
     * @param index            its index in {@link Classifier#labels()}
     * @param probabilities    every label's probability (softmax of the scores over the labels), in label order
     * @param logProbabilities every label's log-probability under the model (the sum over its tokens), in label order
     * @param inputTokens      tokens decoded for the text (text and suffix)
     * @param promptNanos      time decoding them
     * @param scoringNanos     time scoring the labels (reading logits, the multi-token decode, the softmax)
     */
    public record Result(String label, int index, Map<String, Double> probabilities, double[] logProbabilities,
                         int inputTokens, long promptNanos, long scoringNanos) {

        /** @return the probability of the chosen label */
        public double probability() {
            return probabilities.get(label);
        }
    }

    /** A node of the labels' token trie that some label continues past: one token of the scoring batch. */
    private record Node(int token, int depth, int[] seqs) { }

    private final LlamaModel model;
    private final List<String> labels;
    private final int[][] labelTokens;
    private final int[] prefixTokens;
    private final String suffix;
    private final List<Node> trie;
    /** For label k and depth d >= 1: the batch row whose logits give its token d ({@code -1}: none). */
    private final int[][] rows;
    private final int maxLabelTokens;
    private final BlockingQueue<LlamaContext> pool;
    private final List<LlamaContext> contexts;
    private volatile boolean closed;

    private Classifier(LlamaModel model, List<String> labels, int[][] labelTokens, int[] prefixTokens, String suffix,
                       List<Node> trie, int[][] rows, List<LlamaContext> contexts) {
        this.model = model;
        this.labels = labels;
        this.labelTokens = labelTokens;
        this.prefixTokens = prefixTokens;
        this.suffix = suffix;
        this.trie = trie;
        this.rows = rows;
        this.maxLabelTokens = Arrays.stream(labelTokens).mapToInt(t -> t.length).max().orElse(0);
        this.contexts = contexts;
        this.pool = new ArrayBlockingQueue<>(contexts.size(), false, contexts);
    }

    /**
     * @param model the model (each context of the pool pins it)
     * @return a builder
     */
    public static Builder builder(LlamaModel model) {
        return new Builder(Objects.requireNonNull(model, "model"));
    }

    /** @return the labels, in the order of the results' arrays */
    public List<String> labels() {
        return labels;
    }

    /** @return the prefix's tokens, decoded once per context */
    public int prefixTokens() {
        return prefixTokens.length;
    }

    /**
     * Classifies a text.
     *
     * @param text the text
     * @return the decision, every label's probability and the time split
     * @throws IllegalStateException    when closed
     * @throws IllegalArgumentException when the text and suffix have no tokens
     * @throws ContextOverflowException when prefix, text and the longest label do not fit the context
     * @throws LlamaException           when llama.cpp fails, or the thread was interrupted while waiting
     */
    public Result classify(String text) {
        Objects.requireNonNull(text, "text");
        if (closed) throw new IllegalStateException("Classifier is closed");
        int[] input = concat(model.tokenize(text, false, false), suffix.isEmpty() ? new int[0] : model.tokenize(suffix, false, true));
        if (input.length == 0) throw new IllegalArgumentException("the text and suffix have no tokens to score the labels after");
        LlamaContext ctx;
        try {
            ctx = pool.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LlamaException("interrupted while waiting for a free context of the classifier");
        }
        try (Borrow c = ctx.use()) {
            return score(ctx, c.ptr(), input);
        } finally {
            pool.add(ctx);
        }
    }

    private Result score(LlamaContext ctx, MemorySegment c, int[] input) {
        int p = prefixTokens.length;
        int need = p + input.length + Math.max(0, maxLabelTokens - 1);
        if (need > ctx.contextSize()) {
            throw new ContextOverflowException("prefix (" + p + "), text (" + input.length + ") and the longest label ("
                    + maxLabelTokens + " tokens) need " + need + " KV cells; the classifier's contexts hold " + ctx.contextSize());
        }
        MemorySegment mem = llama_h.llama_get_memory(c);
        ctx.greedy.detach(c); // the scores need the logits
        int nVocab = model.vocabSize();
        double[] lp = new double[labels.size()];
        long t0 = System.nanoTime();
        long t1;
        try {
            ctx.abort.begin(this);
            ctx.checkDecode(ctx.decodeTokens(c, input, 0, input.length), input.length);
            t1 = System.nanoTime();
            MemorySegment row = logits(ctx, c, -1, nVocab);
            double lse = LogSoftmax.logSumExp(row, nVocab);
            for (int k = 0; k < lp.length; k++) lp[k] = row.getAtIndex(ValueLayout.JAVA_FLOAT, labelTokens[k][0]) - lse;
            if (!trie.isEmpty()) scoreDeeper(ctx, c, mem, p + input.length, lp, nVocab);
        } finally {
            ctx.abort.end(this);
            for (int k = 0; k < labels.size(); k++) {
                if (labelTokens[k].length > 1) llama_h.llama_memory_seq_rm(mem, k + 1, -1, -1);
            }
            llama_h.llama_memory_seq_rm(mem, 0, p, -1);
        }
        double[] probs = softmax(lp);
        int best = 0;
        for (int k = 1; k < probs.length; k++) if (probs[k] > probs[best]) best = k;
        Map<String, Double> byLabel = new LinkedHashMap<>();
        for (int k = 0; k < probs.length; k++) byLabel.put(labels.get(k), probs[k]);
        long t2 = System.nanoTime();
        return new Result(labels.get(best), best, Collections.unmodifiableMap(byLabel), lp, input.length, t1 - t0, t2 - t1);
    }

    /** Adds the log-probabilities of the labels' later tokens, from one decode of the trie. */
    private void scoreDeeper(LlamaContext ctx, MemorySegment c, MemorySegment mem, int pos0, double[] lp, int nVocab) {
        for (int k = 0; k < labels.size(); k++) {
            if (labelTokens[k].length > 1) llama_h.llama_memory_seq_cp(mem, 0, k + 1, -1, -1);
        }
        try (Batch batch = Batch.create(trie.size(), labels.size())) {
            for (Node n : trie) batch.add(n.token(), pos0 + n.depth() - 1, n.seqs(), true);
            ctx.decodeBatch(c, batch);
        }
        double[] lse = new double[trie.size()];
        MemorySegment[] rowOf = new MemorySegment[trie.size()];
        for (int k = 0; k < labels.size(); k++) {
            for (int d = 1; d < labelTokens[k].length; d++) {
                int r = rows[k][d];
                if (rowOf[r] == null) {
                    rowOf[r] = logits(ctx, c, r, nVocab);
                    lse[r] = LogSoftmax.logSumExp(rowOf[r], nVocab);
                }
                lp[k] += rowOf[r].getAtIndex(ValueLayout.JAVA_FLOAT, labelTokens[k][d]) - lse[r];
            }
        }
    }

    /** The logits of batch row {@code i}, read in place (valid until the next decode, which the borrow keeps away). */
    private static MemorySegment logits(LlamaContext ctx, MemorySegment c, int i, int nVocab) {
        MemorySegment l = ctx.logitsOrNull(c, i);
        if (l == null) throw new LlamaException("llama.cpp kept no logits for row " + i + " of the classifier's batch");
        return l.reinterpret((long) nVocab * 4);
    }

    static double[] softmax(double[] lp) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : lp) max = Math.max(max, v);
        double[] p = new double[lp.length];
        double sum = 0;
        for (int k = 0; k < lp.length; k++) sum += p[k] = Math.exp(lp[k] - max);
        for (int k = 0; k < lp.length; k++) p[k] /= sum;
        return p;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** Closes the pooled contexts (a running call finishes first: each context frees itself when its borrow ends). */
    @Override
    public void close() {
        closed = true;
        for (LlamaContext ctx : contexts) ctx.close();
    }

    @Override
    public String toString() {
        return "Classifier[" + labels.size() + " labels, prefix " + prefixTokens.length + " tokens, " + contexts.size() + " contexts]";
    }

    /** Builder for {@link Classifier}. */
    public static final class Builder {
        private final LlamaModel model;
        private String prefix = "";
        private String instruction;
        private String suffix = "";
        private List<String> labels = List.of();
        private ContextParams contextParams;
        private int contexts = 1;

        private Builder(LlamaModel model) {
            this.model = model;
        }

        /** @param v raw text decoded once before every input (with BOS); replaces an instruction @return this */
        public Builder prefix(String v) { prefix = Objects.requireNonNull(v, "prefix"); instruction = null; return this; }

        /**
         * @param v the system prompt: rendered with the model's chat template around the text as the user's message,
         *          ending with the assistant's header, so the labels are the answer's first tokens (needs a template)
         * @return this
         */
        public Builder instruction(String v) { instruction = Objects.requireNonNull(v, "instruction"); return this; }

        /** @param v text decoded after every input, before the labels (for example {@code "\nLabel:"}) @return this */
        public Builder suffix(String v) { suffix = Objects.requireNonNull(v, "suffix"); return this; }

        /** @param v the labels (any text, distinct) @return this */
        public Builder labels(String... v) { return labels(List.of(v)); }

        /** @param v the labels (any text, distinct) @return this */
        public Builder labels(List<String> v) { labels = List.copyOf(v); return this; }

        /**
         * @param v settings of each context (its {@code sequences} is raised to what multi-token labels need);
         *          default: 2048 tokens, llama.cpp's batch sizes
         * @return this
         */
        public Builder contextParams(ContextParams v) { contextParams = Objects.requireNonNull(v, "contextParams"); return this; }

        /** @param v contexts in the pool: calls that run at once (default 1) @return this */
        public Builder contexts(int v) { contexts = v; return this; }

        /**
         * Tokenizes, creates the contexts and decodes the prefix into each.
         *
         * @return the classifier
         * @throws IllegalArgumentException when there are fewer than two labels, more than 255, duplicates, a label
         *                                  with no tokens, or an instruction for a model without a chat template
         * @throws IllegalStateException    when the model is closed
         * @throws ContextOverflowException when the prefix does not fit
         * @throws LlamaException           when a context cannot be created or the prefix decode fails
         */
        public Classifier build() {
            if (labels.size() < 2) throw new IllegalArgumentException("a classifier needs at least two labels, was given " + labels.size());
            if (labels.size() > ContextParams.MAX_SEQUENCES - 1) throw new IllegalArgumentException("at most 255 labels, was given " + labels.size());
            if (labels.stream().distinct().count() != labels.size()) throw new IllegalArgumentException("labels must be distinct: " + labels);
            if (contexts < 1) throw new IllegalArgumentException("contexts must be >= 1, was " + contexts);
            String pre = prefix;
            String suf = suffix;
            if (instruction != null) {
                String template = model.chatTemplate().orElseThrow(() -> new IllegalArgumentException(
                        "instruction() renders the model's chat template, and " + model.path().getFileName() + " has none: use prefix() and suffix()"));
                String rendered = ChatTemplates.apply(template, List.of(ChatMessage.system(instruction), ChatMessage.user(SLOT)), true);
                int at = rendered.indexOf(SLOT);
                if (at < 0) throw new IllegalArgumentException("the chat template dropped the user's message");
                pre = rendered.substring(0, at);
                suf = rendered.substring(at + SLOT.length()) + suffix;
            }
            int[][] labelTokens = new int[labels.size()][];
            for (int k = 0; k < labels.size(); k++) {
                labelTokens[k] = model.tokenize(labels.get(k), false, false);
                if (labelTokens[k].length == 0) throw new IllegalArgumentException("label " + k + " (\"" + labels.get(k) + "\") has no tokens");
            }
            for (int a = 0; a < labels.size(); a++) {
                for (int b = 0; b < labels.size(); b++) {
                    if (a != b && Arrays.equals(labelTokens[a], labelTokens[b])) {
                        throw new IllegalArgumentException("labels \"" + labels.get(a) + "\" and \"" + labels.get(b) + "\" have the same tokens");
                    }
                }
            }
            int[] prefixTokens = model.tokenizePrompt(pre);
            List<Node> trie = new ArrayList<>();
            int[][] rows = trie(labelTokens, trie);
            boolean multi = !trie.isEmpty();
            ContextParams base = contextParams != null ? contextParams : ContextParams.builder().contextSize(2048).build();
            ContextParams cp = multi && base.sequences() < labels.size() + 1 ? base.toBuilder().sequences(labels.size() + 1).build() : base;
            List<LlamaContext> made = new ArrayList<>();
            try {
                for (int i = 0; i < contexts; i++) {
                    LlamaContext ctx = LlamaContext.create(model, cp);
                    made.add(ctx);
                    if (prefixTokens.length > 0) {
                        if (prefixTokens.length >= ctx.contextSize()) {
                            throw new ContextOverflowException("the prefix has " + prefixTokens.length + " tokens; the context holds " + ctx.contextSize());
                        }
                        try (Borrow c = ctx.use()) {
                            ctx.checkDecode(ctx.decodeTokens(c.ptr(), prefixTokens, 0, prefixTokens.length), prefixTokens.length);
                        }
                    }
                }
            } catch (RuntimeException | Error e) {
                for (LlamaContext ctx : made) ctx.close();
                throw e;
            }
            return new Classifier(model, labels, labelTokens, prefixTokens, suf, trie, rows, List.copyOf(made));
        }

        /**
         * Builds the trie of the labels' tokens: one node per distinct token prefix of length d >= 1 that some label
         * continues past, in breadth-first order, carrying the sequences (label k is sequence k + 1) that go on.
         *
         * @return for label k and depth d >= 1, the node whose logits give its token d
         */
        private static int[][] trie(int[][] labelTokens, List<Node> nodes) {
            int[][] rows = new int[labelTokens.length][];
            Map<List<Integer>, Integer> index = new LinkedHashMap<>();
            Map<List<Integer>, List<Integer>> seqs = new LinkedHashMap<>();
            int maxLen = Arrays.stream(labelTokens).mapToInt(t -> t.length).max().orElse(0);
            for (int d = 1; d < maxLen; d++) {
                for (int k = 0; k < labelTokens.length; k++) {
                    if (labelTokens[k].length > d) {
                        List<Integer> key = Arrays.stream(labelTokens[k], 0, d).boxed().toList();
                        seqs.computeIfAbsent(key, x -> new ArrayList<>()).add(k + 1);
                    }
                }
            }
            for (var e : seqs.entrySet()) {
                List<Integer> key = e.getKey();
                index.put(key, nodes.size());
                nodes.add(new Node(key.getLast(), key.size(), e.getValue().stream().mapToInt(Integer::intValue).toArray()));
            }
            for (int k = 0; k < labelTokens.length; k++) {
                rows[k] = new int[labelTokens[k].length];
                rows[k][0] = -1;
                for (int d = 1; d < labelTokens[k].length; d++) {
                    rows[k][d] = index.get(Arrays.stream(labelTokens[k], 0, d).boxed().toList());
                }
            }
            return rows;
        }
    }
}
