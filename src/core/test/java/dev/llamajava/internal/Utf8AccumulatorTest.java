package dev.llamajava.internal;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Token pieces to text: split characters wait, nothing is dropped however long a piece, the end flushes U+FFFD. */
class Utf8AccumulatorTest {

    @Test
    void aCharacterSplitAcrossPiecesComesWhole() {
        byte[] emoji = "\uD83D\uDE00".getBytes(StandardCharsets.UTF_8); // 4 bytes
        Utf8Accumulator u = new Utf8Accumulator();
        assertEquals("a", u.append(new byte[]{'a', emoji[0]}, 2));
        assertTrue(u.hasPending());
        assertEquals("", u.append(new byte[]{emoji[1], emoji[2]}, 2));
        assertEquals("\uD83D\uDE00b", u.append(new byte[]{emoji[3], 'b'}, 2));
        assertFalse(u.hasPending());
        assertEquals("", u.flush());
    }

    @Test
    void piecesLongerThanAnyBufferAreKeptWhole() {
        String text = "\u00e9\u4e2d\uD83D\uDE00x".repeat(700); // 7,000 characters, 7,000 * 10 / 4 bytes
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        Utf8Accumulator u = new Utf8Accumulator();
        StringBuilder out = new StringBuilder();
        // one piece of 3,001 bytes (splits a character), then the rest in one piece
        byte[] first = Arrays.copyOf(bytes, 3001);
        byte[] rest = Arrays.copyOfRange(bytes, 3001, bytes.length);
        out.append(u.append(first, first.length)).append(u.append(rest, rest.length));
        assertEquals(text, out.toString());
    }

    @Test
    void anIncompleteCharacterAtTheEndFlushesAsReplacement() {
        byte[] cjk = "\u4e2d".getBytes(StandardCharsets.UTF_8);
        Utf8Accumulator u = new Utf8Accumulator();
        assertEquals("ok", u.append(new byte[]{'o', 'k', cjk[0], cjk[1]}, 4));
        assertEquals("\uFFFD", u.flush());
        assertEquals("", u.flush());
        assertEquals("\u4e2d", u.append(cjk, 3)); // reusable after a flush
    }

    @Test
    void malformedBytesBecomeReplacementCharacters() {
        Utf8Accumulator u = new Utf8Accumulator();
        assertEquals("a\uFFFDb", u.append(new byte[]{'a', (byte) 0xff, 'b'}, 3));
    }
}
