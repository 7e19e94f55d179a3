package dev.llamajava.gguf;

/** A file is not valid GGUF; the message names the byte offset and the field. */
public class GgufFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final long offset;

    /**
     * @param offset  byte offset where the problem is
     * @param message what is wrong
     */
    public GgufFormatException(long offset, String message) {
        super(message + " (at byte " + offset + ")");
        this.offset = offset;
    }

    /** @return the byte offset of the problem */
    public long offset() {
        return offset;
    }
}
