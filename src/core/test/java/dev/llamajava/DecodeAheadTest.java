package dev.llamajava;

import dev.llamajava.internal.Settings;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Streams that decode their token before handing it over ({@code llama.decode.ahead}, on by default where the output
 * layer is on a GPU or an RPC server; {@code RpcTest} covers that default against llama-simple). Forced on here on the
 * CPU: llama.cpp's own count of cached positions says which tokens were decoded, and the generation, chat-session and
 * graph-sampling tests run again with it on, against their references (llama-simple, llama-completion, a fresh context).
 */
class DecodeAheadTest {

    @AfterEach
    void clear() {
        System.clearProperty(Settings.DECODE_AHEAD.property());
    }

    /** @return llama.cpp's count of positions in the context's cache after a stream with these settings, ahead on or off */
    static int cachedAfter(LlamaModel model, boolean ahead, GenerationParams gp, List<String> texts) {
        System.setProperty(Settings.DECODE_AHEAD.property(), ahead ? "on" : "off");
        try (LlamaContext ctx = LlamaContext.create(model, GenerationTest.ctxParams(128))) {
            try (TokenStream ts = ctx.generate("Once upon a time", gp)) {
                texts.add(ts.text());
            }
            return ctx.cachedTokens();
        }
    }

    @Test
    void aTokenThatGoesOnIsInTheCacheBeforeTheNextIsAskedFor() {
        try (LlamaModel model = LlamaModel.load(TestSupport.stories260K())) {
            int prompt = model.tokenize("Once upon a time", true, true).length;
            GenerationParams five = GenerationParams.builder().greedy().maxTokens(5).build();
            List<String> texts = new ArrayList<>();
            // maxTokens ends the stream: its last token is never decoded, ahead or not
            assertEquals(prompt + 4, cachedAfter(model, true, five, texts));
            assertEquals(prompt + 4, cachedAfter(model, false, five, texts));
            assertEquals(texts.get(0), texts.get(1));
            // a stop string is found in a token's text, after the decode ahead started: that token is in the cache
            String full = texts.get(0);
            String stop = full.substring(full.length() - 3);
            GenerationParams stopped = GenerationParams.builder().greedy().maxTokens(40).stop(stop).build();
            texts.clear();
            int ahead = cachedAfter(model, true, stopped, texts);
            int lazy = cachedAfter(model, false, stopped, texts);
            assertEquals(texts.get(0), texts.get(1));
            assertEquals(lazy + 1, ahead);
        }
    }

    @Test
    void badValueIsAClearException() {
        System.setProperty(Settings.DECODE_AHEAD.property(), "sometimes");
        try (LlamaModel model = LlamaModel.load(TestSupport.stories260K());
             LlamaContext ctx = LlamaContext.create(model, GenerationTest.ctxParams(64))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ctx.generate("Once", GenerationParams.builder().build()));
            assertEquals("llama.decode.ahead / LLAMA_DECODE_AHEAD must be auto, on or off, was 'sometimes'", e.getMessage());
            System.clearProperty(Settings.DECODE_AHEAD.property());
            try (TokenStream ts = ctx.generate("Once", GenerationParams.builder().greedy().maxTokens(3).build())) {
                assertTrue(ts.text().length() > 0, "the context is usable after the refused stream");
            }
        }
    }
}
