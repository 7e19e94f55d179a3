package dev.llamajava.spring;

import dev.llamajava.TextEmbedder;
import org.springframework.ai.chat.metadata.DefaultUsage;
import org.springframework.ai.document.Document;
import org.springframework.ai.embedding.Embedding;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.ai.embedding.EmbeddingRequest;
import org.springframework.ai.embedding.EmbeddingResponse;
import org.springframework.ai.embedding.EmbeddingResponseMetadata;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Spring AI's {@link EmbeddingModel} over a {@link TextEmbedder} (one embedding context on the shared model; safe from
 * any number of threads, one batch at a time): L2-normalised vectors of the model's output size. A text with no
 * tokens or more than the embedder holds gives an {@code IllegalArgumentException} naming it.
 */
public final class LlamaEmbeddingModel implements EmbeddingModel {

    private final TextEmbedder embedder;
    private final String modelName;

    /** @param embedder the embedder; it stays the caller's to close */
    public LlamaEmbeddingModel(TextEmbedder embedder) {
        this.embedder = Objects.requireNonNull(embedder, "embedder");
        this.modelName = embedder.model().path().getFileName().toString();
    }

    @Override
    public EmbeddingResponse call(EmbeddingRequest request) {
        List<String> texts = request.getInstructions();
        List<float[]> vectors = embedder.embed(texts);
        List<Embedding> out = new ArrayList<>(vectors.size());
        for (int i = 0; i < vectors.size(); i++) out.add(new Embedding(vectors.get(i), i));
        int tokens = 0;
        for (String t : texts) tokens += embedder.model().tokenize(t, true, true).length;
        return new EmbeddingResponse(out, new EmbeddingResponseMetadata(modelName, new DefaultUsage(tokens, 0)));
    }

    @Override
    public float[] embed(Document document) {
        return embedder.embed(getEmbeddingContent(document));
    }

    @Override
    public int dimensions() {
        return embedder.dimension();
    }
}
