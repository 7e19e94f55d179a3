package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.ffi.llama_logit_bias;
import dev.llamajava.ffi.llama_sampler_chain_params;
import dev.llamajava.ffi.llama_token_data;
import dev.llamajava.ffi.llama_token_data_array;
import dev.llamajava.internal.loader.Natives;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A llama.cpp sampler chain built from {@link SamplerParams}. Used by one thread at a time.
 */
public final class Sampler extends NativeResource {

    private final SamplerParams params;
    /** The grammar sampler, outside the chain (see {@link #sample}), or NULL. */
    private final MemorySegment grammar;
    /** Room for the vocabulary's candidates, for grammar steps (NULL without a grammar). */
    private final MemorySegment candidates;
    private final int nVocab;
    private final MemorySegment vocab;
    /** The UTF-8 state of the sampled text, for grammar steps (see {@code llamajava_sample_grammar}; NULL without). */
    private final MemorySegment utf8;
    /**
     * The chain's leading top-k when the shim can pick the k candidates itself ({@code llamajava_sample_top_k}: the
     * chain starts with top-k and has no grammar), else 0.
     */
    private final int topK;
    /** Room for the top-k candidates (NULL when {@link #topK} is 0). */
    private final MemorySegment topKBuffer;
    /**
     * The chain's draw (its last sampler) when the chain is llama.cpp's default shape after the leading top-k (top-p,
     * min-p, temperature, the draw: no typical), so the shim applies the middle samplers itself
     * ({@code llamajava_sample_default_chain}); else NULL.
     */
    private final MemorySegment dist;
    /** Whether the chain is lent to a context's graph (backend sampling): then llama.cpp has drawn the token already. */
    boolean lent;
    /** The largest k llama-java's graph ops take (their graph is sized for it); larger samples on the host. */
    static final int GRAPH_OPS_MAX_K = 1024;

    /** @param buffers the grammar's buffers, or null without a grammar (a sampler without one allocates nothing) */
    private Sampler(MemorySegment chain, SamplerParams params, MemorySegment grammar, Arena buffers, MemorySegment vocab,
                    int nVocab, LlamaModel pinned) {
        super("Sampler", chain, p -> {
            llama_h.llama_sampler_free(p);
            if (buffers != null) {
                llama_h.llama_sampler_free(grammar);
                buffers.close();
            }
        }, true, pinned);
        this.params = params;
        this.grammar = grammar;
        this.nVocab = nVocab;
        this.vocab = vocab;
        this.utf8 = buffers == null ? MemorySegment.NULL : buffers.allocate(ValueLayout.JAVA_INT);
        this.candidates = buffers == null ? MemorySegment.NULL : buffers.allocate(llama_token_data.layout(), nVocab);
        this.topK = leadingTopK(params, nVocab);
        this.topKBuffer = topK == 0 ? MemorySegment.NULL : Arena.ofAuto().allocate(llama_token_data.layout(), topK);
        this.dist = topK == 0 || params.typicalP() < 1.0f ? MemorySegment.NULL
                : llama_h.llama_sampler_chain_get(chain, llama_h.llama_sampler_chain_n(chain) - 1);
    }

    /**
     * @return k when the chain {@link #build} makes for these settings starts with top-k (no logit bias, penalties, DRY,
     *         mirostat or grammar before it; not greedy) and k is below the vocabulary, else 0. Any vocabulary: the
     *         shim's top-k costs less than llama.cpp's candidates and partial sort from 512 tokens (every logit a key:
     *         0.9 against 2.3 µs, k = 40) to Llama 3's 128,256 (block maxima: 8 against 190 µs)
     */
    static int leadingTopK(SamplerParams p, int nVocab) {
        boolean penalties = p.penaltyLastN() != 0 && (p.repeatPenalty() != 1.0f || p.frequencyPenalty() != 0.0f || p.presencePenalty() != 0.0f);
        if (p.grammar() != null || !p.logitBias().isEmpty() || penalties || p.dryMultiplier() > 0 || p.isGreedy() || p.mirostat() != 0) return 0;
        return p.topK() > 0 && p.topK() < nVocab ? p.topK() : 0;
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
        try (Borrow b = model.use()) {
            return build(model.vocab(), model.nVocab, params, model);
        }
    }

    /** A sampler for a stream, whose context keeps the vocabulary alive; it pins nothing. */
    static Sampler forStream(MemorySegment vocab, int nVocab, SamplerParams params) {
        return build(vocab, nVocab, params, null);
    }

