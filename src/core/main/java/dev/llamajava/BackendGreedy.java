package dev.llamajava;

import dev.llamajava.NativeResource.Borrow;
import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.Settings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One sequence's sampler inside llama.cpp's graph ("backend sampling", {@code llama_set_sampler}): the token is picked
 * in the graph right after the output layer, so the 128,256 logits of a Llama 3 token are neither copied out of the
 * graph nor scanned in Java. Either its own chain (greedy; with llama-java's ops also set to a sampled stream's
 * settings, {@link #pickWith}), or a sampled stream's llama.cpp chain lent for the stream's life; the stream detaches
 * it before freeing it. While one is attached, a decode keeps no raw
 * logits; the context detaches it for anything that needs them (a manual decode, logprobs, the classifier), and
 * remembers whether the last decode picked its token this way, so stale logits are never read.
 *
 * <p>Where it runs ({@link Place}, from {@code llama.sampling.backend}): with {@code auto}, where the output layer is on
 * a GPU or an RPC server, llama.cpp's own samplers run there ({@link Place#LLAMA}); on a CPU, llama-java's graph ops
 * ({@link Place#OPS}, {@code llamajava_graph_sampler_init}: the compute threads each scan a slice of the row where the
 * output layer left it, one thread merges and picks; greedy and llama.cpp's default chain, drawing what host sampling
 * draws with the same seed; other chains sample on the host), for vocabularies of {@value #OPS_MIN_VOCAB} tokens or
 * more (smaller rows cost less to copy and scan than the graph's sampler costs the decode). llama.cpp's samplers are no gain on a CPU: they read the
 * row through a padded copy made by a scalar loop. {@code on} uses llama.cpp's samplers on a CPU too, {@code off} none.
 * A seeded stream sampled by llama.cpp's samplers in the graph repeats itself run after run, as llama.cpp's tools with
 * {@code --backend-sampling} do, but its draws need not equal those of host sampling with the same seed. A context holds
 * one for sequence 0 (its streams); the engine one per slot. llama.cpp initialises a chain for its graph once in the
 * chain's life and aborts the process on a second time, so the greedy chain is freed when it is taken out and a new one
 * goes in next time. Confined to the context's owner (the context is used by one thread at a time); it must not
 * reference the context, since the context's free runs from its cleaner.
 */
final class BackendGreedy {

    /** The sequence whose rows it samples. */
    private final int seq;
    private MemorySegment chain = MemorySegment.NULL;
    /** Whether the attached chain is this object's greedy chain (freed here), or a stream's (freed by its sampler). */
    private boolean owned;
    /** Where the owned greedy chain picks (its kind), when one is attached. */
    private Place ownedPlace;
    private boolean unsupported;
    /** Whether the last decode ran with the sampler attached (its token is in llama.cpp's sampled buffer, its logits are not). */
    boolean lastDecodeSampled;
    /** Whether the attached chain picks greedily: the owned chain, unless {@link #pickWith} set it to a sampler. */
    private boolean picksGreedy;
    /** Whether the last decode's token was picked greedily in the graph (only then may a greedy stream continue from it). */
    boolean lastPickGreedy;
    /** {@link #opsNanos()} when the current stream was placed. */
    private long opsBase;

    /** @param seq the sequence whose rows it samples */
    BackendGreedy(int seq) {
        this.seq = seq;
    }

    /** Where a stream's token is picked. */
    enum Place {
        /** On the host, from the logits llama.cpp copies out of the graph. */
        HOST,
        /** In the graph, by llama-java's ops on the CPU backend: greedy and llama.cpp's default chain. */
        OPS,
        /** In the graph, by llama.cpp's own samplers (on the device that holds the output layer). */
        LLAMA
    }

    /**
     * @return where streams on a context of this model pick their tokens when nothing needs the logits
     * @throws IllegalArgumentException when {@code llama.sampling.backend} is not auto, on or off
     */
    static Place place(LlamaModel model) {
        if (!Settings.BACKEND_SAMPLING.onOff(true)) return Place.HOST;
        if (model.outputRemote || Settings.BACKEND_SAMPLING.onOff(false)) return Place.LLAMA;
        return model.nVocab >= OPS_MIN_VOCAB ? Place.OPS : Place.HOST;
    }

    /**
     * The smallest vocabulary for which {@code auto} picks tokens with llama-java's ops on a CPU. A sampler in the graph
     * costs llama.cpp's decode a fixed few microseconds (its inputs, the sampled token's copy); what it saves grows with
     * the row: on stories260K (512 tokens) the ops lost 3% of a 0.29 ms token, on the tiny synthetic model (128,256)
     * they gained 5% of a 2.1 ms one (a C harness alternating both ways, 2026-12-07).
     */
    static final int OPS_MIN_VOCAB = 32_768;

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
     * first; with llama.cpp's samplers on the CPU (where nothing crosses) it is llama.cpp's greedy sampler, an argmax; with
     * llama-java's ops, their argmax (the first largest logit, as the host's).
     *
     * @param place        {@link Place#OPS} or {@link Place#LLAMA}
     * @param remoteOutput whether the logits live on another device (a GPU, an RPC server)
     * @return whether it is attached; false when llama.cpp cannot offload it (then it is not tried again)
     */
    boolean attach(MemorySegment ctx, Place place, boolean remoteOutput) {
        if (attached() && owned && ownedPlace == place) return true;
        detach(ctx);
        if (unsupported) return false;
        MemorySegment c = greedyChain(place, remoteOutput);
        if (!llama_h.llama_set_sampler(ctx, seq, c)) {
            llama_h.llama_sampler_free(c);
            unsupported = true;
            return false;
        }
        chain = c;
        owned = true;
        ownedPlace = place;
        picksGreedy = true;
        return true;
    }

    /**
     * @param place        {@link Place#OPS} or {@link Place#LLAMA}
     * @param remoteOutput whether the logits live on another device
     * @return a new greedy chain for the graph (see {@link #attach}); the caller frees it
     * @throws LlamaException when the shim cannot allocate its chain
     */
    private static MemorySegment greedyChain(Place place, boolean remoteOutput) {
        if (place == Place.OPS) {
            MemorySegment c = llama_h.llamajava_graph_sampler_init(Sampler.GRAPH_OPS_MAX_K);
            if (c.equals(MemorySegment.NULL)) throw new LlamaException("llamajava_graph_sampler_init returned NULL (out of memory)");
            return c;
        }
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
        picksGreedy = false;
        return true;
    }

    /** Detaches the chain, if attached, and frees it if it is the greedy one: the next decode keeps raw logits again. */
    void detach(MemorySegment ctx) {
        if (!attached()) return;
        llama_h.llama_set_sampler(ctx, seq, MemorySegment.NULL);
        if (owned) llama_h.llama_sampler_free(chain);
        chain = MemorySegment.NULL;
    }

    /**
     * Sets the sequence's sampling for a new stream: in the graph where {@code place} allows it, the stream's sampler
     * has a form there, and (for a sampled stream) its first token comes from a prompt of its own; otherwise on the host
     * (nothing attached). With llama.cpp's samplers a sampled stream lends its own chain ({@link Sampler#lent}: it must
     * be taken out before the sampler is freed); with llama-java's ops this object's chain is set to the stream's
     * settings. Marks where {@link #opsNanosSincePlaced()} counts from.
     *
     * @param place        where tokens are picked when nothing needs the logits ({@link #place}), {@link Place#HOST}
     *                     for a stream that needs them
     * @param remoteOutput whether the logits live on another device
     * @param sampler      the stream's sampler, null for greedy
     * @param ownPrompt    whether the stream decodes a prompt of its own before its first token
     * @return whether the graph picks the stream's tokens
     * @throws LlamaException when the shim cannot allocate or set its chain
     */
    boolean placeFor(MemorySegment ctx, Place place, boolean remoteOutput, Sampler sampler, boolean ownPrompt) {
        boolean inGraph = false;
        boolean lent = false;
        if (place == Place.OPS ? sampler == null || ownPrompt && sampler.opsCapable() : place == Place.LLAMA && sampler == null) {
            inGraph = attach(ctx, place, remoteOutput);
            if (inGraph && place == Place.OPS) pickWith(sampler);
        } else if (place == Place.LLAMA && ownPrompt && sampler.graphCapable()) {
            try (Borrow b = sampler.use()) {
                inGraph = lent = lend(ctx, b.ptr());
            }
        }
        if (!inGraph) detach(ctx);
        if (sampler != null) sampler.lent = lent;
        opsBase = opsNanos();
        return inGraph;
    }

    /** Records a decode: whether llama.cpp picked its token in the graph, and how. @param rc llama_decode's result */
    void decoded(int rc) {
        lastDecodeSampled = rc == 0 && attached();
        lastPickGreedy = lastDecodeSampled && picksGreedy;
    }

    /**
     * Sets what the attached chain of llama-java's ops ({@link Place#OPS}) picks from the next decode on. The graph stays
     * as it is (no re-reservation), so the chain stays set from one generation to the next, greedy or sampled.
     *
     * @param sampler null for greedy, else a sampler whose {@link Sampler#opsCapable()} holds: its k, top-p, min-p,
     *                temperature, and a new draw with its seed
     * @throws LlamaException when the shim refuses (no such chain attached, out of memory)
     */
    private void pickWith(Sampler sampler) {
        int rc;
        if (sampler == null) {
            rc = llama_h.llamajava_graph_sampler_set(chain, 0, 1.0f, 0.0f, 0.0f, 0);
        } else {
            SamplerParams p = sampler.params();
            rc = llama_h.llamajava_graph_sampler_set(chain, sampler.topK(), p.topP(), p.minP(), p.temperature(), p.seed());
        }
        if (rc != 0) throw new LlamaException("llamajava_graph_sampler_set returned " + rc + " (-1: not llama-java's ops chain, -2: k out of range, -3: out of memory)");
        picksGreedy = sampler == null;
    }

    /** @return the nanoseconds llama-java's graph ops took in the attached chain so far (0 for any other chain) */
    private long opsNanos() {
        return attached() ? Math.max(0, llama_h.llamajava_graph_sampler_ns(chain)) : 0;
    }

    /** @return the nanoseconds llama-java's graph ops took since the last {@link #placeFor}: the stream's share */
    long opsNanosSincePlaced() {
        return Math.max(0, opsNanos() - opsBase);
    }

    /** Frees the chain after llama.cpp freed the context (which does not own it). */
    void freeAfterContext() {
        if (attached() && owned) llama_h.llama_sampler_free(chain);
        chain = MemorySegment.NULL;
    }

    /**
     * @param idx    the batch index of an output row of this sequence (-1: the last output)
     * @param nVocab the vocabulary size
     * @return the token the last decode picked in the graph for that row, or -1 when it picked none
     * @throws LlamaException when llama.cpp hands back an id outside the vocabulary
     */
    int sampledAt(MemorySegment ctx, int idx, int nVocab) {
        // llama-java's ops keep their pick (one output row per sequence here), which costs less to read than llama.cpp's
        int id = owned && ownedPlace == Place.OPS ? llama_h.llamajava_graph_sampler_last(chain) : llama_h.llama_get_sampled_token_ith(ctx, idx);
        if (id >= nVocab) throw new LlamaException("llama.cpp picked token " + id + " in its graph, outside the vocabulary [0, " + nVocab + ")");
        return id < 0 ? -1 : id;
    }
}
