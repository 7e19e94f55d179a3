package dev.llamajava.internal;

import dev.llamajava.LlamaException;
import dev.llamajava.ffi.llama_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * A model's token texts as generation needs them, each asked of llama.cpp once: the piece's bytes
 * ({@code llama_token_to_piece}, special tokens rendered empty), its text when those bytes are whole UTF-8
 * characters on their own, and whether it ends a generation ({@code llama_vocab_is_eog}). The per-token path then
 * makes no downcall for the text and no allocation for a token whose text is whole. Thread-safe; filled lazily.
 */
public final class TokenTexts {

    /**
     * One token's text.
     *
     * @param bytes its bytes (may be part of a UTF-8 character)
     * @param text  the bytes as a string when they are whole UTF-8 characters, else null
     */
    public record Piece(byte[] bytes, String text) { }

    private static final byte UNKNOWN = 0, NOT_EOG = 1, EOG = 2;
    private final MemorySegment vocab;
    private final AtomicReferenceArray<Piece> pieces;
    /** Per token: UNKNOWN, NOT_EOG or EOG. Racing writers write the same value, and a stale read only asks again. */
    private final byte[] eog;

    /**
     * @param vocab  the model's vocabulary (valid while the model's native memory is)
     * @param nVocab its size
     */
    public TokenTexts(MemorySegment vocab, int nVocab) {
        this.vocab = vocab;
        this.pieces = new AtomicReferenceArray<>(nVocab);
        this.eog = new byte[nVocab];
    }

    /**
     * @param id a token id inside the vocabulary; the caller keeps the model's native memory alive
     * @return whether it ends a generation
     */
    public boolean isEog(int id) {
        byte e = eog[id];
        if (e == UNKNOWN) {
            e = llama_h.llama_vocab_is_eog(vocab, id) ? EOG : NOT_EOG;
            eog[id] = e;
        }
        return e == EOG;
    }

    /**
     * @param id a token id inside the vocabulary; the caller keeps the model's native memory alive
     * @return its piece
     * @throws LlamaException when llama.cpp cannot render it
     */
    public Piece piece(int id) {
        Piece p = pieces.get(id);
        if (p == null) {
            p = render(id);
            pieces.lazySet(id, p); // a racing thread renders the same piece; either object will do
        }
        return p;
    }

    private Piece render(int id) {
        byte[] bytes = bytes(vocab, id, false);
        return new Piece(bytes, wholeUtf8(bytes));
    }

    /**
     * A token's bytes as {@code llama_token_to_piece} renders them, however long.
     *
     * @param vocab   a vocabulary (valid while the caller keeps its model's native memory alive)
     * @param id      a token id inside it
     * @param special render special and control tokens as their text (else they are empty)
     * @return the bytes
     * @throws LlamaException when llama.cpp cannot render it
     */
    public static byte[] bytes(MemorySegment vocab, int id, boolean special) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(256);
            int n = llama_h.llama_token_to_piece(vocab, id, buf, 256, 0, special);
            if (n < 0) {
                buf = a.allocate(-n);
                n = llama_h.llama_token_to_piece(vocab, id, buf, -n, 0, special);
                if (n < 0) throw new LlamaException("llama_token_to_piece failed for token " + id + " (code " + n + ")");
            }
            return buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** @return the text when the bytes are whole, well-formed UTF-8 characters, else null */
    static String wholeUtf8(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }
}
