package dev.llamajava;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;
import java.util.Objects;

/**
 * One generation's settings. Immutable.
 *
 * @param maxTokens    the most tokens to generate; -1 until the context is full
 * @param stopStrings  generation stops before any of these (matched across token boundaries, never emitted)
 * @param sampler      sampling settings
 * @param logprobs     compute each token's log-probability (costs a pass over the vocabulary per token)
 * @param addSpecial   add BOS as the model asks when the prompt starts a fresh context
 * @param parseSpecial parse special-token text in the prompt (e.g. {@code <|eot_id|>})
 * @param keepCache    keep the context's KV cache and continue after it (the default clears it first)
 * @param topLogprobs  the most probable tokens to report at each step ({@link Token#topLogprobs()}), 0 to 20; more
 *                     than 0 implies {@code logprobs}
 * @param ignoreEos    end-of-generation tokens do not end the generation: they are emitted like any other token (for
 *                     benchmarks that need an exact number of tokens, as llama.cpp's tools decode regardless)
 */
public record GenerationParams(int maxTokens, List<String> stopStrings, SamplerParams sampler, boolean logprobs,
                               boolean addSpecial, boolean parseSpecial, boolean keepCache, int topLogprobs,
                               boolean ignoreEos) {

    /** The most alternatives {@link #topLogprobs()} reports (OpenAI's limit). */
    public static final int MAX_TOP_LOGPROBS = 20;

    /** Validates; messages name the field. */
    public GenerationParams {
        if (maxTokens < -1 || maxTokens == 0) throw new IllegalArgumentException("maxTokens must be -1 or >= 1, was " + maxTokens);
        stopStrings = List.copyOf(Objects.requireNonNull(stopStrings, "stopStrings"));
        for (String s : stopStrings) if (s.isEmpty()) throw new IllegalArgumentException("stopStrings must not contain an empty string");
        Objects.requireNonNull(sampler, "sampler");
        if (topLogprobs < 0 || topLogprobs > MAX_TOP_LOGPROBS) throw new IllegalArgumentException("topLogprobs must be in [0, " + MAX_TOP_LOGPROBS + "], was " + topLogprobs);
        if (topLogprobs > 0) logprobs = true;
    }

    /** @return a builder holding these values */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.maxTokens = maxTokens; b.stopStrings = stopStrings; b.sampler = sampler; b.logprobs = logprobs;
        b.addSpecial = addSpecial; b.parseSpecial = parseSpecial; b.keepCache = keepCache; b.topLogprobs = topLogprobs;
        b.ignoreEos = ignoreEos;
        return b;
    }

    /** @return defaults: 256 tokens, llama.cpp's default sampling */
    public static GenerationParams defaults() {
        return builder().build();
    }

    /** @return a builder with the defaults */
    public static Builder builder() {
        return new Builder();
    }

    /** Builder for {@link GenerationParams}. */
    public static final class Builder {
        private int maxTokens = 256;
        private List<String> stopStrings = List.of();
        private SamplerParams sampler = SamplerParams.defaults();
        private boolean logprobs;
        private boolean addSpecial = true;
        private boolean parseSpecial = true;
        private boolean keepCache;
        private int topLogprobs;
        private String grammar;
        private boolean ignoreEos;

        private Builder() { }

        /** @param v most tokens, -1 for no limit @return this */
        public Builder maxTokens(int v) { maxTokens = v; return this; }
        /** @param v stop strings @return this */
        public Builder stopStrings(List<String> v) { stopStrings = v; return this; }
        /** @param v stop strings @return this */
        public Builder stop(String... v) { stopStrings = List.of(v); return this; }
        /** @param v sampling settings @return this */
        public Builder sampler(SamplerParams v) { sampler = v; return this; }
        /** @return this, with greedy sampling */
        public Builder greedy() { sampler = SamplerParams.greedy(); return this; }
        /** @param v compute log-probabilities @return this */
        public Builder logprobs(boolean v) { logprobs = v; return this; }
        /** @param v add BOS @return this */
        public Builder addSpecial(boolean v) { addSpecial = v; return this; }
        /** @param v parse special tokens in the prompt @return this */
        public Builder parseSpecial(boolean v) { parseSpecial = v; return this; }
        /** @param v continue after the existing KV cache @return this */
        public Builder keepCache(boolean v) { keepCache = v; return this; }
        /**
         * Constrains the output to JSON valid under a JSON Schema: the schema becomes a GBNF grammar
         * ({@link JsonSchemaGrammar}, llama.cpp's converter ported) that the sampler enforces. Replaces the sampler's
         * grammar, whatever order the builder's calls come in.
         *
         * @param schema the schema's JSON text
         * @return this
         * @throws IllegalArgumentException when the text is not JSON or the schema uses what the converter refuses
         */
        public Builder jsonSchema(String schema) { grammar = JsonSchemaGrammar.toGbnf(schema); return this; }

        /**
         * @param schema the schema
         * @return this, constrained to JSON valid under it (see {@link #jsonSchema(String)})
         * @throws IllegalArgumentException when the schema uses what the converter refuses
         */
        public Builder jsonSchema(JsonNode schema) { grammar = JsonSchemaGrammar.toGbnf(schema); return this; }

        /** @return this, constrained to any JSON object (OpenAI's {@code json_object} response format) */
        public Builder json() { grammar = JsonSchemaGrammar.ANY_OBJECT; return this; }

        /** @param v do not end on end-of-generation tokens @return this */
        public Builder ignoreEos(boolean v) { ignoreEos = v; return this; }
        /** @param v alternatives to report per token (0 to 20; implies logprobs) @return this */
        public Builder topLogprobs(int v) { topLogprobs = v; return this; }

        /**
         * @return the parameters
         * @throws IllegalArgumentException when a value is out of range (the message names the field)
         */
        public GenerationParams build() {
            SamplerParams sp = grammar == null ? sampler : sampler.toBuilder().grammar(grammar).grammarRoot("root").build();
            return new GenerationParams(maxTokens, stopStrings, sp, logprobs, addSpecial, parseSpecial, keepCache, topLogprobs, ignoreEos);
        }
    }
}
