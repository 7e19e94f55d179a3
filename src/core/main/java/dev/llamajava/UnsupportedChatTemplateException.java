package dev.llamajava;

/** llama.cpp's {@code llama_chat_apply_template} does not know the template. */
public class UnsupportedChatTemplateException extends LlamaException {
    private static final long serialVersionUID = 1L;

    /** @param message which template */
    public UnsupportedChatTemplateException(String message) {
        super(message);
    }
}
