package dev.llamajava;

import java.nio.file.Path;

/** A model file could not be loaded: missing, unreadable, not GGUF, truncated, or refused by llama.cpp. */
public class ModelLoadException extends LlamaException {
    private static final long serialVersionUID = 1L;
    private final transient Path path;

    /**
     * @param path    the model file
     * @param message why it could not be loaded
     */
    public ModelLoadException(Path path, String message) {
        super(message);
        this.path = path;
    }

    /**
     * @param path    the model file
     * @param message why it could not be loaded
     * @param cause   the underlying failure
     */
    public ModelLoadException(Path path, String message, Throwable cause) {
        super(message, cause);
        this.path = path;
    }

    /** @return the model file that failed to load */
    public Path path() {
        return path;
    }
}
