package dev.llamajava;

import dev.llamajava.ffi.llama_batch;
import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.loader.Natives;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An owned {@code llama_batch} for manual decoding: tokens with their positions, sequence ids and whether
 * each token's logits are wanted. Used by one thread at a time. {@link TokenStream} does not need one.
 *
 * <pre>{@code
 * try (Batch b = Batch.create(512, 1)) {
 *     for (int i = 0; i < ids.length; i++) b.add(ids[i], i, 0, i == ids.length - 1);
 *     ctx.decode(b);
 * }
 * }</pre>
 */
public final class Batch extends NativeResource {

    private final int capacity;
    private final int maxSequences;
    private int size;

    private Batch(MemorySegment struct, int capacity, int maxSequences) {
        super("Batch", struct, llama_h::llama_batch_free, true, null); // the struct lives in an automatic arena the cleaner keeps
        this.capacity = capacity;
        this.maxSequences = maxSequences;
    }

    /**
     * @param capacity     the most tokens it holds
     * @param maxSequences the most sequence ids per token
     * @return an empty batch; close it when done
     * @throws IllegalArgumentException when a size is not positive
     */
    public static Batch create(int capacity, int maxSequences) {
        if (capacity < 1) throw new IllegalArgumentException("capacity must be >= 1, was " + capacity);
        if (maxSequences < 1) throw new IllegalArgumentException("maxSequences must be >= 1, was " + maxSequences);
        Natives.ensureLoaded();
        MemorySegment s = llama_h.llama_batch_init(Arena.ofAuto(), capacity, 0, maxSequences);
        if (llama_batch.token(s).equals(MemorySegment.NULL)) throw new LlamaException("llama_batch_init failed");
        return new Batch(s, capacity, maxSequences);
    }

    /** @return tokens in the batch */
    public int size() {
        return size;
    }

    /** @return the most tokens it holds */
    public int capacity() {
        return capacity;
    }

    /**
     * Appends a token.
     *
     * @param token  token id
     * @param pos    its position in the sequence
     * @param seq    its sequence id
     * @param logits whether its logits are computed
     * @return this
     * @throws IllegalStateException    when full or closed
     * @throws IllegalArgumentException when {@code pos} or {@code seq} is negative
     */
    public Batch add(int token, int pos, int seq, boolean logits) {
        if (seq < 0) throw new IllegalArgumentException("seq must be >= 0, was " + seq);
        return add(token, pos, new int[]{seq}, logits);
    }

    /**
     * Appends a token that belongs to several sequences at once (their KV caches share its cell).
     *
     * @param token  token id
     * @param pos    its position in the sequences
     * @param seqs   its sequence ids (1 to the batch's {@code maxSequences})
     * @param logits whether its logits are computed
     * @return this
     * @throws IllegalStateException    when full or closed
     * @throws IllegalArgumentException when {@code pos} or a sequence id is negative, or there are no or too many ids
     */
    public Batch add(int token, int pos, int[] seqs, boolean logits) {
        if (pos < 0) throw new IllegalArgumentException("pos must be >= 0, was " + pos);
        if (seqs.length < 1 || seqs.length > maxSequences) {
            throw new IllegalArgumentException("a token takes 1 to " + maxSequences + " sequence ids, was given " + seqs.length);
        }
        for (int seq : seqs) if (seq < 0) throw new IllegalArgumentException("seq must be >= 0, was " + seq);
        try (Borrow b = use()) {
            MemorySegment s = b.ptr();
            if (size == capacity) throw new IllegalStateException("Batch is full (" + capacity + " tokens)");
            long cap = capacity;
            llama_batch.token(s).reinterpret(cap * 4).setAtIndex(ValueLayout.JAVA_INT, size, token);
            llama_batch.pos(s).reinterpret(cap * 4).setAtIndex(ValueLayout.JAVA_INT, size, pos);
            llama_batch.n_seq_id(s).reinterpret(cap * 4).setAtIndex(ValueLayout.JAVA_INT, size, seqs.length);
            MemorySegment seqIds = llama_batch.seq_id(s).reinterpret(cap * 8).getAtIndex(ValueLayout.ADDRESS, size);
            MemorySegment.copy(seqs, 0, seqIds.reinterpret((long) maxSequences * 4), ValueLayout.JAVA_INT, 0, seqs.length);
            llama_batch.logits(s).reinterpret(cap).set(ValueLayout.JAVA_BYTE, size, (byte) (logits ? 1 : 0));
            size++;
            llama_batch.n_tokens(s, size);
            return this;
        }
    }

    /**
     * Empties the batch.
     *
     * @return this
     * @throws IllegalStateException when closed
     */
    public Batch clear() {
        try (Borrow b = use()) {
            size = 0;
            llama_batch.n_tokens(b.ptr(), 0);
            return this;
        }
    }

    /** @return the index of the first token outside {@code [0, nVocab)}, or -1; the caller holds a borrow of {@code struct} */
    int firstTokenOutside(MemorySegment struct, int nVocab) {
        MemorySegment tokens = llama_batch.token(struct).reinterpret((long) capacity * 4);
        for (int i = 0; i < size; i++) {
            int t = tokens.getAtIndex(ValueLayout.JAVA_INT, i);
            if (t < 0 || t >= nVocab) return i;
        }
        return -1;
    }
}
