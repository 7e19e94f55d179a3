package dev.llamajava;

/**
 * The native libraries could not be found or loaded. The message lists every place that was tried,
 * the OS and architecture, and what to do.
 */
public class NativeLibraryException extends LlamaException {
    private static final long serialVersionUID = 1L;

    /**
     * @param message what was tried and why it failed
     * @param cause   the underlying failure, may be null
     */
    public NativeLibraryException(String message, Throwable cause) {
        super(message, cause);
    }

    /** @param message what was tried and why it failed */
    public NativeLibraryException(String message) {
        super(message);
    }
}
