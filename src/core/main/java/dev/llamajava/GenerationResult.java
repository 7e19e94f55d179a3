package dev.llamajava;

/**
 * Summary of a finished generation.
 *
 * @param promptTokens          tokens decoded for the prompt
 * @param generatedTokens       tokens generated
 * @param timeToFirstTokenNanos from the generate call to the first token
 * @param promptNanos           time inside the prompt's {@code llama_decode} calls
 * @param generationNanos       time from the first token to the end
 * @param stopReason            why it ended
 * @param text                  the generated text (stop string excluded)
 * @param decodeNanos           time inside {@code llama_decode} for generated tokens (after the first)
 * @param sampleNanos           time inside the sampler for generated tokens (after the first)
 */
public record GenerationResult(int promptTokens, int generatedTokens, long timeToFirstTokenNanos, long promptNanos,
                               long generationNanos, StopReason stopReason, String text, long decodeNanos, long sampleNanos) {

    /**
     * @return the Java-side cost per generated token (after the first) in nanoseconds: generation time
     *         outside {@code llama_decode} and the sampler
     */
    public double overheadNanosPerToken() {
        return generatedTokens < 2 ? 0 : (double) (generationNanos - decodeNanos - sampleNanos) / (generatedTokens - 1);
    }

    /** @return prompt tokens per second */
    public double promptTokensPerSecond() {
        return promptNanos <= 0 ? 0 : promptTokens * 1e9 / promptNanos;
    }

    /** @return generated tokens per second, counted after the first token */
    public double generationTokensPerSecond() {
        return generationNanos <= 0 || generatedTokens < 2 ? 0 : (generatedTokens - 1) * 1e9 / generationNanos;
    }
}
