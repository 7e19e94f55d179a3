package dev.llamajava;

/** Why a generation ended. */
public enum StopReason {
    /** The model produced an end-of-generation token (EOS, EOT). */
    END_OF_GENERATION,
    /** {@code maxTokens} were generated. */
    MAX_TOKENS,
    /** A stop string appeared. */
    STOP_STRING,
    /** {@code cancel()}, closing the stream, or a thread interrupt. */
    CANCELLED,
    /** The context's KV cache is full. */
    CONTEXT_FULL,
    /** The context was closed from another thread. */
    CLOSED
}
