package dev.llamajava.internal;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Which cached pieces may skip the UTF-8 accumulator: only whole, well-formed characters. */
class TokenTextsTest {

    @Test
    void wholeCharactersOnly() {
        byte[] llama = "🦙".getBytes(StandardCharsets.UTF_8);
        assertEquals("🦙", TokenTexts.wholeUtf8(llama));
        assertEquals(" the", TokenTexts.wholeUtf8(" the".getBytes(StandardCharsets.UTF_8)));
        assertEquals("", TokenTexts.wholeUtf8(new byte[0]));
        assertNull(TokenTexts.wholeUtf8(new byte[]{llama[0], llama[1]}), "the start of a character");
        assertNull(TokenTexts.wholeUtf8(new byte[]{llama[2], llama[3]}), "the end of a character");
        assertNull(TokenTexts.wholeUtf8(new byte[]{(byte) 0xff}), "never UTF-8");
        assertNull(TokenTexts.wholeUtf8(new byte[]{(byte) 0xc0, (byte) 0x80}), "an overlong NUL");
    }
}
