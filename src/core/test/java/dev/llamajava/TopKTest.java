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
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shim's top-k ({@code llamajava_top_k}: block maxima as a floor, then only the blocks reaching it; in a row of up
 * to 2,048 logits, the k-th largest logit itself as the floor; or a heap of k)
 * keeps what llama.cpp's top-k sampler ({@code llama_sampler_init_top_k}, applied to the same values as a candidate
 * array) keeps: the same values in the same descending order, and for each value the same tokens, except where
 * llama.cpp leaves the choice open (tokens tied at the k-th value: its partial sort keeps any of them; the shim keeps
 * the lowest ids, checked against the input). NaN is not a candidate (llama.cpp's result with NaN is undefined): the
 * reference is llama.cpp's top-k of the other tokens. Lengths on both sides of the block path (2k blocks of 256) and of
 * the short-row path (2,048),
 * Llama 3's 128,256, k from 1 to 2,000; Gaussian logits, few distinct values (ties everywhere), values rounded to
 * halves (ties at the floor, few enough to be ranked), the largest in the tail or in one block, infinities, all equal,
 * whole blocks of NaN beside blocks of -inf.
 */
class TopKTest {

    static Arena arena;

    @BeforeAll
    static void load() {
        LlamaModel.load(TestSupport.stories260K()).close(); // the natives, as any caller has them
        arena = Arena.ofShared();
    }

    @AfterAll
    static void free() {
        arena.close();
    }

    /** llama.cpp's top-k of the values that are not NaN: {ids, logits as int bits}, largest first. */
    static int[][] llamaCpp(float[] values, int k) {
        MemorySegment topK = llama_h.llama_sampler_init_top_k(k);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = llama_token_data.allocateArray(values.length, a);
            int n = 0;
            for (int i = 0; i < values.length; i++) {
                if (Float.isNaN(values[i])) continue;
                MemorySegment d = llama_token_data.asSlice(data, n++);
                llama_token_data.id(d, i);
                llama_token_data.logit(d, values[i]);
                llama_token_data.p(d, 0f);
            }
            MemorySegment cur = llama_token_data_array.allocate(a);
            llama_token_data_array.data(cur, data);
            llama_token_data_array.size(cur, n);
            llama_token_data_array.selected(cur, -1);
            llama_token_data_array.sorted(cur, false);
            llama_h.llama_sampler_apply(topK, cur);
            return read(data, (int) llama_token_data_array.size(cur));
        } finally {
            llama_h.llama_sampler_free(topK);
        }
    }

    static int[][] shim(float[] values, int k) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment seg = a.allocateFrom(ValueLayout.JAVA_FLOAT, values);
            MemorySegment buf = llama_token_data.allocateArray(k, a);
            assertEquals(k, llama_h.llamajava_top_k(seg, values.length, k, buf));
            return read(buf, k);
        }
    }

    static int[][] read(MemorySegment data, int n) {
        int[][] r = new int[2][n];
        for (int i = 0; i < n; i++) {
            MemorySegment d = llama_token_data.asSlice(data, i);
            r[0][i] = llama_token_data.id(d);
            r[1][i] = Float.floatToIntBits(llama_token_data.logit(d));
        }
        return r;
    }

    /** value (as int bits) to the set of ids holding it in a result */
    static Map<Integer, Set<Integer>> byValue(int[][] r) {
        Map<Integer, Set<Integer>> m = new HashMap<>();
        for (int i = 0; i < r[0].length; i++) m.computeIfAbsent(r[1][i], v -> new HashSet<>()).add(r[0][i]);
        return m;
    }

    @Test
    void keepsWhatLlamaCppsTopKKeeps() {
        SplittableRandom r = new SplittableRandom(20261205);
        int[] lengths = {1, 7, 40, 255, 256, 257, 512, 2047, 2048, 2049, 4096, 10_000, 20_479, 20_480, 20_481, 51_200, 65_536 + 17, 128_256};
        int[] ks = {1, 5, 40, 200, 2000};
        int checked = 0;
        for (int n : lengths) {
            for (int k : ks) {
                if (k > n) continue;
                for (int kind = 0; kind < 10; kind++) {
                    float[] v = new float[n];
                    for (int i = 0; i < n; i++) v[i] = kind == 1 ? r.nextInt(6) : (float) r.nextGaussian() * 4;
                    switch (kind) {
                        case 2 -> { for (int i = 0; i < n / 7; i++) v[r.nextInt(n)] = Float.NaN; }           // NaN here and there
                        case 3 -> { for (int i = 0; i < Math.min(n, 600); i++) v[n - 1 - i] = 50f + i % 97; }  // the largest in the tail
                        case 4 -> { for (int i = 0; i < Math.min(n, 256); i++) v[i] = 60f + i; }               // all of them in the first block
                        case 5 -> { // +inf only where llama.cpp sorts with std::partial_sort: its bucket sort (k > 128)
                                    // converts the logit to int, undefined for infinity, and files +inf with the smallest
                            for (int i = 0; i < n; i += 5) v[i] = Float.NEGATIVE_INFINITY;
                            if (k <= 128) v[r.nextInt(n)] = Float.POSITIVE_INFINITY;
                        }
                        case 6 -> Arrays.fill(v, -1f);                                                        // all equal
                        case 7 -> { for (int i = 0; i < n; i++) v[i] = i % 3 == 0 ? Float.NaN : Float.NEGATIVE_INFINITY; } // nothing finite
                        case 8 -> { for (int i = 0; i < n; i++) v[i] = Math.round(v[i] * 2) / 2f; }              // ties near the floor, under 512 of them
                        case 9 -> { // whole blocks of NaN (their maximum reads -inf) beside blocks of -inf and a few numbers
                            for (int i = 0; i < n; i++) v[i] = (i / 256) % 2 == 0 ? Float.NaN : i % 97 == 0 ? (float) (i % 5) : Float.NEGATIVE_INFINITY;
                        }
                        default -> { }
                    }
                    if (check(v, k, "n=" + n + " k=" + k + " kind=" + kind)) checked++;
                }
            }
        }
        assertTrue(checked > 300, "cases checked: " + checked);
    }

    /**
     * Compares the shim's top-k of v with llama.cpp's.
     *
     * @return false when v holds fewer than k numbers (nothing to compare), else true after the assertions
     */
    static boolean check(float[] v, int k, String what) {
        int n = v.length;
        long numbers = Arrays.stream(toDoubles(v)).filter(x -> !Double.isNaN(x)).count();
        if (numbers < k) return false;
        int[][] theirs = llamaCpp(v, k);
        int[][] ours = shim(v, k);
        assertArrayEquals(theirs[1], ours[1], what + ": the values, largest first");
        Map<Integer, Set<Integer>> t = byValue(theirs), o = byValue(ours);
        int last = ours[1][k - 1];
        for (Map.Entry<Integer, Set<Integer>> e : o.entrySet()) {
            if (e.getKey() != last) assertEquals(t.get(e.getKey()), e.getValue(), what + ": the tokens of " + Float.intBitsToFloat(e.getKey()));
        }
        // at the k-th value llama.cpp keeps any of the tied tokens; the shim keeps the lowest ids, in order
        int kept = o.get(last).size();
        int[] lowest = IntStream.range(0, n).filter(i -> Float.floatToIntBits(v[i]) == last).limit(kept).toArray();
        int[] oursAtLast = IntStream.range(0, k).filter(i -> ours[1][i] == last).map(i -> ours[0][i]).toArray();
        assertArrayEquals(lowest, oursAtLast, what + ": the tokens tied at the k-th value");
        for (int i = 1; i < k; i++) {
            assertTrue(ours[1][i - 1] != ours[1][i] || ours[0][i - 1] < ours[0][i], what + ": ties by id at " + i);
        }
        return true;
    }

    /**
     * Random rows around the short-row path and the heap beyond it (1 to 4,200 logits), random k up to 600, logits
     * drawn from a few distributions (Gaussian, few values, halves, with NaN and infinities mixed in), against
     * llama.cpp's top-k; the seed is printed in a failure's message.
     */
    @Test
    void randomRowsKeepWhatLlamaCppsTopKKeeps() {
        long seed = 20261207;
        SplittableRandom r = new SplittableRandom(seed);
        int checked = 0;
        for (int c = 0; c < 400; c++) {
            int n = 1 + r.nextInt(c % 4 == 0 ? 4200 : 2100);
            // llama.cpp's bucket sort (k > 128) files +inf with the smallest logits: +inf only below it
            int k = 1 + r.nextInt(Math.min(n, c % 3 == 0 ? 600 : 128));
            int dist = r.nextInt(4);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                float g = (float) r.nextGaussian() * 3;
                v[i] = switch (dist) {
                    case 0 -> g;
                    case 1 -> r.nextInt(5);
                    case 2 -> Math.round(g * 2) / 2f;
                    default -> {
                        int u = r.nextInt(20);
                        yield u == 0 ? Float.NaN : u == 1 ? Float.NEGATIVE_INFINITY : u == 2 && k <= 128 ? Float.POSITIVE_INFINITY : g;
                    }
                };
            }
            if (check(v, k, "seed " + seed + " case " + c + ": n=" + n + " k=" + k + " kind=" + dist)) checked++;
        }
        assertTrue(checked > 350, "cases checked: " + checked);
    }

    @Test
    void refusesBadArguments() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment seg = a.allocateFrom(ValueLayout.JAVA_FLOAT, 1f, 2f, 3f);
            MemorySegment buf = llama_token_data.allocateArray(4, a);
            assertEquals(-2, llama_h.llamajava_top_k(seg, 3, 0, buf));
            assertEquals(-2, llama_h.llamajava_top_k(seg, 3, 4, buf));
            assertEquals(-2, llama_h.llamajava_top_k(MemorySegment.NULL, 3, 1, buf));
            assertEquals(-2, llama_h.llamajava_top_k(seg, 3, 1, MemorySegment.NULL));
        }
    }

    static double[] toDoubles(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }
}
