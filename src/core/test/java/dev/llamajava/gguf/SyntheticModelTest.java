package dev.llamajava.gguf;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The synthetic shapes, without writing the big file. */
class SyntheticModelTest {

    @Test
    void llama32OneBShapeHasThePublishedParameterCount() {
        long params = SyntheticModel.tensors(SyntheticModel.LLAMA_3_2_1B, 128256).stream().mapToLong(GgufWriter.Tensor::elements).sum();
        assertEquals(1_235_814_432L, params); // Meta's "1.23 B"; llama.cpp prints 1.24 B
        long f16 = SyntheticModel.tensors(SyntheticModel.LLAMA_3_2_1B, 128256).stream().mapToLong(GgufWriter.Tensor::bytes).sum();
        long f32Elements = 32 + 2048 + 16 * 2 * 2048; // rope factors, output norm, two norms per block
        assertEquals((params - f32Elements) * 2 + f32Elements * 4, f16, "F16 weights with F32 norms and rope factors");
        assertEquals(2.47e9, f16, 0.01e9); // "F16 about 2.48 GB" with the tokenizer metadata
        assertEquals(64, SyntheticModel.LLAMA_3_2_1B.headDim());
    }

    @Test
    void llama3RopeFactorsFollowTheConverter() {
        float[] f = SyntheticModel.llama3RopeFactors(64);
        assertEquals(32, f.length);
        // high frequencies unscaled, low frequencies scaled by the factor 32, a smooth band between
        assertEquals(1f, f[0]);
        assertEquals(32f, f[31]);
        int smooth = 0;
        for (float x : f) if (x > 1f && x < 32f) smooth++;
        assertTrue(smooth > 0 && smooth < 10, "smooth band " + smooth);
        for (int i = 1; i < f.length; i++) assertTrue(f[i] >= f[i - 1], "monotonic at " + i);
    }
}
