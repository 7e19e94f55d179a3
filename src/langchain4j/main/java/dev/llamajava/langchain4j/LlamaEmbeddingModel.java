package dev.llamajava.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.embedding.DimensionAwareEmbeddingModel;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import dev.llamajava.TextEmbedder;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * LangChain4j's embedding model over a {@link TextEmbedder} (one embedding context on the shared model; safe from
 * any number of threads, one batch at a time): L2-normalised vectors of the model's output size, several segments per
 * decode. A segment with no tokens or more than the embedder holds gives an {@code InvalidRequestException} naming it.
 *
 * <pre>{@code
 * EmbeddingModel embeddings = new LlamaEmbeddingModel(TextEmbedder.create(model));
 * }</pre>
 */
public final class LlamaEmbeddingModel extends DimensionAwareEmbeddingModel {

    private final TextEmbedder embedder;
    private final String modelName;

    /** @param embedder the embedder; it stays the caller's to close */
    public LlamaEmbeddingModel(TextEmbedder embedder) {
        this(embedder, null);
    }

    /**
     * @param embedder  the embedder; it stays the caller's to close
     * @param modelName the name {@link #modelName()} gives (default: the GGUF file's name)
     */
    public LlamaEmbeddingModel(TextEmbedder embedder, String modelName) {
        this.embedder = Objects.requireNonNull(embedder, "embedder");
        this.modelName = modelName != null ? modelName : embedder.model().path().getFileName().toString();
        this.dimension = embedder.dimension();
    }

    @Override
    public Response<List<Embedding>> embedAll(List<TextSegment> segments) {
        List<String> texts = segments.stream().map(TextSegment::text).toList();
        List<float[]> vectors;
        try {
            vectors = embedder.embed(texts);
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(e.getMessage(), e);
        }
        List<Embedding> out = new ArrayList<>(vectors.size());
        for (float[] v : vectors) out.add(Embedding.from(v));
        int tokens = 0;
        for (String t : texts) tokens += embedder.model().tokenize(t, true, true).length;
        return Response.from(out, new TokenUsage(tokens));
    }

    @Override
    protected Integer knownDimension() {
        return embedder.dimension();
    }

    @Override
    public String modelName() {
        return modelName;
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }
}
