package dev.llamajava;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Sampling settings; immutable. Defaults equal llama.cpp's common defaults (temperature 0.8, top-k 40,
 * top-p 0.95, min-p 0.05, no penalties, no DRY, no mirostat). A temperature of 0 or less is greedy.
 * The chain is built in llama.cpp's order: logit bias, grammar, penalties, DRY, top-k, typical, top-p,
 * min-p, temperature, then the final pick (dist with the seed, greedy, or mirostat).
 *
 * @param temperature       softmax temperature; {@code <= 0} selects the most likely token (greedy)
 * @param topK              keep the k most likely tokens; {@code <= 0} disables
 * @param topP              nucleus sampling; 1 disables
 * @param minP              drop tokens below minP times the top probability; 0 disables
 * @param typicalP          locally typical sampling; 1 disables
 * @param penaltyLastN      window of recent tokens the penalties look at; 0 disables, -1 is the context size
 * @param repeatPenalty     repetition penalty; 1 disables
 * @param frequencyPenalty  frequency penalty; 0 disables
 * @param presencePenalty   presence penalty; 0 disables
 * @param dryMultiplier     DRY multiplier; 0 disables
 * @param dryBase           DRY base
 * @param dryAllowedLength  DRY allowed repeat length
 * @param dryPenaltyLastN   DRY window; -1 is the context size
 * @param drySequenceBreakers DRY sequence breakers
 * @param mirostat          0 off, 1 mirostat v1, 2 mirostat v2
 * @param mirostatTau       mirostat target entropy
 * @param mirostatEta       mirostat learning rate
 * @param seed              random seed; {@code -1} (0xFFFFFFFF) lets llama.cpp pick one
 * @param logitBias         token id to logit bias
 * @param grammar           GBNF grammar text, or null
 * @param grammarRoot       the grammar's root rule
 * @param grammarTriggers   regular expressions that make the grammar lazy: free text until one matches the output,
 *                          then the grammar applies from the match on (llama.cpp's lazy grammar); empty: from the start
 */
public record SamplerParams(float temperature, int topK, float topP, float minP, float typicalP,
                            int penaltyLastN, float repeatPenalty, float frequencyPenalty, float presencePenalty,
                            float dryMultiplier, float dryBase, int dryAllowedLength, int dryPenaltyLastN,
                            List<String> drySequenceBreakers, int mirostat, float mirostatTau, float mirostatEta,
                            int seed, Map<Integer, Float> logitBias, String grammar, String grammarRoot,
                            List<String> grammarTriggers) {

    /** Validates every value; messages name the field. */
    public SamplerParams {
        if (Float.isNaN(temperature)) throw new IllegalArgumentException("temperature must be a number");
        if (topP <= 0 || topP > 1) throw new IllegalArgumentException("topP must be in (0, 1], was " + topP);
        if (minP < 0 || minP > 1) throw new IllegalArgumentException("minP must be in [0, 1], was " + minP);
        if (typicalP <= 0 || typicalP > 1) throw new IllegalArgumentException("typicalP must be in (0, 1], was " + typicalP);
        if (penaltyLastN < -1) throw new IllegalArgumentException("penaltyLastN must be >= -1, was " + penaltyLastN);
        if (!(repeatPenalty > 0) || Float.isInfinite(repeatPenalty)) throw new IllegalArgumentException("repeatPenalty must be > 0, was " + repeatPenalty);
        if (!Float.isFinite(frequencyPenalty)) throw new IllegalArgumentException("frequencyPenalty must be finite");
        if (!Float.isFinite(presencePenalty)) throw new IllegalArgumentException("presencePenalty must be finite");
        if (dryMultiplier < 0) throw new IllegalArgumentException("dryMultiplier must be >= 0, was " + dryMultiplier);
        if (dryPenaltyLastN < -1) throw new IllegalArgumentException("dryPenaltyLastN must be >= -1, was " + dryPenaltyLastN);
        if (mirostat < 0 || mirostat > 2) throw new IllegalArgumentException("mirostat must be 0, 1 or 2, was " + mirostat);
        drySequenceBreakers = List.copyOf(Objects.requireNonNull(drySequenceBreakers, "drySequenceBreakers"));
        logitBias = Map.copyOf(Objects.requireNonNull(logitBias, "logitBias"));
        Objects.requireNonNull(grammarRoot, "grammarRoot");
        // the patterns are checked where they are compiled, by llama.cpp's own flavour (std::regex) in Sampler
        grammarTriggers = List.copyOf(Objects.requireNonNull(grammarTriggers, "grammarTriggers"));
        if (!grammarTriggers.isEmpty() && grammar == null) throw new IllegalArgumentException("grammarTriggers need a grammar");
    }

    /** @return whether the chain ends in greedy selection */
    public boolean isGreedy() {
        return temperature <= 0 && mirostat == 0;
    }

    /**
     * @return whether the chain is greedy with nothing before it (no logit bias, grammar, penalties or DRY): the
     *         token is then the first largest logit, which llama-java picks without building the candidate array
     */
    public boolean isPureGreedy() {
        boolean penalties = penaltyLastN != 0 && (repeatPenalty != 1.0f || frequencyPenalty != 0.0f || presencePenalty != 0.0f);
        return isGreedy() && logitBias.isEmpty() && grammar == null && !penalties && dryMultiplier <= 0;
    }

    /** @return llama.cpp's common defaults */
    public static SamplerParams defaults() {
        return builder().build();
    }

    /** @return greedy sampling (temperature 0, nothing else) */
    public static SamplerParams greedy() {
        return builder().temperature(0).build();
    }

    /**
     * The sampler an OpenAI-style request asks for, the one mapping under the server, LangChain4j and Spring AI:
     * each null keeps {@link #defaults()}' value; a temperature of 0 is {@link #greedy()}; the frequency and presence
     * penalties look at the last 64 tokens; the seed's low 31 bits are used.
     *
     * @param temperature      softmax temperature, or null
     * @param topP             nucleus sampling, or null
     * @param topK             top-k, or null
     * @param frequencyPenalty frequency penalty, or null
     * @param presencePenalty  presence penalty, or null
     * @param seed             random seed, or null (llama.cpp picks one)
     * @return the sampler
     * @throws IllegalArgumentException when a value is out of range (the message names the field)
     */
    public static SamplerParams of(Double temperature, Double topP, Integer topK, Double frequencyPenalty,
                                   Double presencePenalty, Long seed) {
        if (temperature != null && temperature == 0) return greedy();
        Builder b = builder();
        if (temperature != null) b.temperature(temperature.floatValue());
        if (topP != null) b.topP(topP.floatValue());
        if (topK != null) b.topK(topK);
        if (seed != null) b.seed((int) (seed & 0x7fffffffL));
        if (frequencyPenalty != null || presencePenalty != null) {
            b.penalties(64, 1.0f, frequencyPenalty == null ? 0f : frequencyPenalty.floatValue(),
                    presencePenalty == null ? 0f : presencePenalty.floatValue());
        }
        return b.build();
    }

    /** @return a builder with the defaults */
    public static Builder builder() {
        return new Builder();
    }

    /** @return a builder holding these values */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.temperature = temperature; b.topK = topK; b.topP = topP; b.minP = minP; b.typicalP = typicalP;
        b.penaltyLastN = penaltyLastN; b.repeatPenalty = repeatPenalty; b.frequencyPenalty = frequencyPenalty;
        b.presencePenalty = presencePenalty; b.dryMultiplier = dryMultiplier; b.dryBase = dryBase;
        b.dryAllowedLength = dryAllowedLength; b.dryPenaltyLastN = dryPenaltyLastN; b.drySequenceBreakers = drySequenceBreakers;
        b.mirostat = mirostat; b.mirostatTau = mirostatTau; b.mirostatEta = mirostatEta; b.seed = seed;
        b.logitBias = logitBias; b.grammar = grammar; b.grammarRoot = grammarRoot; b.grammarTriggers = grammarTriggers;
        return b;
    }

    /** Builder for {@link SamplerParams}. */
    public static final class Builder {
        private float temperature = 0.8f;
        private int topK = 40;
        private float topP = 0.95f;
        private float minP = 0.05f;
        private float typicalP = 1.0f;
        private int penaltyLastN = 64;
        private float repeatPenalty = 1.0f;
        private float frequencyPenalty = 0.0f;
        private float presencePenalty = 0.0f;
        private float dryMultiplier = 0.0f;
        private float dryBase = 1.75f;
        private int dryAllowedLength = 2;
        private int dryPenaltyLastN = -1;
        private List<String> drySequenceBreakers = List.of("\n", ":", "\"", "*");
        private int mirostat = 0;
        private float mirostatTau = 5.0f;
        private float mirostatEta = 0.1f;
        private int seed = -1;
        private Map<Integer, Float> logitBias = Map.of();
        private String grammar;
        private String grammarRoot = "root";
        private List<String> grammarTriggers = List.of();

        private Builder() { }

        /** @param v temperature, {@code <= 0} for greedy @return this */
        public Builder temperature(float v) { temperature = v; return this; }
        /** @param v top-k, {@code <= 0} disables @return this */
        public Builder topK(int v) { topK = v; return this; }
        /** @param v top-p in (0, 1] @return this */
        public Builder topP(float v) { topP = v; return this; }
        /** @param v min-p in [0, 1] @return this */
        public Builder minP(float v) { minP = v; return this; }
        /** @param v typical-p in (0, 1] @return this */
        public Builder typicalP(float v) { typicalP = v; return this; }
        /**
         * @param lastN     window, 0 disables, -1 context size
         * @param repeat    repetition penalty, 1 disables
         * @param frequency frequency penalty, 0 disables
         * @param presence  presence penalty, 0 disables
         * @return this
         */
        public Builder penalties(int lastN, float repeat, float frequency, float presence) {
            penaltyLastN = lastN; repeatPenalty = repeat; frequencyPenalty = frequency; presencePenalty = presence;
            return this;
        }
        /**
         * @param multiplier    0 disables
         * @param base          base
         * @param allowedLength allowed repeat length
         * @param lastN         window, -1 context size
         * @return this
         */
        public Builder dry(float multiplier, float base, int allowedLength, int lastN) {
            dryMultiplier = multiplier; dryBase = base; dryAllowedLength = allowedLength; dryPenaltyLastN = lastN;
            return this;
        }
        /** @param v DRY sequence breakers @return this */
        public Builder drySequenceBreakers(List<String> v) { drySequenceBreakers = v; return this; }
        /**
         * @param version 0 off, 1 or 2
         * @param tau     target entropy
         * @param eta     learning rate
         * @return this
         */
        public Builder mirostat(int version, float tau, float eta) { mirostat = version; mirostatTau = tau; mirostatEta = eta; return this; }
        /** @param v seed, -1 for a random one @return this */
        public Builder seed(int v) { seed = v; return this; }
        /** @param v token id to bias @return this */
        public Builder logitBias(Map<Integer, Float> v) { logitBias = v; return this; }
        /** @param gbnf GBNF grammar text, null for none @return this */
        public Builder grammar(String gbnf) { grammar = gbnf; return this; }
        /** @param v root rule name @return this */
        public Builder grammarRoot(String v) { grammarRoot = v; return this; }
        /**
         * @param v regular expressions (llama.cpp's ECMAScript flavour) after whose match the grammar applies; the
         *          output before it is free (for example {@code "[\\s\\S]*?(\\{)"}: text, then JSON from the brace)
         * @return this
         */
        public Builder grammarTriggers(List<String> v) { grammarTriggers = v; return this; }

        /**
         * @return the parameters
         * @throws IllegalArgumentException when a value is out of range (the message names the field)
         */
        public SamplerParams build() {
            return new SamplerParams(temperature, topK, topP, minP, typicalP, penaltyLastN, repeatPenalty, frequencyPenalty,
                    presencePenalty, dryMultiplier, dryBase, dryAllowedLength, dryPenaltyLastN, drySequenceBreakers,
                    mirostat, mirostatTau, mirostatEta, seed, logitBias, grammar, grammarRoot, grammarTriggers);
        }
    }
}
