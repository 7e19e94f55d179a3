package dev.llamajava.spring;

import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The {@code llama.*} properties of the Spring Boot auto-configuration.
 *
 * @param model         the GGUF file (required: without it nothing is configured)
 * @param slots         parallel sequences of the engine (default 4)
 * @param slotContext   tokens of KV cache per sequence (default 4096)
 * @param queueCapacity requests that may wait for a slot (default 64)
 * @param embeddings    also configure the embedding model (default true)
 */
@ConfigurationProperties("llama")
public record LlamaProperties(String model, Integer slots, Integer slotContext, Integer queueCapacity, Boolean embeddings) {

    /** Fills the defaults. */
    public LlamaProperties {
        if (slots == null) slots = 4;
        if (slotContext == null) slotContext = 4096;
        if (queueCapacity == null) queueCapacity = 64;
        if (embeddings == null) embeddings = true;
    }
}
