package dev.llamajava;

/**
 * Base class of every exception llama-java throws for a native-side failure.
 * Parameter errors are {@link IllegalArgumentException}, use after close and concurrent misuse are
 * {@link IllegalStateException}.
 */
public class LlamaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** @param message what failed */
    public LlamaException(String message) {
        super(message);
    }

    /**
     * @param message what failed
     * @param cause   the underlying failure
     */
    public LlamaException(String message, Throwable cause) {
        super(message, cause);
    }
}
