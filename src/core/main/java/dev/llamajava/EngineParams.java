package dev.llamajava;

import java.time.Duration;
import java.util.Objects;

/**
 * How an {@link Engine} runs. Immutable.
 *
 * @param slots         sequences decoded together (llama.cpp's {@code n_seq_max}, 1 to 256): the most generations
 *                      running at once
 * @param slotContext   tokens each slot's KV cache may hold (prompt plus generated); the context holds
 *                      {@code slots * slotContext} cells
 * @param context       the context's other settings (threads, batch sizes, KV types, flash attention, seed); its
 *                      {@code contextSize} and {@code sequences} are replaced by the two above
 * @param queueCapacity requests that wait for a slot when all are busy (0: none wait)
 * @param queueTimeout  how long {@link Engine#generate} waits for a place in a full queue before it throws
 *                      {@link EngineBusyException} ({@link Duration#ZERO}: throw at once)
 * @param stepTokens    the most tokens one decode step takes (a token for every running generation, then chunks of
 *                      waiting prompts); caps how long a long prompt holds up running generations; at most the
 *                      context's {@code batchSize}
 * @param prefixReuse   a new prompt starts from the longest prefix of it already in some slot's KV cache (its own, kept
 *                      from its last request, or copied from another slot with {@code llama_memory_seq_cp}) instead of
 *                      decoding it again
 * @param unifiedKv     one KV buffer for all slots (llama.cpp's {@code kv_unified}: a prefix copied between slots
 *                      shares cells, no data is copied), or one stream of {@code slotContext} cells per slot (the
 *                      default, as {@code llama-batched-bench} and {@code llama-server --parallel N} run: each slot
 *                      attends over its own cells only, and a copy between slots copies the buffer, so only prefixes
 *                      of {@value Engine#MIN_COPY} tokens or more are copied)
 */
public record EngineParams(int slots, int slotContext, ContextParams context, int queueCapacity, Duration queueTimeout,
                           int stepTokens, boolean prefixReuse, boolean unifiedKv) {

    /** Validates; messages name the field. */
    public EngineParams {
        if (slots < 1 || slots > ContextParams.MAX_SEQUENCES) throw new IllegalArgumentException("slots must be in [1, " + ContextParams.MAX_SEQUENCES + "], was " + slots);
        if (slotContext < 8) throw new IllegalArgumentException("slotContext must be >= 8, was " + slotContext);
        Objects.requireNonNull(context, "context");
        if ((long) slots * slotContext > Integer.MAX_VALUE / 2) throw new IllegalArgumentException("slots * slotContext is too large: " + slots + " * " + slotContext);
        if (queueCapacity < 0) throw new IllegalArgumentException("queueCapacity must be >= 0, was " + queueCapacity);
        Objects.requireNonNull(queueTimeout, "queueTimeout");
        if (queueTimeout.isNegative()) throw new IllegalArgumentException("queueTimeout must not be negative, was " + queueTimeout);
        if (stepTokens < 1) throw new IllegalArgumentException("stepTokens must be >= 1, was " + stepTokens);
        if (stepTokens > context.batchSize()) throw new IllegalArgumentException("stepTokens (" + stepTokens + ") must be <= the context's batchSize (" + context.batchSize() + ")");
    }

    /** @return the context settings the engine creates its context with */
    public ContextParams contextParams() {
        return context.toBuilder().contextSize(slots * slotContext).sequences(slots).kvUnified(unifiedKv).build();
    }

    /** @return a builder holding these values */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.slots = slots; b.slotContext = slotContext; b.context = context; b.queueCapacity = queueCapacity;
        b.queueTimeout = queueTimeout; b.stepTokens = stepTokens; b.prefixReuse = prefixReuse; b.unifiedKv = unifiedKv;
        return b;
    }

    /** @return defaults: 4 slots of 4096 tokens, 64 waiting requests, no wait, steps of the batch size, prefix reuse */
    public static EngineParams defaults() {
        return builder().build();
    }

    /** @return a builder with the defaults */
    public static Builder builder() {
        return new Builder();
    }

    /** Builder for {@link EngineParams}. */
    public static final class Builder {
        private int slots = 4;
        private int slotContext = 4096;
        private ContextParams context = ContextParams.defaults();
        private int queueCapacity = 64;
        private Duration queueTimeout = Duration.ZERO;
        private int stepTokens = -1;
        private boolean prefixReuse = true;
        private boolean unifiedKv;

        private Builder() { }

        /** @param v generations at once @return this */
        public Builder slots(int v) { slots = v; return this; }
        /** @param v tokens per slot @return this */
        public Builder slotContext(int v) { slotContext = v; return this; }
        /** @param v the context's other settings @return this */
        public Builder context(ContextParams v) { context = v; return this; }
        /** @param v requests waiting for a slot @return this */
        public Builder queueCapacity(int v) { queueCapacity = v; return this; }
        /** @param v how long generate waits for a queue place @return this */
        public Builder queueTimeout(Duration v) { queueTimeout = v; return this; }
        /** @param v tokens per decode step (default: the context's batch size) @return this */
        public Builder stepTokens(int v) { stepTokens = v; return this; }
        /** @param v reuse cached prompt prefixes @return this */
        public Builder prefixReuse(boolean v) { prefixReuse = v; return this; }
        /** @param v one KV buffer for all slots instead of one per slot @return this */
        public Builder unifiedKv(boolean v) { unifiedKv = v; return this; }

        /**
         * @return the parameters
         * @throws IllegalArgumentException when a value is out of range (the message names the field)
         */
        public EngineParams build() {
            Objects.requireNonNull(context, "context");
            return new EngineParams(slots, slotContext, context, queueCapacity, queueTimeout,
                    stepTokens < 0 ? context.batchSize() : stepTokens, prefixReuse, unifiedKv);
        }
    }
}
