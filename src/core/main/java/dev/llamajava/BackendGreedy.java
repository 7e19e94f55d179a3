package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.Settings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A context's greedy sampler inside llama.cpp's graph ("backend sampling", {@code llama_set_sampler}): the argmax
 * runs on the device right after the output layer, so the 128,256 logits of a Llama 3 token are neither copied to
 * the host nor scanned in Java. While it is attached, a decode keeps no raw logits; the context detaches it for
 * anything that needs them (a manual decode, a sampled stream, logprobs), and remembers whether the last decode
 * picked its token this way, so stale logits are never read.
 *
 * <p>On by default where the logits would have to cross from a GPU ({@code llama.sampling.backend=auto}); {@code on}
 * uses it on the CPU too, {@code off} never. Confined to the context's owner (the context is used by one thread at a
 * time); it must not reference the context, since the context's free runs from its cleaner.
 */
final class BackendGreedy {

    private MemorySegment chain = MemorySegment.NULL;
    private boolean unsupported;
    /** Whether the last decode ran with the sampler attached (its token is in llama.cpp's sampled buffer, its logits are not). */
    boolean lastDecodeSampled;

    /**
     * @return whether streams on a context of this model should sample greedy tokens in the graph
     * @throws IllegalArgumentException when {@code llama.sampling.backend} is not auto, on or off
     */
    static boolean wanted(LlamaModel model) {
        String v = Settings.BACKEND_SAMPLING.get();
        return switch (v == null ? "auto" : v.trim()) {
            case "on" -> true;
            case "off" -> false;
            case "auto" -> model.outputOnGpu;
            default -> throw new IllegalArgumentException("llama.sampling.backend / LLAMA_BACKEND_SAMPLING must be auto, on or off, was '" + v + "'");
        };
    }

    boolean attached() {
        return !chain.equals(MemorySegment.NULL);
    }

    /**
     * Attaches the greedy chain to sequence 0 (llama.cpp re-reserves its graph at the next decode).
     *
     * @return whether it is attached; false when llama.cpp cannot offload it (then it is not tried again)
     */
    boolean attach(MemorySegment ctx) {
        if (attached()) return true;
        if (unsupported) return false;
        MemorySegment c;
        try (Arena a = Arena.ofConfined()) {
            c = llama_h.llama_sampler_chain_init(llama_h.llama_sampler_chain_default_params(a));
        }
        llama_h.llama_sampler_chain_add(c, llama_h.llama_sampler_init_greedy());
        if (!llama_h.llama_set_sampler(ctx, 0, c)) {
            llama_h.llama_sampler_free(c);
            unsupported = true;
            return false;
        }
        chain = c;
        return true;
    }

    /** Detaches and frees the chain, if attached: the next decode keeps raw logits again. */
    void detach(MemorySegment ctx) {
        if (!attached()) return;
        llama_h.llama_set_sampler(ctx, 0, MemorySegment.NULL);
        llama_h.llama_sampler_free(chain);
        chain = MemorySegment.NULL;
    }

    /** Frees the chain after llama.cpp freed the context (which does not own it). */
    void freeAfterContext() {
        if (attached()) llama_h.llama_sampler_free(chain);
        chain = MemorySegment.NULL;
    }

    /**
     * @param nVocab the vocabulary size
     * @return the token the last decode picked in the graph, or -1 when it picked none
     * @throws LlamaException when llama.cpp hands back an id outside the vocabulary
     */
    int sampledToken(MemorySegment ctx, int nVocab) {
        if (!lastDecodeSampled) return -1;
        int id = llama_h.llama_get_sampled_token_ith(ctx, -1);
        if (id >= nVocab) throw new LlamaException("llama.cpp picked token " + id + " in its graph, outside the vocabulary [0, " + nVocab + ")");
        return id < 0 ? -1 : id;
    }
}
