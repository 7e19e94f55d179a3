package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.Settings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One sequence's sampler inside llama.cpp's graph ("backend sampling", {@code llama_set_sampler}): the sampling runs on
 * the device right after the output layer, so the 128,256 logits of a Llama 3 token are neither copied to the host nor
 * scanned in Java. Either its own greedy chain, or a sampled stream's chain lent for the stream's life when every sampler
 * in it has a graph form (logit bias, penalties, top-k, top-p, min-p, temperature, the final draw; not DRY, typical,
 * mirostat or a grammar); the stream detaches it before freeing it. While one is attached, a decode keeps no raw
 * logits; the context detaches it for anything that needs them (a manual decode, logprobs, the classifier), and
 * remembers whether the last decode picked its token this way, so stale logits are never read.
 *
 * <p>On by default where the logits would have to cross from another device (a GPU, or an RPC server:
 * {@code llama.sampling.backend=auto}); {@code on} uses it on the CPU too, {@code off} never. A seeded stream sampled in
 * the graph repeats itself run after run, as llama.cpp's tools with {@code --backend-sampling} do, but its draws need not
 * equal those of host sampling with the same seed. A context holds one for sequence 0 (its streams); the engine one
 * per slot. llama.cpp initialises a chain for its graph once in the chain's life and aborts the process on a second
 * time, so the greedy chain is freed when it is taken out and a new one goes in next time. Confined to the context's
 * owner (the context is used by one thread at a time); it must not reference the context, since the context's free runs
 * from its cleaner.
 */
final class BackendGreedy {

    /** The sequence whose rows it samples. */
    private final int seq;
    private MemorySegment chain = MemorySegment.NULL;
    /** Whether the attached chain is this object's greedy chain (freed here), or a stream's (freed by its sampler). */
    private boolean owned;
    private boolean unsupported;
    /** Whether the last decode ran with the sampler attached (its token is in llama.cpp's sampled buffer, its logits are not). */
    boolean lastDecodeSampled;

    /** @param seq the sequence whose rows it samples */
    BackendGreedy(int seq) {
        this.seq = seq;
    }

    /**
     * @return whether streams on a context of this model should sample greedy tokens in the graph
     * @throws IllegalArgumentException when {@code llama.sampling.backend} is not auto, on or off
     */
    static boolean wanted(LlamaModel model) {
        return Settings.BACKEND_SAMPLING.onOff(model.outputRemote);
    }

    boolean attached() {
        return !chain.equals(MemorySegment.NULL);
    }

    /**
     * Attaches the greedy chain to the sequence (llama.cpp re-reserves its graph at the next decode).
     *
     * <p>llama.cpp's greedy sampler leaves the whole logits row as the graph's "sampled logits", which llama.cpp then
     * copies to the host: 513 KB a Llama 3 token, over PCIe or the network. Where the output layer is on another device,
     * the chain is therefore top-k 1 and the draw (over one candidate, so no randomness): the graph hands back one
     * logit and one id. Its top-k is a partial sort, which on exact ties may pick another of the tied ids than argmax's
     * first; on the CPU (where nothing crosses) it is llama.cpp's greedy sampler, an argmax.
     *
     * @param remoteOutput whether the logits live on another device (a GPU, an RPC server)
     * @return whether it is attached; false when llama.cpp cannot offload it (then it is not tried again)
     */
    boolean attach(MemorySegment ctx, boolean remoteOutput) {
        if (attached() && owned) return true;
        detach(ctx);
        if (unsupported) return false;
        MemorySegment c = greedyChain(remoteOutput);
        if (!llama_h.llama_set_sampler(ctx, seq, c)) {
            llama_h.llama_sampler_free(c);
            unsupported = true;
            return false;
        }
        chain = c;
        owned = true;
        return true;
    }

    /**
     * @param remoteOutput whether the logits live on another device
     * @return a new greedy chain for the graph (see {@link #attach}); the caller frees it
     */
    private static MemorySegment greedyChain(boolean remoteOutput) {
        MemorySegment c;
        try (Arena a = Arena.ofConfined()) {
            c = llama_h.llama_sampler_chain_init(llama_h.llama_sampler_chain_default_params(a));
        }
        if (remoteOutput) {
            llama_h.llama_sampler_chain_add(c, llama_h.llama_sampler_init_top_k(1));
            llama_h.llama_sampler_chain_add(c, llama_h.llama_sampler_init_dist(0));
        } else {
            llama_h.llama_sampler_chain_add(c, llama_h.llama_sampler_init_greedy());
        }
        return c;
    }

    /**
     * Lends a stream's sampler chain to the graph for the sequence. llama.cpp initialises a chain for the graph once in
     * its life, so only a chain made for one stream may come here, once; its stream must {@link #detach} it before the
     * chain is freed.
     *
     * @return whether it is attached (false: the stream samples on the host)
     */
    boolean lend(MemorySegment ctx, MemorySegment streamChain) {
        detach(ctx);
        if (unsupported) return false;
        if (!llama_h.llama_set_sampler(ctx, seq, streamChain)) return false;
        chain = streamChain;
        owned = false;
        return true;
    }

    /** Detaches the chain, if attached, and frees it if it is the greedy one: the next decode keeps raw logits again. */
    void detach(MemorySegment ctx) {
        if (!attached()) return;
        llama_h.llama_set_sampler(ctx, seq, MemorySegment.NULL);
        if (owned) llama_h.llama_sampler_free(chain);
        chain = MemorySegment.NULL;
    }

    /** Frees the chain after llama.cpp freed the context (which does not own it). */
    void freeAfterContext() {
        if (attached() && owned) llama_h.llama_sampler_free(chain);
        chain = MemorySegment.NULL;
    }

    /**
     * Read only by a stream that attached the greedy chain (it stays attached for the stream's life).
     *
     * @param nVocab the vocabulary size
     * @return the token the last decode picked in the graph with the greedy chain, or -1 when it picked none
     * @throws LlamaException when llama.cpp hands back an id outside the vocabulary
     */
    int sampledToken(MemorySegment ctx, int nVocab) {
        return lastDecodeSampled ? sampledAt(ctx, -1, nVocab) : -1;
    }

    /**
     * @param idx    the batch index of an output row of this sequence (-1: the last output)
     * @param nVocab the vocabulary size
     * @return the token the last decode picked in the graph for that row, or -1 when it picked none
     * @throws LlamaException when llama.cpp hands back an id outside the vocabulary
     */
    int sampledAt(MemorySegment ctx, int idx, int nVocab) {
        int id = llama_h.llama_get_sampled_token_ith(ctx, idx);
        if (id >= nVocab) throw new LlamaException("llama.cpp picked token " + id + " in its graph, outside the vocabulary [0, " + nVocab + ")");
        return id < 0 ? -1 : id;
    }
}
