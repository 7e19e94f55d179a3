package dev.llamajava;

import dev.llamajava.ContextParams.Pooling;
import dev.llamajava.NativeResource.Borrow;
import dev.llamajava.ffi.llama_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Embeddings and reranking over a context created with {@code embeddings(true)}, computed as llama.cpp's
 * {@code llama-embedding} tool does: each input is one sequence, decoded from an empty KV cache, several sequences
 * per decode when the context holds more than one; the vectors come from {@code llama_get_embeddings_seq} (pooled)
 * or {@code llama_get_embeddings_ith} (per token) and are L2-normalised the tool's way when asked.
 *
 * <p>Every decode holds at most one micro-batch of tokens, so a sequence is never split across micro-batches (a split
 * would pool each part on its own) and a non-causal model never meets llama.cpp's {@code n_ubatch >= n_tokens} abort.
 */
final class Embedder {

    private final LlamaContext ctx;
    private final MemorySegment c;
    private final LlamaModel model;
    /** Floats per pooled vector: the embedding size, or the classifier's outputs for rank pooling. */
    private final int nEmbd;
    private final int nUbatch;
    private final int nSeq;
    final Pooling pooling;

    /** @param c the context pointer, borrowed by the caller for this object's whole use */
    Embedder(LlamaContext ctx, MemorySegment c) {
        if (!ctx.params().embeddings()) {
            throw new IllegalStateException("this context was not created for embeddings: create it with "
                    + "ContextParams.builder().embeddings(true).pooling(...)");
        }
        this.ctx = ctx;
        this.c = c;
        this.model = ctx.model();
        this.pooling = Pooling.of(llama_h.llama_pooling_type(c));
        try (Borrow m = model.use()) {
            this.nEmbd = pooling == Pooling.RANK ? llama_h.llama_model_n_cls_out(m.ptr()) : llama_h.llama_model_n_embd_out(m.ptr());
        }
        if (pooling == Pooling.RANK && !model.rankHead) {
            throw new IllegalStateException("rank pooling needs a reranking model (one with a classification head, cls or "
                    + "cls.output weights); " + model.path().getFileName() + " has none, so llama.cpp's rank output would be "
                    + "undefined: create the context with pooling MEAN, CLS or LAST for embeddings");
        }
        this.nUbatch = llama_h.llama_n_ubatch(c);
        this.nSeq = llama_h.llama_n_seq_max(c);
    }

    /** One pooled vector per input, in order. */
    List<float[]> pooled(List<int[]> inputs, boolean normalize) {
        if (pooling == Pooling.NONE) {
            throw new IllegalStateException("this context does not pool (pooling NONE: the model names no pooling of its own): "
                    + "create it with ContextParams.builder().embeddings(true).pooling(Pooling.MEAN) (or CLS, LAST), "
                    + "or call tokenEmbeddings for one vector per token");
        }
        List<float[]> out = new ArrayList<>(inputs.size());
        int i = 0;
        while (i < inputs.size()) {
            int from = i, tokens = 0;
            while (i < inputs.size() && i - from < nSeq && tokens + check(inputs.get(i), i).length <= nUbatch) {
                tokens += inputs.get(i).length;
                i++;
            }
            decode(inputs.subList(from, i));
            for (int s = 0; s < i - from; s++) {
                MemorySegment e = llama_h.llama_get_embeddings_seq(c, s);
                if (e.equals(MemorySegment.NULL)) throw new LlamaException("llama_get_embeddings_seq(" + s + ") returned NULL");
                out.add(vector(e, normalize));
            }
        }
        clear();
        return out;
    }

