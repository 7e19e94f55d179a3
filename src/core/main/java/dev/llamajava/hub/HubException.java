package dev.llamajava.hub;

import dev.llamajava.LlamaException;

/** A Hugging Face download or lookup failed: HTTP error, failed check, or no network. */
public class HubException extends LlamaException {
    private static final long serialVersionUID = 1L;

    /** @param message what failed */
    public HubException(String message) {
        super(message);
    }

    /**
     * @param message what failed
     * @param cause   why
     */
    public HubException(String message, Throwable cause) {
        super(message, cause);
    }
}
