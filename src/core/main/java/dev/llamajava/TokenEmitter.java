package dev.llamajava;

import dev.llamajava.internal.LogSoftmax;
import dev.llamajava.internal.StopFilter;
import dev.llamajava.internal.TokenTexts;
import dev.llamajava.internal.Utf8Accumulator;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What happens to a sampled token id on its way to the caller, for one generation: the end-of-generation check,
 * log-probabilities, its text (whole UTF-8 characters), the {@link Token}, stop strings, {@code maxTokens}, the
 * per-token timings, and the summary at the end. Shared by a context's own stream and the engine's slots; used by one
 * thread at a time.
 */
final class TokenEmitter {

    private final GenerationParams params;
    private final TokenTexts texts;
    private final int nVocab;
    private final StopFilter filter;
    private final Utf8Accumulator utf8 = new Utf8Accumulator();
    private final StringBuilder text = new StringBuilder();
    private int generated;
    private int[] generatedIds = new int[64];
    private long firstTokenNanos;
    private long pieceNanos;
    private long stopNanos;
    private long logitsNanos;
    private long sampleNanos;
    /** Time inside {@code llama_decode} for generated tokens, added by the caller. */
    long decodeNanos;
    /** Time llama-java's graph ops took picking this generation's tokens (set by the stream at its end). */
    long graphNanos;

    TokenEmitter(GenerationParams params, TokenTexts texts, int nVocab) {
        this.params = params;
        this.texts = texts;
        this.nVocab = nVocab;
        this.filter = new StopFilter(params.stopStrings());
    }

    /** @return tokens emitted so far (the trailing U+FFFD token excluded) */
    int generated() {
        return generated;
    }

    /**
     * Emits the sampled token {@code id} into {@code out}.
     *
     * @param logits     the logits row it was sampled from (read only when log-probabilities are asked for)
     * @param fetchNanos time the caller spent fetching the logits
     * @param pickNanos  time the caller spent choosing the token
     * @return why the generation ends here, or null when it goes on
     */
    StopReason emit(int id, MemorySegment logits, ArrayDeque<Token> out, long fetchNanos, long pickNanos) {
        if (!params.ignoreEos() && texts.isEog(id)) return StopReason.END_OF_GENERATION;
        long s2 = System.nanoTime();
        float lp = Float.NaN;
        List<Token.Alternative> top = List.of();
        if (params.logprobs()) {
            MemorySegment row = logits.reinterpret((long) nVocab * 4);
            double lse = LogSoftmax.logSumExp(row, nVocab);
            lp = (float) (row.getAtIndex(ValueLayout.JAVA_FLOAT, id) - lse);
            if (params.topLogprobs() > 0) top = alternatives(row, lse, params.topLogprobs());
        }
        String piece = piece(id);
        long s3 = System.nanoTime();
        if (generated == 0) firstTokenNanos = s3;
        if (generated == generatedIds.length) generatedIds = Arrays.copyOf(generatedIds, generated * 2);
        generatedIds[generated] = id;
        boolean stop = filter.offer(new Token(id, piece, lp, generated, top), out, text);
        if (generated++ > 0) { // the first token's costs are the prompt's
            logitsNanos += fetchNanos;
            sampleNanos += pickNanos;
            pieceNanos += s3 - s2;
            stopNanos += System.nanoTime() - s3;
        }
        if (stop) return StopReason.STOP_STRING;
        if (params.maxTokens() > 0 && generated >= params.maxTokens()) return StopReason.MAX_TOKENS;
        return null;
    }

    /** The token's text: its cached piece, through the UTF-8 accumulator only when bytes of a character are pending or split. */
    private String piece(int id) {
        TokenTexts.Piece p = texts.piece(id);
        if (p.text() != null && !utf8.hasPending()) return p.text();
        return utf8.append(p.bytes(), p.bytes().length);
    }

    /** The k most probable tokens of the logits row, most probable first, with their log-probabilities. */
    private List<Token.Alternative> alternatives(MemorySegment row, double lse, int k) {
        int[] best = LogSoftmax.top(row, nVocab, k);
        List<Token.Alternative> out = new ArrayList<>(best.length);
        for (int id : best) {
            out.add(new Token.Alternative(id, new String(texts.piece(id).bytes(), StandardCharsets.UTF_8),
                    (float) (row.getAtIndex(ValueLayout.JAVA_FLOAT, id) - lse)));
        }
        return out;
    }

    /** Flushes what is held back (an incomplete character as U+FFFD, text held for a stop string) unless a stop string ended it. */
    void flush(StopReason reason, ArrayDeque<Token> out) {
        if (reason == StopReason.STOP_STRING) return;
        String tail = utf8.flush();
        if (!tail.isEmpty()) filter.offer(new Token(Token.INCOMPLETE_UTF8, tail, Float.NaN, generated), out, text);
        filter.flush(out, text);
    }

    /**
     * @param reason       why it ended
     * @param promptTokens prompt tokens decoded
     * @param startNanos   when the generation was asked for
     * @param promptNanos  time inside the prompt's decodes
     * @return the summary, as of now
     */
    GenerationResult result(StopReason reason, int promptTokens, long startNanos, long promptNanos) {
        long end = System.nanoTime();
        boolean any = generated > 0;
        return new GenerationResult(promptTokens, generated, any ? firstTokenNanos - startNanos : 0, promptNanos,
                any ? end - firstTokenNanos : 0, reason, text.toString(), decodeNanos, sampleNanos, logitsNanos, pieceNanos, stopNanos, graphNanos);
    }

    /** @return the first {@code n} generated ids */
    int[] ids(int n) {
        return Arrays.copyOf(generatedIds, Math.max(0, Math.min(n, generated)));
    }
}
