package dev.llamajava.internal.schema;

/**
 * nlohmann::json's double to text ({@code detail::to_chars}): Florian Loitsch's Grisu2 with nlohmann's boundaries
 * and rounding, then nlohmann's {@code format_buffer} layout. Grisu2 gives digits that round-trip, and the shortest
 * such in nearly every case but not all, and not always the closest of them, so {@link Double#toString} differs in
 * a few values in a thousand; this port gives nlohmann's digits exactly.
 *
 * <p>All 64-bit quantities are unsigned, as in the C++ code.
 */
final class Grisu2 {

    private Grisu2() { }

    private static final int ALPHA = -60;

    /** Normalized 10^k as f * 2^e, for k = -300, -292, ..., 324: {f, e, k}. */
    private static final long[][] CACHED_POWERS = {
        {0xAB70FE17C79AC6CAL, -1060, -300}, {0xFF77B1FCBEBCDC4FL, -1034, -292}, {0xBE5691EF416BD60CL, -1007, -284},
        {0x8DD01FAD907FFC3CL, -980, -276}, {0xD3515C2831559A83L, -954, -268}, {0x9D71AC8FADA6C9B5L, -927, -260},
        {0xEA9C227723EE8BCBL, -901, -252}, {0xAECC49914078536DL, -874, -244}, {0x823C12795DB6CE57L, -847, -236},
        {0xC21094364DFB5637L, -821, -228}, {0x9096EA6F3848984FL, -794, -220}, {0xD77485CB25823AC7L, -768, -212},
        {0xA086CFCD97BF97F4L, -741, -204}, {0xEF340A98172AACE5L, -715, -196}, {0xB23867FB2A35B28EL, -688, -188},
        {0x84C8D4DFD2C63F3BL, -661, -180}, {0xC5DD44271AD3CDBAL, -635, -172}, {0x936B9FCEBB25C996L, -608, -164},
        {0xDBAC6C247D62A584L, -582, -156}, {0xA3AB66580D5FDAF6L, -555, -148}, {0xF3E2F893DEC3F126L, -529, -140},
        {0xB5B5ADA8AAFF80B8L, -502, -132}, {0x87625F056C7C4A8BL, -475, -124}, {0xC9BCFF6034C13053L, -449, -116},
        {0x964E858C91BA2655L, -422, -108}, {0xDFF9772470297EBDL, -396, -100}, {0xA6DFBD9FB8E5B88FL, -369, -92},
        {0xF8A95FCF88747D94L, -343, -84}, {0xB94470938FA89BCFL, -316, -76}, {0x8A08F0F8BF0F156BL, -289, -68},
        {0xCDB02555653131B6L, -263, -60}, {0x993FE2C6D07B7FACL, -236, -52}, {0xE45C10C42A2B3B06L, -210, -44},
        {0xAA242499697392D3L, -183, -36}, {0xFD87B5F28300CA0EL, -157, -28}, {0xBCE5086492111AEBL, -130, -20},
        {0x8CBCCC096F5088CCL, -103, -12}, {0xD1B71758E219652CL, -77, -4}, {0x9C40000000000000L, -50, 4},
        {0xE8D4A51000000000L, -24, 12}, {0xAD78EBC5AC620000L, 3, 20}, {0x813F3978F8940984L, 30, 28},
        {0xC097CE7BC90715B3L, 56, 36}, {0x8F7E32CE7BEA5C70L, 83, 44}, {0xD5D238A4ABE98068L, 109, 52},
        {0x9F4F2726179A2245L, 136, 60}, {0xED63A231D4C4FB27L, 162, 68}, {0xB0DE65388CC8ADA8L, 189, 76},
        {0x83C7088E1AAB65DBL, 216, 84}, {0xC45D1DF942711D9AL, 242, 92}, {0x924D692CA61BE758L, 269, 100},
        {0xDA01EE641A708DEAL, 295, 108}, {0xA26DA3999AEF774AL, 322, 116}, {0xF209787BB47D6B85L, 348, 124},
        {0xB454E4A179DD1877L, 375, 132}, {0x865B86925B9BC5C2L, 402, 140}, {0xC83553C5C8965D3DL, 428, 148},
        {0x952AB45CFA97A0B3L, 455, 156}, {0xDE469FBD99A05FE3L, 481, 164}, {0xA59BC234DB398C25L, 508, 172},
        {0xF6C69A72A3989F5CL, 534, 180}, {0xB7DCBF5354E9BECEL, 561, 188}, {0x88FCF317F22241E2L, 588, 196},
        {0xCC20CE9BD35C78A5L, 614, 204}, {0x98165AF37B2153DFL, 641, 212}, {0xE2A0B5DC971F303AL, 667, 220},
        {0xA8D9D1535CE3B396L, 694, 228}, {0xFB9B7CD9A4A7443CL, 720, 236}, {0xBB764C4CA7A44410L, 747, 244},
        {0x8BAB8EEFB6409C1AL, 774, 252}, {0xD01FEF10A657842CL, 800, 260}, {0x9B10A4E5E9913129L, 827, 268},
        {0xE7109BFBA19C0C9DL, 853, 276}, {0xAC2820D9623BF429L, 880, 284}, {0x80444B5E7AA7CF85L, 907, 292},
        {0xBF21E44003ACDD2DL, 933, 300}, {0x8E679C2F5E44FF8FL, 960, 308}, {0xD433179D9C8CB841L, 986, 316},
        {0x9E19DB92B4E31BA9L, 1013, 324},
    };