    /** One vector per token of one input (pooling NONE). */
    float[][] perToken(int[] tokens, boolean normalize) {
        if (pooling != Pooling.NONE) {
            throw new IllegalStateException("this context pools its embeddings (" + pooling + "): per-token vectors need "
                    + "ContextParams.builder().embeddings(true).pooling(Pooling.NONE)");
        }
        check(tokens, 0);
        decode(List.of(tokens));
        float[][] out = new float[tokens.length][];
        for (int t = 0; t < tokens.length; t++) {
            MemorySegment e = llama_h.llama_get_embeddings_ith(c, t);
            if (e.equals(MemorySegment.NULL)) throw new LlamaException("llama_get_embeddings_ith(" + t + ") returned NULL");
            out[t] = vector(e, normalize);
        }
        clear();
        return out;
    }

    /**
     * The reranker's input for a query and a document, as {@code llama-embedding} builds it: the model's
     * {@code rerank} chat template with {@code {query}} and {@code {document}} replaced, else query, the EOS and SEP
     * texts the vocabulary adds, and the document.
     */
    int[] rerankInput(String query, String document) {
        String prompt;
        try (Borrow m = model.use(); Arena a = Arena.ofConfined()) {
            MemorySegment template = llama_h.llama_model_chat_template(m.ptr(), a.allocateFrom("rerank"));
            if (!template.equals(MemorySegment.NULL)) {
                prompt = template.reinterpret(Long.MAX_VALUE).getString(0).replace("{query}", query).replace("{document}", document);
            } else {
                MemorySegment vocab = llama_h.llama_model_get_vocab(m.ptr());
                StringBuilder sb = new StringBuilder(query);
                if (llama_h.llama_vocab_get_add_eos(vocab)) sb.append(tokenText(vocab, llama_h.llama_vocab_eos(vocab)));
                if (llama_h.llama_vocab_get_add_sep(vocab)) sb.append(tokenText(vocab, llama_h.llama_vocab_sep(vocab)));
                prompt = sb.append(document).toString();
            }
        }
        return model.tokenize(prompt, true, true);
    }

    private static String tokenText(MemorySegment vocab, int token) {
        MemorySegment t = llama_h.llama_vocab_get_text(vocab, token);
        return t.equals(MemorySegment.NULL) ? "" : t.reinterpret(Long.MAX_VALUE).getString(0);
    }

    private int[] check(int[] tokens, int index) {
        if (tokens.length == 0) throw new IllegalArgumentException("input " + index + " has no tokens");
        if (tokens.length > nUbatch) {
            throw new IllegalArgumentException("input " + index + " has " + tokens.length + " tokens, more than the context's "
                    + "microBatchSize " + nUbatch + " (a sequence is pooled within one micro-batch): raise microBatchSize and batchSize");
        }
        int nVocab = model.vocabSize();
        for (int t : tokens) {
            if (t < 0 || t >= nVocab) throw new IllegalArgumentException("input " + index + " holds token " + t + ", outside the vocabulary [0, " + nVocab + ")");
        }
        return tokens;
    }

    private void decode(List<int[]> seqs) {
        int n = 0;
        for (int[] s : seqs) n += s.length;
        clear();
        try (Batch batch = Batch.create(n, 1)) {
            for (int s = 0; s < seqs.size(); s++) {
                int[] tokens = seqs.get(s);
                for (int p = 0; p < tokens.length; p++) batch.add(tokens[p], p, s, true);
            }
            ctx.decodeBatch(c, batch);
        }
    }

    private void clear() {
        llama_h.llama_memory_clear(llama_h.llama_get_memory(c), true);
    }

    /** Copies a vector, normalised as {@code common_embd_normalize(.., 2)} does when asked. */
    private float[] vector(MemorySegment e, boolean normalize) {
        float[] v = e.reinterpret((long) nEmbd * 4).toArray(ValueLayout.JAVA_FLOAT);
        if (normalize) normalizeL2(v);
        return v;
    }

    /** In place, with llama.cpp's arithmetic: a double sum of float squares, one float factor. */
    static void normalizeL2(float[] v) {
        double sum = 0.0;
        for (float x : v) sum += x * x;
        sum = Math.sqrt(sum);
        float norm = sum > 0.0 ? (float) (1.0 / sum) : 0.0f;
        for (int i = 0; i < v.length; i++) v[i] *= norm;
    }
}
