package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.ffi.llama_token_data;
import dev.llamajava.ffi.llama_token_data_array;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The shim's argmax ({@code llamajava_argmax}: one AVX2 pass in blocks of 1,024 logits, then the winning block again)
 * picks what llama.cpp's greedy sampler ({@code llama_sampler_init_greedy}, applied to the same values as a candidate
 * array) picks: the first index of the largest value, NaN skipped unless it comes first. Lengths below the vector path,
 * around and across the block size, Llama 3's 128,256; ties inside and across blocks, the maximum in the tail, NaN,
 * infinities, all equal.
 */
class ArgmaxTest {

    static Arena arena;
    static MemorySegment greedy;

    @BeforeAll
    static void load() {
        LlamaModel.load(TestSupport.stories260K()).close(); // the natives, as any caller has them
        arena = Arena.ofShared();
        greedy = llama_h.llama_sampler_init_greedy();
    }

    @AfterAll
    static void free() {
        llama_h.llama_sampler_free(greedy);
        arena.close();
    }

    /** llama.cpp's pick over the values: a candidate per value, its greedy sampler's selected index. */
    static int llamaCpp(float[] values) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = llama_token_data.allocateArray(values.length, a);
            for (int i = 0; i < values.length; i++) {
                MemorySegment d = llama_token_data.asSlice(data, i);
                llama_token_data.id(d, i);
                llama_token_data.logit(d, values[i]);
                llama_token_data.p(d, 0f);
            }
            MemorySegment cur = llama_token_data_array.allocate(a);
            llama_token_data_array.data(cur, data);
            llama_token_data_array.size(cur, values.length);
            llama_token_data_array.selected(cur, -1);
            llama_token_data_array.sorted(cur, false);
            llama_h.llama_sampler_apply(greedy, cur);
            return llama_token_data.id(llama_token_data.asSlice(data, llama_token_data_array.selected(cur)));
        }
    }

    static int shim(float[] values) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment seg = a.allocateFrom(ValueLayout.JAVA_FLOAT, values);
            return llama_h.llamajava_argmax(seg, values.length);
        }
    }

    @Test
    void picksWhatLlamaCppsGreedySamplerPicks() {
        SplittableRandom r = new SplittableRandom(20261205);
        int[] lengths = {1, 2, 63, 64, 65, 1000, 1023, 1024, 1025, 2047, 2048, 2049, 4096 + 17, 32000, 128_256};
        int checked = 0;
        for (int n : lengths) {
            for (int trial = 0; trial < 40; trial++) {
                float[] v = new float[n];
                int kind = trial % 8;
                for (int i = 0; i < n; i++) v[i] = kind == 1 ? r.nextInt(4) : (float) r.nextGaussian() * 4;
                switch (kind) {
                    case 2 -> v[r.nextInt(n)] = Float.NaN;                        // a NaN somewhere
                    case 3 -> v[0] = Float.NaN;                                   // a NaN first: llama.cpp keeps index 0
                    case 4 -> v[n - 1 - r.nextInt(Math.min(n, 500))] = 100f;     // the maximum in the tail
                    case 5 -> { v[r.nextInt(n)] = Float.POSITIVE_INFINITY; v[r.nextInt(n)] = Float.POSITIVE_INFINITY; }
                    case 6 -> java.util.Arrays.fill(v, -1f);                      // all equal
                    case 7 -> { for (int i = 0; i < n; i += 3) v[i] = Float.NaN; v[0] = Float.NEGATIVE_INFINITY; }
                    default -> { }
                }
                if (kind == 0 && n > 2) { // the same maximum in two places, often in two blocks
                    int a = r.nextInt(n), b = r.nextInt(n);
                    v[a] = 50f;
                    v[b] = 50f;
                }
                assertEquals(llamaCpp(v), shim(v), "n=" + n + " kind=" + kind + " trial=" + trial);
                checked++;
            }
        }
        assertEquals(lengths.length * 40, checked);
    }
}
