package dev.llamajava;

/**
 * The native libraries loaded, but the compute backend asked for with {@code -Dllama.backend} /
 * {@code LLAMA_BACKEND} cannot be used; the message says what is missing (the CUDA natives jar, the NVIDIA
 * driver library, the CUDA runtime libraries, or a device).
 */
public class BackendUnavailableException extends NativeLibraryException {
    private static final long serialVersionUID = 1L;

    /** @param message what is missing */
    public BackendUnavailableException(String message) {
        super(message);
    }
}