    /** f * 2^e, f unsigned. */
    private record DiyFp(long f, int e) {
        DiyFp minus(DiyFp y) {
            return new DiyFp(f - y.f, e);
        }

        DiyFp times(DiyFp y) {
            long uLo = f & 0xFFFFFFFFL;
            long uHi = f >>> 32;
            long vLo = y.f & 0xFFFFFFFFL;
            long vHi = y.f >>> 32;
            long p0 = uLo * vLo;
            long p1 = uLo * vHi;
            long p2 = uHi * vLo;
            long p3 = uHi * vHi;
            long q = (p0 >>> 32) + (p1 & 0xFFFFFFFFL) + (p2 & 0xFFFFFFFFL);
            q += 1L << 31; // round, ties up
            long h = p3 + (p2 >>> 32) + (p1 >>> 32) + (q >>> 32);
            return new DiyFp(h, e + y.e + 64);
        }

        DiyFp normalized() {
            long nf = f;
            int ne = e;
            while ((nf >>> 63) == 0) {
                nf <<= 1;
                ne--;
            }
            return new DiyFp(nf, ne);
        }

        DiyFp normalizedTo(int targetExponent) {
            return new DiyFp(f << (e - targetExponent), targetExponent);
        }
    }

    /**
     * nlohmann's {@code to_chars} of a finite double.
     *
     * @param value a finite double
     * @param out   where to write
     */
    static void toChars(double value, StringBuilder out) {
        if (Double.doubleToRawLongBits(value) < 0) {
            value = -value;
            out.append('-');
        }
        if (value == 0) {
            out.append("0.0");
            return;
        }
        char[] buf = new char[32];
        int[] lenExp = digits(value, buf);
        formatBuffer(buf, lenExp[0], lenExp[1], -4, 15, out);
    }

