package dev.llamajava;

/**
 * Summary of a finished generation.
 *
 * @param promptTokens          tokens decoded for the prompt
 * @param generatedTokens       tokens generated
 * @param timeToFirstTokenNanos from the generate call to the first token
 * @param promptNanos           time spent decoding the prompt
 * @param generationNanos       time from the first token to the end
 * @param stopReason            why it ended
 * @param text                  the generated text (stop string excluded)
 */
public record GenerationResult(int promptTokens, int generatedTokens, long timeToFirstTokenNanos, long promptNanos,
                               long generationNanos, StopReason stopReason, String text) {

    /** @return prompt tokens per second */
    public double promptTokensPerSecond() {
        return promptNanos <= 0 ? 0 : promptTokens * 1e9 / promptNanos;
    }

    /** @return generated tokens per second, counted after the first token */
    public double generationTokensPerSecond() {
        return generationNanos <= 0 || generatedTokens < 2 ? 0 : (generatedTokens - 1) * 1e9 / generationNanos;
    }
}
