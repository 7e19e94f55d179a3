package dev.llamajava.internal;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Turns token pieces (raw bytes, possibly parts of a UTF-8 character) into whole characters: bytes of a character
 * split across pieces wait for the next piece; malformed bytes become U+FFFD; nothing is dropped, however long a piece.
 * Not thread-safe.
 */
public final class Utf8Accumulator {

    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
    private ByteBuffer pending = ByteBuffer.allocate(256);
    private CharBuffer chars = CharBuffer.allocate(256);

    /**
     * @param bytes a piece's bytes
     * @param n     how many of them
     * @return the whole characters now available (may be empty)
     */
    public String append(byte[] bytes, int n) {
        if (pending.remaining() < n) {
            ByteBuffer bigger = ByteBuffer.allocate(Math.max(pending.capacity() * 2, pending.position() + n));
            pending.flip();
            bigger.put(pending);
            pending = bigger;
            chars = CharBuffer.allocate(pending.capacity());
        }
        pending.put(bytes, 0, n);
        pending.flip();
        chars.clear();
        decoder.decode(pending, chars, false);
        pending.compact();
        chars.flip();
        return chars.toString();
    }

    /** @return whether bytes of an incomplete character are waiting */
    public boolean hasPending() {
        return pending.position() > 0;
    }

    /** @return U+FFFD for the bytes of an incomplete character left at the end (empty when none); then empty */
    public String flush() {
        pending.flip();
        chars.clear();
        decoder.decode(pending, chars, true);
        decoder.flush(chars);
        decoder.reset();
        pending.clear();
        chars.flip();
        return chars.toString();
    }
}
