package dev.llamajava;

/** {@link GenerationTest}'s cases and references with every stream decoding its token ahead (see {@link DecodeAheadTest}). */
@WithProperty(key = "llama.decode.ahead", value = "on")
class DecodeAheadGenerationTest extends GenerationTest {
}
