package dev.llamajava.spring;

import dev.llamajava.Engine;
import dev.llamajava.EngineParams;
import dev.llamajava.LlamaModel;
import dev.llamajava.TextEmbedder;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;

import java.nio.file.Path;

/**
 * Spring Boot auto-configuration, active when {@code llama.model} names a GGUF file: one {@link LlamaModel}, one
 * {@link Engine} over it, a {@link LlamaChatModel}, and (unless {@code llama.embeddings=false}) a {@link TextEmbedder}
 * with a {@link LlamaEmbeddingModel}. Each is skipped where the application defines its own; the context closes them.
 */
@AutoConfiguration
@ConditionalOnProperty(prefix = "llama", name = "model")
@EnableConfigurationProperties(LlamaProperties.class)
public class LlamaAutoConfiguration {

    /** For Spring. */
    public LlamaAutoConfiguration() { }

    /** @param p the properties @return the model */
    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public LlamaModel llamaModel(LlamaProperties p) {
        return LlamaModel.load(Path.of(p.model()));
    }

    /** @param model the model @param p the properties @return the engine */
    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public Engine llamaEngine(LlamaModel model, LlamaProperties p) {
        return Engine.create(model, EngineParams.builder().slots(p.slots()).slotContext(p.slotContext())
                .queueCapacity(p.queueCapacity()).build());
    }

    /** @param engine the engine @return the chat model */
    @Bean
    @ConditionalOnMissingBean
    public LlamaChatModel llamaChatModel(Engine engine) {
        return new LlamaChatModel(engine);
    }

    /** @param model the model @return the embedder */
    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    @ConditionalOnProperty(prefix = "llama", name = "embeddings", havingValue = "true", matchIfMissing = true)
    public TextEmbedder llamaTextEmbedder(LlamaModel model) {
        return TextEmbedder.create(model);
    }

    /** @param embedder the embedder @return the embedding model */
    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnProperty(prefix = "llama", name = "embeddings", havingValue = "true", matchIfMissing = true)
    public LlamaEmbeddingModel llamaEmbeddingModel(TextEmbedder embedder) {
        return new LlamaEmbeddingModel(embedder);
    }
}
