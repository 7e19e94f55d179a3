package dev.llamajava;

/** The input does not fit the context's KV cache. */
public class ContextOverflowException extends LlamaException {
    private static final long serialVersionUID = 1L;

    /** @param message how many tokens were asked for and how many fit */
    public ContextOverflowException(String message) {
        super(message);
    }
}
