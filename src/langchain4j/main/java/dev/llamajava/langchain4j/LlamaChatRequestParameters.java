package dev.llamajava.langchain4j;

import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;

import java.util.Objects;

/**
 * LangChain4j's common request parameters plus llama-java's own: the sampler's seed and min-p. Give them as a model's
 * {@code defaultRequestParameters} or per request ({@code ChatRequest.builder().parameters(...)}); a request's values
 * override the defaults, field by field.
 */
public class LlamaChatRequestParameters extends DefaultChatRequestParameters {

    private final Long seed;
    private final Double minP;

    private LlamaChatRequestParameters(Builder builder) {
        super(builder);
        this.seed = builder.seed;
        this.minP = builder.minP;
    }

    /** @return the sampler's seed, or null (llama.cpp picks one) */
    public Long seed() {
        return seed;
    }

    /** @return min-p, or null (llama.cpp's default, 0.05) */
    public Double minP() {
        return minP;
    }

    @Override
    public LlamaChatRequestParameters overrideWith(ChatRequestParameters that) {
        return builder().overrideWith(this).overrideWith(that).build();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LlamaChatRequestParameters that && super.equals(o) && Objects.equals(seed, that.seed)
                && Objects.equals(minP, that.minP);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), seed, minP);
    }

    @Override
    public String toString() {
        return "LlamaChatRequestParameters{" + super.toString() + ", seed=" + seed + ", minP=" + minP + "}";
    }

    /** @return an empty builder */
    public static Builder builder() {
        return new Builder();
    }

    /** Builder for {@link LlamaChatRequestParameters}. */
    public static class Builder extends DefaultChatRequestParameters.Builder<Builder> {

        private Long seed;
        private Double minP;

        /** An empty builder. */
        public Builder() { }

        @Override
        public Builder overrideWith(ChatRequestParameters parameters) {
            super.overrideWith(parameters);
            if (parameters instanceof LlamaChatRequestParameters p) {
                if (p.seed != null) seed = p.seed;
                if (p.minP != null) minP = p.minP;
            }
            return this;
        }

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
        public LlamaChatRequestParameters build() {
            return new LlamaChatRequestParameters(this);
        }
    }
}
