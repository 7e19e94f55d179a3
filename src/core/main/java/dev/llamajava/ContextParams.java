package dev.llamajava;

import java.util.Objects;
import dev.llamajava.gguf.GgmlType;

/**
 * How a context is created. Immutable; defaults equal llama.cpp's {@code llama_context_default_params()}
 * except the thread counts, which default to the available processors (llama.cpp's library default is 4;
 * its tools use the core count, as here).
 *
 * @param contextSize    tokens the KV cache holds; 0 takes the model's training context
 * @param batchSize      logical batch: the most tokens one decode call accepts
 * @param microBatchSize physical batch
 * @param threads        threads for generation (one token at a time)
 * @param threadsBatch   threads for prompt batches
 * @param flashAttention flash attention
 * @param typeK          K cache element type
 * @param typeV          V cache element type
 * @param seed           default seed for samplers created by this context's generate calls ({@code -1}: random)
 * @param embeddings     compute embeddings ({@link LlamaContext#embed(String)}); generation still works
 * @param pooling        how embeddings are pooled ({@link Pooling#UNSPECIFIED}: the model's own, none for most LLMs)
 * @param sequences      sequences the context holds at once (llama.cpp's {@code n_seq_max}, 1 to 256); with more
 *                       than one the KV cache is unified by default: all sequences share its {@code contextSize} cells
 * @param kvUnified      with more than one sequence: one KV buffer shared by all (llama.cpp's {@code kv_unified}, any
 *                       sequence may use any cell, and {@code llama_memory_seq_cp} shares cells), or one stream of
 *                       {@code contextSize / sequences} cells per sequence (a copy between them copies the buffer)
 */
