package dev.llamajava;

import java.util.LinkedHashMap;
import java.util.Map;

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
 * @param sampleNanos           time choosing each token from its logits (the greedy argmax or the sampler chain), after the first
 * @param logitsNanos           time fetching each token's logits ({@code llama_get_logits_ith}, which waits for an
 *                              asynchronous backend), after the first
 * @param pieceNanos            time turning each token into text (end-of-generation check, {@code llama_token_to_piece},
 *                              UTF-8 assembly), after the first
 * @param stopNanos             time creating each {@link Token} and matching stop strings, after the first
 * @param graphSampleNanos      time llama-java's sampling ops took inside the decodes' graphs (where tokens are picked
 *                              there on a CPU: {@code llama.sampling.backend}), summed over every token they picked;
 *                              part of {@code promptNanos} and {@code decodeNanos}, not of the time outside them
 */
public record GenerationResult(int promptTokens, int generatedTokens, long timeToFirstTokenNanos, long promptNanos,
                               long generationNanos, StopReason stopReason, String text, long decodeNanos, long sampleNanos,
                               long logitsNanos, long pieceNanos, long stopNanos, long graphSampleNanos) {

    /**
     * @return the Java-side cost per generated token (after the first) in nanoseconds: generation time outside
     *         {@code llama_decode}, the logits fetch and the sampler (text, stop strings, the stream and the caller's loop)
     */
    public double overheadNanosPerToken() {
        return perToken(generationNanos - decodeNanos - logitsNanos - sampleNanos);
    }

    /**
     * @return everything per generated token (after the first) outside {@code llama_decode}, in nanoseconds: logits
     *         fetch, sampling, text, stop strings, the stream and the caller's loop
     */
    public double outsideDecodeNanosPerToken() {
        return perToken(generationNanos - decodeNanos);
    }

    /**
     * Where the time per generated token (after the first) outside {@code llama_decode} goes, in nanoseconds:
     * {@code logits} (fetching the logits row into Java, done only for log-probabilities: otherwise the shim fetches
     * it inside the choice), {@code sample} (the choice of the token), {@code piece}, {@code stop}, and
     * {@code plumbing} (the rest: the iterator, the stream's checks and the caller's loop).
     *
     * @return phase name to nanoseconds per token, in that order
     */
    public Map<String, Double> perTokenBreakdown() {
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("logits", perToken(logitsNanos));
        m.put("sample", perToken(sampleNanos));
        m.put("piece", perToken(pieceNanos));
        m.put("stop", perToken(stopNanos));
        m.put("plumbing", perToken(generationNanos - decodeNanos - logitsNanos - sampleNanos - pieceNanos - stopNanos));
        return m;
    }

    private double perToken(long nanos) {
        return generatedTokens < 2 ? 0 : (double) nanos / (generatedTokens - 1);
    }

    /**
     * @return nanoseconds per generated token that llama-java's sampling ops took inside {@code llama_decode}'s graph
     *         (0 where tokens were picked elsewhere)
     */
    public double graphSampleNanosPerToken() {
        return generatedTokens == 0 ? 0 : (double) graphSampleNanos / generatedTokens;
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