    /** Grisu2: fills buf with the digits, returns {length, decimal exponent}: value = digits * 10^exponent. */
    private static int[] digits(double value, char[] buf) {
        long bits = Double.doubleToRawLongBits(value);
        long bigE = bits >>> 52;
        long bigF = bits & ((1L << 52) - 1);
        DiyFp v = bigE == 0 ? new DiyFp(bigF, -1074) : new DiyFp(bigF + (1L << 52), (int) bigE - 1075);
        boolean lowerBoundaryIsCloser = bigF == 0 && bigE > 1;
        DiyFp mPlus = new DiyFp(2 * v.f() + 1, v.e() - 1);
        DiyFp mMinus = lowerBoundaryIsCloser ? new DiyFp(4 * v.f() - 1, v.e() - 2) : new DiyFp(2 * v.f() - 1, v.e() - 1);
        DiyFp wPlus = mPlus.normalized();
        DiyFp wMinus = mMinus.normalizedTo(wPlus.e());
        DiyFp w = v.normalized();

        int f = ALPHA - wPlus.e() - 1;
        int k = (f * 78913) / (1 << 18) + (f > 0 ? 1 : 0);
        long[] cached = CACHED_POWERS[(300 + k + 7) / 8];
        DiyFp c = new DiyFp(cached[0], (int) cached[1]);
        DiyFp ww = w.times(c);
        DiyFp lo = wMinus.times(c);
        DiyFp hi = wPlus.times(c);
        DiyFp bigMinus = new DiyFp(lo.f() + 1, lo.e());
        DiyFp bigPlus = new DiyFp(hi.f() - 1, hi.e());
        return digitGen(buf, (int) -cached[2], bigMinus, ww, bigPlus);
    }

    private static int[] digitGen(char[] buffer, int decimalExponent, DiyFp mMinus, DiyFp w, DiyFp mPlus) {
        long delta = mPlus.minus(mMinus).f();
        long dist = mPlus.minus(w).f();
        int shift = -mPlus.e();
        long one = 1L << shift;
        long p1 = mPlus.f() >>> shift; // fits 32 bits
        long p2 = mPlus.f() & (one - 1);
        int length = 0;

        long pow10 = 1;
        int n = 1;
        while (n < 10 && p1 >= pow10 * 10) {
            pow10 *= 10;
            n++;
        }
        while (n > 0) {
            long d = p1 / pow10;
            long r = p1 % pow10;
            buffer[length++] = (char) ('0' + d);
            p1 = r;
            n--;
            long rest = (p1 << shift) + p2;
            if (Long.compareUnsigned(rest, delta) <= 0) {
                round(buffer, length, dist, delta, rest, pow10 << shift);
                return new int[] {length, decimalExponent + n};
            }
            pow10 /= 10;
        }
        int m = 0;
        while (true) {
            p2 *= 10;
            long d = p2 >>> shift;
            long r = p2 & (one - 1);
            buffer[length++] = (char) ('0' + d);
            p2 = r;
            m++;
            delta *= 10;
            dist *= 10;
            if (Long.compareUnsigned(p2, delta) <= 0) break;
        }
        round(buffer, length, dist, delta, p2, one);
        return new int[] {length, decimalExponent - m};
    }

    private static void round(char[] buf, int len, long dist, long delta, long rest, long tenK) {
        while (Long.compareUnsigned(rest, dist) < 0
                && Long.compareUnsigned(delta - rest, tenK) >= 0
                && (Long.compareUnsigned(rest + tenK, dist) < 0 || Long.compareUnsigned(dist - rest, rest + tenK - dist) > 0)) {
            buf[len - 1]--;
            rest += tenK;
        }
    }

    /** nlohmann's {@code format_buffer}: fixed-point for {@code 10^minExp <= v < 10^maxExp}, else {@code d.ddde+XX}. */
    private static void formatBuffer(char[] buf, int len, int decimalExponent, int minExp, int maxExp, StringBuilder out) {
        int k = len;
        int n = len + decimalExponent;
        if (k <= n && n <= maxExp) {
            out.append(buf, 0, k).repeat('0', n - k).append(".0");
        } else if (0 < n && n <= maxExp) {
            out.append(buf, 0, n).append('.').append(buf, n, k - n);
        } else if (minExp < n && n <= 0) {
            out.append("0.").repeat('0', -n).append(buf, 0, k);
        } else {
            out.append(buf[0]);
            if (k > 1) out.append('.').append(buf, 1, k - 1);
            int e = n - 1;
            out.append('e').append(e < 0 ? '-' : '+');
            int a = Math.abs(e);
            if (a < 10) out.append('0');
            out.append(a);
        }
    }
}