public record ContextParams(int contextSize, int batchSize, int microBatchSize, int threads, int threadsBatch,
                            FlashAttention flashAttention, KvCacheType typeK, KvCacheType typeV, int seed, boolean embeddings,
                            Pooling pooling, int sequences, boolean kvUnified) {

    /** The most sequences one context holds ({@code LLAMA_MAX_SEQ}). */
    public static final int MAX_SEQUENCES = 256;

    /** Embedding pooling. Values match {@code enum llama_pooling_type}. */
    public enum Pooling {
        /** The model's own (from its GGUF metadata); none when it names none. */
        UNSPECIFIED(-1),
        /** No pooling: one vector per token. */
        NONE(0),
        /** Mean of the token vectors. */
        MEAN(1),
        /** The first token's vector. */
        CLS(2),
        /** The last token's vector. */
        LAST(3),
        /** The classification head over the first token (rerankers): a score per document. */
        RANK(4);

        final int value;

        Pooling(int v) { value = v; }

        static Pooling of(int v) {
            for (Pooling p : values()) if (p.value == v) return p;
            throw new IllegalArgumentException("unknown llama_pooling_type " + v);
        }
    }

    /** Flash attention mode. Values match {@code enum llama_flash_attn_type}. */
    public enum FlashAttention {
        /** llama.cpp decides (its default). */
        AUTO(-1),
        /** Off. */
        OFF(0),
        /** On. */
        ON(1);

        final int value;

        FlashAttention(int v) { value = v; }
    }

    /** KV cache element types. Values match {@code enum ggml_type}. */
    public enum KvCacheType {
        /** 32-bit float. */
        F32(GgmlType.F32),
        /** 16-bit float (default). */
        F16(GgmlType.F16),
        /** bfloat16. */
        BF16(GgmlType.BF16),
        /** 8-bit blocks. */
        Q8_0(GgmlType.Q8_0),
        /** 4-bit blocks. */
        Q4_0(GgmlType.Q4_0),
        /** 4-bit blocks with min. */
        Q4_1(GgmlType.Q4_1),
        /** 4-bit non-linear. */
        IQ4_NL(GgmlType.IQ4_NL),
        /** 5-bit blocks. */
        Q5_0(GgmlType.Q5_0),
        /** 5-bit blocks with min. */
        Q5_1(GgmlType.Q5_1);

        final int ggmlType;
        final double bytesPerElement;

        KvCacheType(GgmlType type) {
            this.ggmlType = type.id();
            this.bytesPerElement = (double) type.typeSize() / type.blockSize();
        }

        /** @return bytes per element (block types averaged) */
        public double bytesPerElement() { return bytesPerElement; }
    }

    /** Validates; messages name the field. */
    public ContextParams {
        if (contextSize < 0) throw new IllegalArgumentException("contextSize must be >= 0 (0 = the model's), was " + contextSize);
        if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, was " + batchSize);
        if (microBatchSize < 1) throw new IllegalArgumentException("microBatchSize must be >= 1, was " + microBatchSize);
        if (microBatchSize > batchSize) throw new IllegalArgumentException("microBatchSize (" + microBatchSize + ") must be <= batchSize (" + batchSize + ")");
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, was " + threads);
        if (threadsBatch < 1) throw new IllegalArgumentException("threadsBatch must be >= 1, was " + threadsBatch);
        Objects.requireNonNull(flashAttention, "flashAttention");
        Objects.requireNonNull(typeK, "typeK");
        Objects.requireNonNull(typeV, "typeV");
        Objects.requireNonNull(pooling, "pooling");
        if (sequences < 1 || sequences > MAX_SEQUENCES) throw new IllegalArgumentException("sequences must be in [1, " + MAX_SEQUENCES + "], was " + sequences);
    }

    /** @return the defaults */
    public static ContextParams defaults() {
        return builder().build();
    }

    /** @return a builder with the defaults */
    public static Builder builder() {
        return new Builder();
    }

    /** @return a builder holding these values */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.contextSize = contextSize; b.batchSize = batchSize; b.microBatchSize = microBatchSize; b.threads = threads;
        b.threadsBatch = threadsBatch; b.flashAttention = flashAttention; b.typeK = typeK; b.typeV = typeV; b.seed = seed;
        b.embeddings = embeddings; b.pooling = pooling; b.sequences = sequences; b.kvUnified = kvUnified;
        return b;
    }

    /** Builder for {@link ContextParams}. */
    public static final class Builder {
        private int contextSize = 512;
        private int batchSize = 2048;
        private int microBatchSize = 512;
        private int threads = Runtime.getRuntime().availableProcessors();
        private int threadsBatch = Runtime.getRuntime().availableProcessors();
        private FlashAttention flashAttention = FlashAttention.AUTO;
        private KvCacheType typeK = KvCacheType.F16;
        private KvCacheType typeV = KvCacheType.F16;
        private int seed = -1;
        private boolean embeddings;
        private Pooling pooling = Pooling.UNSPECIFIED;
        private int sequences = 1;
        private boolean kvUnified = true;

        private Builder() { }

        /** @param v KV cache size in tokens, 0 for the model's @return this */
        public Builder contextSize(int v) { contextSize = v; return this; }
        /** @param v logical batch size @return this */
        public Builder batchSize(int v) { batchSize = v; return this; }
        /** @param v physical batch size @return this */
        public Builder microBatchSize(int v) { microBatchSize = v; return this; }
        /** @param v generation threads @return this */
        public Builder threads(int v) { threads = v; return this; }
        /** @param v prompt threads @return this */
        public Builder threadsBatch(int v) { threadsBatch = v; return this; }
        /** @param v flash attention @return this */
        public Builder flashAttention(FlashAttention v) { flashAttention = v; return this; }
        /** @param v K cache type @return this */
        public Builder typeK(KvCacheType v) { typeK = v; return this; }
        /** @param v V cache type @return this */
        public Builder typeV(KvCacheType v) { typeV = v; return this; }
        /** @param v default sampler seed @return this */
        public Builder seed(int v) { seed = v; return this; }
        /** @param v compute embeddings @return this */
        public Builder embeddings(boolean v) { embeddings = v; return this; }
        /** @param v embedding pooling @return this */
        public Builder pooling(Pooling v) { pooling = v; return this; }
        /** @param v sequences held at once (1 to 256) @return this */
        public Builder sequences(int v) { sequences = v; return this; }
        /** @param v one KV buffer shared by all sequences (default), or one per sequence @return this */
        public Builder kvUnified(boolean v) { kvUnified = v; return this; }

        /**
         * @return the parameters
         * @throws IllegalArgumentException when a value is out of range (the message names the field)
         */
        public ContextParams build() {
            return new ContextParams(contextSize, batchSize, microBatchSize, threads, threadsBatch, flashAttention, typeK, typeV, seed, embeddings, pooling, sequences, kvUnified);
        }
    }
}
