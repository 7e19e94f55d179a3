package dev.llamajava;

import java.util.List;
import java.util.Objects;

/**
 * One generated token.
 *
 * @param id          the token id; {@value #INCOMPLETE_UTF8} for the one extra token a generation may end with,
 *                    which carries U+FFFD for the bytes of a UTF-8 character that the last real token left incomplete
 * @param text        its text; always whole UTF-8 characters (bytes of a split character move to the next token)
 * @param logprob     its log-probability under the model, or NaN when not requested
 * @param index       0 for the first generated token
 * @param topLogprobs the most probable tokens at this step, most probable first, when asked for
 *                    ({@link GenerationParams.Builder#topLogprobs}); empty otherwise
 */
public record Token(int id, String text, float logprob, int index, List<Alternative> topLogprobs) {

    /** The id of the trailing token that flushes an incomplete UTF-8 character as U+FFFD. */
    public static final int INCOMPLETE_UTF8 = -1;

    /**
     * A candidate at one step.
     *
     * @param id      token id
     * @param text    its text (its own bytes, decoded on their own: a piece of a split character shows U+FFFD)
     * @param logprob its log-probability under the model
     */
    public record Alternative(int id, String text, float logprob) { }

    /** Copies the list. */
    public Token {
        topLogprobs = List.copyOf(Objects.requireNonNull(topLogprobs, "topLogprobs"));
    }

    /**
     * A token without alternatives.
     *
     * @param id      the token id
     * @param text    its text
     * @param logprob its log-probability, or NaN
     * @param index   its index in the generation
     */
    public Token(int id, String text, float logprob, int index) {
        this(id, text, logprob, index, List.of());
    }
}
