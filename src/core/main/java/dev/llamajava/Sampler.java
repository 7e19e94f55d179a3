package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.ffi.llama_logit_bias;
import dev.llamajava.ffi.llama_sampler_chain_params;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.Objects;

/**
 * A llama.cpp sampler chain built from {@link SamplerParams}. Used by one thread at a time.
 */
public final class Sampler extends NativeResource {

    private final SamplerParams params;

    private Sampler(MemorySegment chain, SamplerParams params) {
        super("Sampler", chain, llama_h::llama_sampler_free, true);
        this.params = params;
    }

    /**
     * Builds the chain for a model's vocabulary.
     *
     * @param model  the model (its vocabulary sizes the penalties, DRY and grammar)
     * @param params the settings
     * @return the sampler; close it when done
     * @throws IllegalArgumentException when the grammar does not parse or a logit-bias token is outside the vocabulary
     * @throws IllegalStateException    when the model is closed
     */
    public static Sampler create(LlamaModel model, SamplerParams params) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(params, "params");
        model.acquire();
        MemorySegment chain = MemorySegment.NULL;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment vocab = model.vocab();
            int nVocab = llama_h.llama_vocab_n_tokens(vocab);
            MemorySegment cp = llama_h.llama_sampler_chain_default_params(arena);
            llama_sampler_chain_params.no_perf(cp, false);
            chain = llama_h.llama_sampler_chain_init(cp);
            if (!params.logitBias().isEmpty()) {
                MemorySegment arr = llama_logit_bias.allocateArray(params.logitBias().size(), arena);
                int i = 0;
                for (Map.Entry<Integer, Float> e : params.logitBias().entrySet()) {
                    if (e.getKey() < 0 || e.getKey() >= nVocab) {
                        throw new IllegalArgumentException("logitBias token " + e.getKey() + " is outside the vocabulary [0, " + nVocab + ")");
                    }
                    MemorySegment el = llama_logit_bias.asSlice(arr, i++);
                    llama_logit_bias.token(el, e.getKey());
                    llama_logit_bias.bias(el, e.getValue());
                }
                add(chain, llama_h.llama_sampler_init_logit_bias(nVocab, params.logitBias().size(), arr));
            }
            if (params.grammar() != null) {
                dev.llamajava.internal.loader.Natives.beginCapture();
                MemorySegment g;
                java.util.List<String> errors;
                try {
                    g = llama_h.llama_sampler_init_grammar(vocab, arena.allocateFrom(params.grammar()), arena.allocateFrom(params.grammarRoot()));
                } finally {
                    errors = dev.llamajava.internal.loader.Natives.endCapture();
                }
                if (g.equals(MemorySegment.NULL)) {
                    throw new IllegalArgumentException("grammar does not parse: " + (errors.isEmpty() ? "llama.cpp gave no reason" : String.join("; ", errors)));
                }
                add(chain, g);
            }
            boolean penalties = params.penaltyLastN() != 0 && (params.repeatPenalty() != 1.0f
                    || params.frequencyPenalty() != 0.0f || params.presencePenalty() != 0.0f);
            if (penalties) {
                add(chain, llama_h.llama_sampler_init_penalties(nVocab, params.penaltyLastN(), params.repeatPenalty(),
                        params.frequencyPenalty(), params.presencePenalty()));
            }
            if (params.dryMultiplier() > 0) {
                var breakers = params.drySequenceBreakers();
                MemorySegment arr = arena.allocate(java.lang.foreign.ValueLayout.ADDRESS, Math.max(1, breakers.size()));
                for (int i = 0; i < breakers.size(); i++) arr.setAtIndex(java.lang.foreign.ValueLayout.ADDRESS, i, arena.allocateFrom(breakers.get(i)));
                add(chain, llama_h.llama_sampler_init_dry(vocab, params.dryMultiplier(),
                        params.dryBase(), params.dryAllowedLength(), params.dryPenaltyLastN(), arr, (long) breakers.size()));
            }
            if (params.isGreedy()) {
                add(chain, llama_h.llama_sampler_init_greedy());
            } else if (params.mirostat() == 1) {
                add(chain, llama_h.llama_sampler_init_temp(params.temperature()));
                add(chain, llama_h.llama_sampler_init_mirostat(nVocab, params.seed(), params.mirostatTau(), params.mirostatEta(), 100));
            } else if (params.mirostat() == 2) {
                add(chain, llama_h.llama_sampler_init_temp(params.temperature()));
                add(chain, llama_h.llama_sampler_init_mirostat_v2(params.seed(), params.mirostatTau(), params.mirostatEta()));
            } else {
                if (params.topK() > 0) add(chain, llama_h.llama_sampler_init_top_k(params.topK()));
                if (params.typicalP() < 1.0f) add(chain, llama_h.llama_sampler_init_typical(params.typicalP(), 1));
                if (params.topP() < 1.0f) add(chain, llama_h.llama_sampler_init_top_p(params.topP(), 1));
                if (params.minP() > 0.0f) add(chain, llama_h.llama_sampler_init_min_p(params.minP(), 1));
                add(chain, llama_h.llama_sampler_init_temp(params.temperature()));
                add(chain, llama_h.llama_sampler_init_dist(params.seed()));
            }
            MemorySegment done = chain;
            chain = MemorySegment.NULL;
            return new Sampler(done, params);
        } finally {
            if (!chain.equals(MemorySegment.NULL)) llama_h.llama_sampler_free(chain);
            model.release();
        }
    }

    private static void add(MemorySegment chain, MemorySegment s) {
        if (s.equals(MemorySegment.NULL)) throw new LlamaException("llama.cpp could not create a sampler");
        llama_h.llama_sampler_chain_add(chain, s);
    }

    /** @return the settings this chain was built from */
    public SamplerParams params() {
        return params;
    }

    /** Clears the chain's state (penalty history, grammar, mirostat, RNG stays seeded). @throws IllegalStateException when closed */
    public void reset() {
        MemorySegment s = acquire();
        try {
            llama_h.llama_sampler_reset(s);
        } finally {
            release();
        }
    }

    /**
     * Tells the chain a token was chosen outside it (e.g. prompt tokens for the penalties).
     *
     * @param token the token
     * @throws IllegalStateException when closed
     */
    public void accept(int token) {
        MemorySegment s = acquire();
        try {
            llama_h.llama_sampler_accept(s, token);
        } finally {
            release();
        }
    }

    /** Samples from the context's last logits; the caller holds the context. */
    int sample(MemorySegment ctx, int idx) {
        MemorySegment s = acquire();
        try {
            return llama_h.llama_sampler_sample(s, ctx, idx);
        } finally {
            release();
        }
    }
}
