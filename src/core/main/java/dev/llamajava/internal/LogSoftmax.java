package dev.llamajava.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/** Log-probabilities from logits: the log-sum-exp of a row, one pass for the maximum, one for the sum. */
public final class LogSoftmax {

    private LogSoftmax() { }

    /**
     * @param row logits ({@code n} floats)
     * @param n   how many
     * @return {@code log(sum(exp(row)))}: a token's log-probability is its logit minus this
     */
    public static double logSumExp(MemorySegment row, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, row.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.exp(row.getAtIndex(ValueLayout.JAVA_FLOAT, i) - max);
        return max + Math.log(sum);
    }

    /**
     * @param row logits
     * @return {@code log(sum(exp(row)))}
     */
    public static double logSumExp(float[] row) {
        return logSumExp(MemorySegment.ofArray(row), row.length);
    }

    /**
     * @param row logits ({@code n} floats)
     * @param n   how many
     * @param k   how many to return (at most {@code n})
     * @return the indices of the k largest, largest first (the lower index first on ties)
     */
    public static int[] top(MemorySegment row, int n, int k) {
        int[] best = new int[k];
        float[] val = new float[k];
        Arrays.fill(val, Float.NEGATIVE_INFINITY);
        Arrays.fill(best, -1);
        for (int i = 0; i < n; i++) {
            float v = row.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            if (v > val[k - 1]) {
                int j = k - 1;
                while (j > 0 && val[j - 1] < v) {
                    val[j] = val[j - 1];
                    best[j] = best[j - 1];
                    j--;
                }
                val[j] = v;
                best[j] = i;
            }
        }
        int found = 0;
        while (found < k && best[found] >= 0) found++;
        return found == k ? best : Arrays.copyOf(best, found);
    }
}