    private static Sampler build(MemorySegment vocab, int nVocab, SamplerParams params, LlamaModel pin) {
        MemorySegment chain = MemorySegment.NULL;
        MemorySegment g = MemorySegment.NULL;
        try (Arena arena = Arena.ofConfined()) {
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
                Natives.beginCapture();
                List<String> errors;
                try {
                    if (params.grammarTriggers().isEmpty()) {
                        g = llama_h.llama_sampler_init_grammar(vocab, arena.allocateFrom(params.grammar()), arena.allocateFrom(params.grammarRoot()));
                    } else {
                        List<String> triggers = params.grammarTriggers();
                        MemorySegment why = arena.allocate(512);
                        for (String t : triggers) {
                            if (llama_h.llamajava_regex_check(arena.allocateFrom(t), why, 512) != 0) {
                                throw new IllegalArgumentException("grammar trigger " + t + " is not a regular expression llama.cpp "
                                        + "accepts (std::regex, ECMAScript): " + why.getString(0));
                            }
                        }
                        MemorySegment pats = arena.allocate(ValueLayout.ADDRESS, triggers.size());
                        for (int i = 0; i < triggers.size(); i++) pats.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(triggers.get(i)));
                        g = llama_h.llama_sampler_init_grammar_lazy_patterns(vocab, arena.allocateFrom(params.grammar()),
                                arena.allocateFrom(params.grammarRoot()), pats, triggers.size(), MemorySegment.NULL, 0);
                    }
                } finally {
                    errors = Natives.endCapture();
                }
                if (g.equals(MemorySegment.NULL)) {
                    throw new IllegalArgumentException("grammar does not parse: " + (errors.isEmpty() ? "llama.cpp gave no reason" : String.join("; ", errors)));
                }
            }
            boolean penalties = params.penaltyLastN() != 0 && (params.repeatPenalty() != 1.0f
                    || params.frequencyPenalty() != 0.0f || params.presencePenalty() != 0.0f);
            if (penalties) {
                add(chain, llama_h.llama_sampler_init_penalties(nVocab, params.penaltyLastN(), params.repeatPenalty(),
                        params.frequencyPenalty(), params.presencePenalty()));
            }
            if (params.dryMultiplier() > 0) {
                var breakers = params.drySequenceBreakers();
                MemorySegment arr = arena.allocate(ValueLayout.ADDRESS, Math.max(1, breakers.size()));
                for (int i = 0; i < breakers.size(); i++) arr.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(breakers.get(i)));
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
            Sampler s = new Sampler(chain, params, g, g.equals(MemorySegment.NULL) ? null : Arena.ofShared(), vocab, nVocab, pin);
            chain = MemorySegment.NULL;
            g = MemorySegment.NULL;
            return s;
        } finally {
            if (!chain.equals(MemorySegment.NULL)) llama_h.llama_sampler_free(chain);
            if (!g.equals(MemorySegment.NULL)) llama_h.llama_sampler_free(g);
        }
    }


    private static void add(MemorySegment chain, MemorySegment s) {
        if (s.equals(MemorySegment.NULL)) throw new LlamaException("llama.cpp could not create a sampler");
        llama_h.llama_sampler_chain_add(chain, s);
    }

    /**
     * @return whether llama.cpp can run this whole chain in its graph (backend sampling): no grammar, and none of the
     *         samplers without a graph form (DRY, typical, mirostat)
     */
    boolean graphCapable() {
        return grammar.equals(MemorySegment.NULL) && params.dryMultiplier() <= 0 && params.mirostat() == 0 && params.typicalP() >= 1.0f;
    }

    /**
     * @return whether llama-java's graph ops can pick this chain's tokens ({@link BackendGreedy#pickWith}): llama.cpp's
     *         default shape (a leading top-k of at most {@value #GRAPH_OPS_MAX_K}, then top-p, min-p, temperature and the
     *         draw), which they run as the shim's host step does, so the draws equal host sampling's with the same seed
     */
    boolean opsCapable() {
        return topK > 0 && topK <= GRAPH_OPS_MAX_K && !dist.equals(MemorySegment.NULL);
    }

    /** @return the leading top-k the shim applies (see {@link #leadingTopK}), 0 when none */
    int topK() {
        return topK;
    }

    /** @return the settings this chain was built from */
    public SamplerParams params() {
        return params;
    }

    /** Clears the chain's state (penalty history, grammar, mirostat, RNG stays seeded). @throws IllegalStateException when closed */
    public void reset() {
        try (Borrow b = use()) {
            llama_h.llama_sampler_reset(b.ptr());
            if (!grammar.equals(MemorySegment.NULL)) {
                llama_h.llama_sampler_reset(grammar);
                utf8.set(ValueLayout.JAVA_INT, 0, 0);
            }
        }
    }

    /**
     * Tells the chain a token was chosen outside it (e.g. prompt tokens for the penalties).
     *
     * @param token the token
     * @throws IllegalStateException    when closed
     * @throws IllegalArgumentException when the token is outside the vocabulary, or the grammar does not allow it
     *                                  here (llama.cpp would abort)
     */
    public void accept(int token) {
        if (token < 0 || token >= nVocab) throw new IllegalArgumentException("token " + token + " is outside the vocabulary [0, " + nVocab + ")");
        try (Borrow b = use(); Arena a = Arena.ofConfined()) {
            if (!grammar.equals(MemorySegment.NULL)) {
                MemorySegment one = a.allocate(llama_token_data.layout());
                llama_token_data.id(one, token);
                llama_token_data.logit(one, 1.0f);
                MemorySegment arr = a.allocate(llama_token_data_array.layout());
                llama_token_data_array.data(arr, one);
                llama_token_data_array.size(arr, 1);
                llama_token_data_array.selected(arr, -1);
                llama_h.llama_sampler_apply(grammar, arr);
                if (llama_token_data.logit(one) == Float.NEGATIVE_INFINITY) {
                    throw new IllegalArgumentException("the grammar does not allow token " + token + " here");
                }
                llama_h.llama_sampler_accept(grammar, token);
            }
            llama_h.llama_sampler_accept(b.ptr(), token);
        }
    }

    /**
     * Feeds prompt tokens to the penalty history (every sampler of the chain but the grammar), as llama.cpp's
     * {@code llama-completion} does, so repeat, frequency and presence penalties see the prompt.
     */
    void acceptPrompt(int[] tokens) {
        if (tokens.length == 0) return;
        try (Borrow b = use()) {
            int n = llama_h.llama_sampler_chain_n(b.ptr());
            for (int i = 0; i < n; i++) {
                MemorySegment member = llama_h.llama_sampler_chain_get(b.ptr(), i);
                for (int t : tokens) llama_h.llama_sampler_accept(member, t);
            }
        }
    }

    /**
     * Samples from the context's last logits; the caller holds the context. With a grammar, as llama.cpp's common
     * sampler does: the chain picks from all candidates and the grammar only checks that one token; only when it is
     * rejected does the grammar filter the whole vocabulary and the chain pick again (greedy results are exactly
     * those of filtering first; the cost of a step the model gets right is one check instead of a vocabulary pass).
     * A token whose bytes would break UTF-8 is refused too (llama.cpp's grammar does not check continuation bytes, so
     * without this a string could hold bytes no decoder reads as the characters the grammar counted). A chain that
     * starts with top-k (llama.cpp's default) gets its k candidates from the shim's one pass over the logits, sorted as
     * llama.cpp's top-k leaves them, so it draws what {@code llama_sampler_sample} would draw without building a
     * candidate for every token of the vocabulary; when the rest is llama.cpp's default (top-p, min-p, temperature, the
     * draw), the shim applies top-p, min-p and temperature as those samplers do and hands the result to the chain's own
     * draw, so one step touches only the shim and llama.cpp's RNG.
     */
    int sample(MemorySegment ctx, int idx) {
        try (Borrow b = use()) {
            if (topK > 0 && !lent) {
                // the k best candidates found in one pass over the logits instead of llama.cpp building all of them
                int id = dist.equals(MemorySegment.NULL)
                        ? llama_h.llamajava_sample_top_k(b.ptr(), ctx, idx, topK, topKBuffer, nVocab)
                        : llama_h.llamajava_sample_default_chain(b.ptr(), dist, ctx, idx, topK, params.topP(), params.minP(),
                                params.temperature(), topKBuffer, nVocab);
                if (id == -1) throw new LlamaException("no logits at index " + idx + " to sample from");
                if (id < 0) throw new LlamaException("the sampler chain selected no token");
                return id;
            }
            if (grammar.equals(MemorySegment.NULL)) return llama_h.llama_sampler_sample(b.ptr(), ctx, idx);
            int id = llama_h.llamajava_sample_grammar(b.ptr(), grammar, ctx, idx, candidates, nVocab, vocab, utf8);
            if (id == -1) throw new LlamaException("no logits at index " + idx + " to sample from");
            if (id == -2) throw new LlamaException("the sampler chain selected no token");
            if (id == -3) throw new LlamaException("the grammar rejects every token here (the grammar cannot continue)");
            return id;
        }
    }
}
