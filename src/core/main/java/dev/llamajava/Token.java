package dev.llamajava;

/**
 * One generated token.
 *
 * @param id      the token id
 * @param text    its text; always whole UTF-8 characters (bytes of a split character move to the next token)
 * @param logprob its log-probability under the model, or NaN when not requested
 * @param index   0 for the first generated token
 */
public record Token(int id, String text, float logprob, int index) { }
