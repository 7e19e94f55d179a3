package dev.llamajava;

import dev.llamajava.ContextParams.Pooling;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Sentence embeddings over one model for any number of threads: an embedding context of its own (which pins the
 * model), the model's pooling or mean pooling for a model that names none (a causal language model such as Llama),
 * and one caller at a time inside it. The shared piece under the server's {@code /v1/embeddings} and the LangChain4j
 * and Spring AI embedding models.
 *
 * <pre>{@code
 * try (TextEmbedder e = TextEmbedder.create(model)) {
 *     float[] v = e.embed("a sentence");          // L2-normalised, e.dimension() floats
 * }
 * }</pre>
 */
public final class TextEmbedder implements AutoCloseable {

    /** The default context: 2048 tokens per input, 4 inputs per decode. */
    public static final ContextParams DEFAULT_CONTEXT = ContextParams.builder().contextSize(2048).batchSize(2048)
            .microBatchSize(2048).sequences(4).build();

    private final LlamaContext context;
    private final ReentrantLock lock = new ReentrantLock();
    private final int dimension;

    private TextEmbedder(LlamaContext context, int dimension) {
        this.context = context;
        this.dimension = dimension;
    }

    /**
     * An embedder with {@link #DEFAULT_CONTEXT}.
     *
     * @param model the model; it stays open at least as long as the embedder
     * @return the embedder
     * @throws IllegalStateException when the model is closed
     * @throws LlamaException        when llama.cpp cannot create the context
     */
    public static TextEmbedder create(LlamaModel model) {
        return create(model, DEFAULT_CONTEXT);
    }

    /**
     * An embedder over a context made from {@code params} with {@code embeddings(true)}; the pooling is the one
     * {@code params} names, else the model's, else {@link Pooling#MEAN}.
     *
     * @param model  the model; it stays open at least as long as the embedder
     * @param params the context's settings (its size bounds one input's tokens)
     * @return the embedder
     * @throws IllegalStateException when the model is closed
     * @throws LlamaException        when llama.cpp cannot create the context
     */
    public static TextEmbedder create(LlamaModel model, ContextParams params) {
        Objects.requireNonNull(model, "model");
        ContextParams p = Objects.requireNonNull(params, "params").toBuilder().embeddings(true).build();
        LlamaContext c = LlamaContext.create(model, p);
        if (c.pooling() == Pooling.NONE) {
            c.close();
            c = LlamaContext.create(model, p.toBuilder().pooling(Pooling.MEAN).build());
        }
        try {
            return new TextEmbedder(c, c.embed(new int[] {Math.max(0, model.bosToken())}, false).length);
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }

    /** @return floats per vector */
    public int dimension() {
        return dimension;
    }

    /** @return the most tokens one input may have */
    public int maxTokens() {
        return Math.min(context.contextSize(), context.params().microBatchSize());
    }

    /** @return the model it embeds with */
    public LlamaModel model() {
        return context.model();
    }

    /** @return the pooling in use */
    public Pooling pooling() {
        return context.pooling();
    }

    /**
     * @param text the text, tokenized with the model's special tokens (BOS)
     * @return its L2-normalised embedding
     * @throws IllegalArgumentException when the text has no tokens or more than {@link #maxTokens()}
     * @throws IllegalStateException    when closed
     * @throws LlamaException           when llama.cpp fails
     */
    public float[] embed(String text) {
        return embed(List.of(Objects.requireNonNull(text, "text"))).getFirst();
    }

    /**
     * @param texts the texts, embedded in order, several per decode
     * @return their L2-normalised embeddings, in order
     * @throws IllegalArgumentException when a text has no tokens or more than {@link #maxTokens()} (the message
     *                                  gives its index)
     * @throws IllegalStateException    when closed
     * @throws LlamaException           when llama.cpp fails
     */
    public List<float[]> embed(List<String> texts) {
        Objects.requireNonNull(texts, "texts");
        lock.lock();
        try {
            return context.embed(texts, true);
        } finally {
            lock.unlock();
        }
    }

    /**
     * @param tokens    token ids, decoded as given (add BOS yourself if the model wants it)
     * @param normalize L2-normalise the vector
     * @return the pooled embedding
     * @throws IllegalArgumentException when there are no tokens, more than {@link #maxTokens()}, or one is outside
     *                                  the vocabulary
     * @throws IllegalStateException    when closed
     * @throws LlamaException           when llama.cpp fails
     */
    public float[] embed(int[] tokens, boolean normalize) {
        lock.lock();
        try {
            return context.embed(tokens, normalize);
        } finally {
            lock.unlock();
        }
    }

    /** Frees the context, after any embedding in progress. Safe to call twice. */
    @Override
    public void close() {
        lock.lock();
        try {
            context.close();
        } finally {
            lock.unlock();
        }
    }
}
