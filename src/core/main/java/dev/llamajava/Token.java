package dev.llamajava;

/**
 * One generated token.
 *
 * @param id      the token id; {@value #INCOMPLETE_UTF8} for the one extra token a generation may end with, which
 *                carries U+FFFD for the bytes of a UTF-8 character that the last real token left incomplete
 * @param text    its text; always whole UTF-8 characters (bytes of a split character move to the next token)
 * @param logprob its log-probability under the model, or NaN when not requested
 * @param index   0 for the first generated token
 */
public record Token(int id, String text, float logprob, int index) {

    /** The id of the trailing token that flushes an incomplete UTF-8 character as U+FFFD. */
    public static final int INCOMPLETE_UTF8 = -1;
}
