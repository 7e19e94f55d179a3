package dev.llamajava;

/** {@link ChatSessionTest}'s cases and references with every stream decoding its token ahead (see {@link DecodeAheadTest}). */
@WithProperty(key = "llama.decode.ahead", value = "on")
class DecodeAheadChatSessionTest extends ChatSessionTest {
}
