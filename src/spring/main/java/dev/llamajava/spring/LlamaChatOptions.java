package dev.llamajava.spring;

import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.model.tool.DefaultStructuredOutputChatOptions;

import java.util.List;
import java.util.Objects;

/**
 * Spring AI's chat options plus llama-java's own: the sampler's seed and min-p. They are
 * {@link org.springframework.ai.model.tool.StructuredOutputChatOptions}, so {@code ChatClient}'s native structured
 * output ({@code AdvisorParams.ENABLE_NATIVE_STRUCTURED_OUTPUT}) hands the entity's JSON schema to the model, which
 * turns it into a grammar.
 */
public class LlamaChatOptions extends DefaultStructuredOutputChatOptions {

    private final Long seed;
    private final Double minP;

    LlamaChatOptions(String model, Double frequencyPenalty, Integer maxTokens, Double presencePenalty,
                     List<String> stopSequences, Double temperature, Integer topK, Double topP, String outputSchema,
                     Long seed, Double minP) {
        super(model, frequencyPenalty, maxTokens, presencePenalty, stopSequences, temperature, topK, topP, outputSchema);
        this.seed = seed;
        this.minP = minP;
    }

    /** @return the sampler's seed, or null (llama.cpp picks one) */
    public Long getSeed() {
        return seed;
    }

    /** @return min-p, or null (llama.cpp's default, 0.05) */
    public Double getMinP() {
        return minP;
    }

    /** @return an empty builder */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Builder mutate() {
        return builder().model(getModel()).frequencyPenalty(getFrequencyPenalty()).maxTokens(getMaxTokens())
                .presencePenalty(getPresencePenalty()).stopSequences(getStopSequences()).temperature(getTemperature())
                .topK(getTopK()).topP(getTopP()).outputSchema(getOutputSchema()).seed(seed).minP(minP);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LlamaChatOptions that && super.equals(o) && Objects.equals(seed, that.seed)
                && Objects.equals(minP, that.minP);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), seed, minP);
    }

    /** Builder for {@link LlamaChatOptions}. */
    public static class Builder extends DefaultStructuredOutputChatOptions.Builder<Builder> {

        private Long seed;
        private Double minP;

        /** An empty builder. */
        public Builder() { }

        /** @param seed the sampler's seed @return this */
        public Builder seed(Long seed) {
            this.seed = seed;
            return this;
        }

        /** @param minP min-p in [0, 1] @return this */
        public Builder minP(Double minP) {
            this.minP = minP;
            return this;
        }

        @Override
        public Builder combineWith(ChatOptions.Builder<?> other) {
            super.combineWith(other);
            if (other instanceof Builder b) {
                if (b.seed != null) seed = b.seed;
                if (b.minP != null) minP = b.minP;
            }
            return this;
        }

        @Override
        public LlamaChatOptions build() {
            return new LlamaChatOptions(model, frequencyPenalty, maxTokens, presencePenalty, stopSequences, temperature,
                    topK, topP, outputSchema, seed, minP);
        }
    }
}
