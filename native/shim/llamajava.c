#include "llamajava.h"
#include "llama.h"
#include "ggml.h"
#include "ggml-backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool llamajava_abort_flag_callback(void * data) {
    return data != 0 && __atomic_load_n((const int *) data, __ATOMIC_ACQUIRE) != 0;
}

bool llamajava_abort_poll_callback(void * data) {
    llamajava_abort_poll * p = (llamajava_abort_poll *) data;
    if (p == 0) return false;
    if (__atomic_load_n(&p->flag, __ATOMIC_ACQUIRE) != 0) return true;
    if (p->check == 0) return false;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    int64_t now = (int64_t) t.tv_sec * 1000000000LL + t.tv_nsec;
    if (now < p->next_ns) return false;
    p->next_ns = now + p->interval_ns;
    return ((bool (*)(void *)) p->check)(data);
}

static int32_t argmax_scalar(const float * values, int32_t n) {
    int32_t best = 0;
    float max = values[0];
    for (int32_t i = 1; i < n; i++) {
        if (values[i] > max) {
            max = values[i];
            best = i;
        }
    }
    return best;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

// One pass, 8 lanes wide, in blocks of 1,024 floats (4 KB): each block's largest value is compared with the largest so
// far, and only the first block that holds the overall largest is scanned again, from L1, for the first index holding
// it; 128K logits are read once. NaN is skipped as the scalar loop skips it (max(x, acc) keeps acc when x is NaN), so
// ties and the result are exactly those of the scalar loop, NaN included (a NaN first value: the scalar loop's 0).
#define ARGMAX_BLOCK 1024

__attribute__((target("avx2")))
static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

__attribute__((target("avx2")))
static int32_t argmax_avx2(const float * values, int32_t n) {
    if (n < 64 || values[0] != values[0]) return argmax_scalar(values, n);
    float max = values[0];
    int32_t block = -1;
    int32_t i = 0;
    for (; i + ARGMAX_BLOCK <= n; i += ARGMAX_BLOCK) {
        const float * p = values + i;
        __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
        for (int32_t j = 0; j < ARGMAX_BLOCK; j += 32) {
            m0 = _mm256_max_ps(_mm256_loadu_ps(p + j), m0);
            m1 = _mm256_max_ps(_mm256_loadu_ps(p + j + 8), m1);
            m2 = _mm256_max_ps(_mm256_loadu_ps(p + j + 16), m2);
            m3 = _mm256_max_ps(_mm256_loadu_ps(p + j + 24), m3);
        }
        float bm = hmax8(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
        if (bm > max || block < 0) { max = bm; block = i; }
    }
    // the last partial block, scalar: the first index of a larger value (or, with no whole block, of the largest)
    int32_t tail_best = block < 0 ? 0 : -1;
    for (int32_t t = i; t < n; t++) {
        if (values[t] > max) { max = values[t]; tail_best = t; }
    }
    if (tail_best >= 0) return tail_best;
    int32_t end = block + ARGMAX_BLOCK < n ? block + ARGMAX_BLOCK : n;
    __m256 target = _mm256_set1_ps(max);
    for (i = block; i + 8 <= end; i += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(values + i), target, _CMP_EQ_OQ));
        if (mask != 0) return i + __builtin_ctz((unsigned) mask);
    }
    for (; i < end; i++) if (values[i] == max) return i;
    return argmax_scalar(values, n);
}

int32_t llamajava_argmax(const float * values, int32_t n) {
    static int avx2 = -1;
    if (avx2 < 0) avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
    return avx2 ? argmax_avx2(values, n) : argmax_scalar(values, n);
}
#else
int32_t llamajava_argmax(const float * values, int32_t n) {
    return argmax_scalar(values, n);
}
#endif

int32_t llamajava_argmax_ith(void * ctx, int32_t idx, int32_t n_vocab) {
    const float * logits = llama_get_logits_ith((struct llama_context *) ctx, idx);
    if (logits == NULL || n_vocab < 1) return -1;
    return llamajava_argmax(logits, n_vocab);
}

// The k largest logits (k <= n), largest first, ties to the lower id, into buf. Candidates are ordered by logit, then
// by id (the lower id is the larger), so the result does not depend on the order logits are offered in. NaN never
// enters. Two ways:
// - blocks (large vocabularies): the largest logit of each block of 256 in one vectorised pass, the k-th largest of
//   those maxima as a floor (at least k logits reach it, so every one of the k largest does), then only the blocks whose
//   maximum reaches the floor are read again, their logits at or above it collected, and each collected one placed by
//   its rank among them, counted 8 at a time;
// - a short row (up to 2,048 logits, too few blocks): every logit is a key, the k-th largest key is the floor, and the
//   logits at or above it are ranked the same way;
// - a heap of k over every logit (between the two, k above 512, more than 512 logits at the floor, or fewer than k
//   numbers in the row).
static inline bool token_less(float la, int32_t ia, float lb, int32_t ib) {
    return la < lb || (la == lb && ia > ib);
}

static void heap_sift(llama_token_data * h, int32_t k, int32_t i) {
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < k && token_less(h[l].logit, h[l].id, h[m].logit, h[m].id)) m = l;
        if (r < k && token_less(h[r].logit, h[r].id, h[m].logit, h[m].id)) m = r;
        if (m == i) return;
        llama_token_data t = h[i]; h[i] = h[m]; h[m] = t;
        i = m;
    }
}

static inline void heap_offer(llama_token_data * h, int32_t k, int32_t id, float v) {
    if (token_less(h[0].logit, h[0].id, v, id)) {
        h[0].id = id;
        h[0].logit = v;
        heap_sift(h, k, 0);
    }
}

// largest first, ties by id (insertion sort: k is small)
static void sort_candidates(llama_token_data * h, int32_t k) {
    for (int32_t a = 1; a < k; a++) {
        llama_token_data t = h[a];
        int32_t b = a - 1;
        while (b >= 0 && token_less(h[b].logit, h[b].id, t.logit, t.id)) {
            h[b + 1] = h[b];
            b--;
        }
        h[b + 1] = t;
    }
}

static void heap_reset(llama_token_data * h, int32_t k) {
    for (int32_t i = 0; i < k; i++) {
        h[i].id = INT32_MAX; // below every token, so the first k offered fill the heap
        h[i].logit = -INFINITY;
        h[i].p = 0.0f;
    }
}

static inline bool heap_full(const llama_token_data * h, int32_t k) {
    for (int32_t i = 0; i < k; i++) {
        if (h[i].id == INT32_MAX) return false;
    }
    return true;
}

#define TOPK_BLOCK 256
#define TOPK_MAX_BLOCKS 4096

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2")))
static int32_t top_k_scan_avx2(const float * logits, int32_t i, int32_t n, llama_token_data * h, int32_t k) {
    // the heap's smallest stays in a register and is reloaded only after offers; 32 logits are tested per branch
    __m256 thr = _mm256_set1_ps(h[0].logit);
    for (; i + 32 <= n; i += 32) {
        __m256 a = _mm256_cmp_ps(_mm256_loadu_ps(logits + i), thr, _CMP_GT_OQ);
        __m256 b = _mm256_cmp_ps(_mm256_loadu_ps(logits + i + 8), thr, _CMP_GT_OQ);
        __m256 c = _mm256_cmp_ps(_mm256_loadu_ps(logits + i + 16), thr, _CMP_GT_OQ);
        __m256 d = _mm256_cmp_ps(_mm256_loadu_ps(logits + i + 24), thr, _CMP_GT_OQ);
        if (_mm256_movemask_ps(_mm256_or_ps(_mm256_or_ps(a, b), _mm256_or_ps(c, d))) == 0) continue;
        for (int32_t j = i; j < i + 32; j += 8) {
            int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(logits + j), thr, _CMP_GT_OQ));
            while (mask != 0) {
                int bit = __builtin_ctz((unsigned) mask);
                heap_offer(h, k, j + bit, logits[j + bit]);
                mask &= mask - 1;
            }
            thr = _mm256_set1_ps(h[0].logit);
        }
    }
    return i;
}

// A float's bits as an int that orders as the float does (-0 just below +0; NaN is never a key here: a block's maximum
// skips NaN, and a block of NaN gives -inf).
static inline int32_t float_key(float f) {
    int32_t b;
    memcpy(&b, &f, sizeof b);
    return b ^ ((b >> 31) & 0x7FFFFFFF);
}

static inline float key_float(int32_t key) {
    int32_t b = key ^ ((key >> 31) & 0x7FFFFFFF);
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

// each whole block's largest logit, as a key (NaN skipped: max(x, acc) keeps acc when x is NaN)
__attribute__((target("avx2")))
static void block_keys_avx2(const float * logits, int32_t blocks, int32_t * out) {
    for (int32_t b = 0; b < blocks; b++) {
        const float * p = logits + (size_t) b * TOPK_BLOCK;
        __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
        for (int32_t j = 0; j < TOPK_BLOCK; j += 32) {
            m0 = _mm256_max_ps(_mm256_loadu_ps(p + j), m0);
            m1 = _mm256_max_ps(_mm256_loadu_ps(p + j + 8), m1);
            m2 = _mm256_max_ps(_mm256_loadu_ps(p + j + 16), m2);
            m3 = _mm256_max_ps(_mm256_loadu_ps(p + j + 24), m3);
        }
        out[b] = float_key(hmax8(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3))));
    }
}

// how many of the keys (whole vectors, padded with INT32_MIN) are at or above t, for t above INT32_MIN: the lanes
// below t counted in vector accumulators (a true comparison is -1), so no add waits on the one before
__attribute__((target("avx2")))
static int32_t keys_at_least(const int32_t * keys, int32_t vectors, int32_t t) {
    __m256i tv = _mm256_set1_epi32(t);
    __m256i a0 = _mm256_setzero_si256(), a1 = a0;
    int32_t v = 0;
    for (; v + 2 <= vectors; v += 2) {
        a0 = _mm256_add_epi32(a0, _mm256_cmpgt_epi32(tv, _mm256_loadu_si256((const __m256i *) (keys + 8 * v))));
        a1 = _mm256_add_epi32(a1, _mm256_cmpgt_epi32(tv, _mm256_loadu_si256((const __m256i *) (keys + 8 * v + 8))));
    }
    if (v < vectors) a0 = _mm256_add_epi32(a0, _mm256_cmpgt_epi32(tv, _mm256_loadu_si256((const __m256i *) (keys + 8 * v))));
    __m256i a = _mm256_add_epi32(a0, a1);
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return vectors * 8 + _mm_cvtsi128_si32(s);
}

// The most logits at or above the floor that are ranked; past it (ties, infinities) the heap's way decides.
#define TOPK_RANKED_MAX 512
// The largest row whose logits are all keys (below 2k blocks of 256): past it the heap costs less than the bisection.
#define TOPK_SMALL_MAX 2048

// The floor: the largest key with at least k of the keys at or above it, i.e. the k-th largest key, found by bisection
// from the smallest key (which always qualifies). keys has room for count rounded up to 8; the rest is padded here.
__attribute__((target("avx2")))
static int32_t kth_largest_key(int32_t * keys, int32_t count, int32_t k) {
    int32_t vectors = (count + 7) / 8;
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (int32_t b = 0; b < count; b++) {
        lo = keys[b] < lo ? keys[b] : lo;
        hi = keys[b] > hi ? keys[b] : hi;
    }
    for (int32_t b = count; b < vectors * 8; b++) keys[b] = INT32_MIN;
    while (lo < hi) {
        int32_t mid = (int32_t) (((int64_t) lo + hi + 1) >> 1);
        if (keys_at_least(keys, vectors, mid) >= k) lo = mid; else hi = mid - 1;
    }
    return lo;
}

// Appends the logits in [from, to) (to - from a multiple of 32) at or above thr to values/ids; false past
// TOPK_RANKED_MAX. NaN never: the comparison is ordered.
__attribute__((target("avx2")))
static bool collect_avx2(const float * logits, int32_t from, int32_t to, __m256 thr, float * values, int32_t * ids,
                         int32_t * m) {
    // 32 logits per test; most groups hold none at the floor
    for (int32_t j = from; j < to; j += 32) {
        __m256 c0 = _mm256_cmp_ps(_mm256_loadu_ps(logits + j), thr, _CMP_GE_OQ);
        __m256 c1 = _mm256_cmp_ps(_mm256_loadu_ps(logits + j + 8), thr, _CMP_GE_OQ);
        __m256 c2 = _mm256_cmp_ps(_mm256_loadu_ps(logits + j + 16), thr, _CMP_GE_OQ);
        __m256 c3 = _mm256_cmp_ps(_mm256_loadu_ps(logits + j + 24), thr, _CMP_GE_OQ);
        if (_mm256_movemask_ps(_mm256_or_ps(_mm256_or_ps(c0, c1), _mm256_or_ps(c2, c3))) == 0) continue;
        uint32_t mask = (uint32_t) _mm256_movemask_ps(c0) | (uint32_t) _mm256_movemask_ps(c1) << 8
                        | (uint32_t) _mm256_movemask_ps(c2) << 16 | (uint32_t) _mm256_movemask_ps(c3) << 24;
        while (mask != 0) {
            int bit = __builtin_ctz(mask);
            if (*m == TOPK_RANKED_MAX) return false;
            ids[*m] = j + bit;
            values[(*m)++] = logits[j + bit];
            mask &= mask - 1;
        }
    }
    return true;
}

// Places the k best of the m >= k collected candidates in h, largest first, ties by id: each candidate's rank is
// counted (how many beat it: a larger logit, or the same logit and a lower id), 8 at a time. The order is strict, so
// the ranks are 0..m-1 once each. values and ids have room for m rounded up to 8; the rest is padded here.
__attribute__((target("avx2,popcnt")))
static void rank_into(float * values, int32_t * ids, int32_t m, int32_t k, llama_token_data * h) {
    // padding that beats no candidate
    int32_t mv = (m + 7) / 8;
    for (int32_t i = m; i < mv * 8; i++) {
        values[i] = -INFINITY;
        ids[i] = INT32_MAX;
    }
    for (int32_t i = 0; i < m; i++) {
        __m256 li = _mm256_set1_ps(values[i]);
        __m256i ii = _mm256_set1_epi32(ids[i]);
        int32_t rank = 0;
        for (int32_t v = 0; v < mv; v++) {
            __m256 lj = _mm256_loadu_ps(values + 8 * v);
            __m256i ij = _mm256_loadu_si256((const __m256i *) (ids + 8 * v));
            __m256 gt = _mm256_cmp_ps(lj, li, _CMP_GT_OQ);
            __m256 tie = _mm256_and_ps(_mm256_cmp_ps(lj, li, _CMP_EQ_OQ), _mm256_castsi256_ps(_mm256_cmpgt_epi32(ii, ij)));
            rank += __builtin_popcount((unsigned) _mm256_movemask_ps(_mm256_or_ps(gt, tie)));
        }
        if (rank < k) {
            h[rank].id = ids[i];
            h[rank].logit = values[i];
            h[rank].p = 0.0f;
        }
    }
}

// The end of both ranked ways: the logits in [from, n) at or above the floor collected one by one, then the k best of
// the m candidates ranked into h; false past TOPK_RANKED_MAX candidates or with fewer than k (a floor of -inf from a
// block of NaN alone, or NaN's key as the floor of a short row: not reached k times), where the heap decides.
__attribute__((target("avx2,popcnt")))
static bool rank_with_tail(const float * logits, int32_t from, int32_t n, int32_t k, float floor_, float * values,
                           int32_t * ids, int32_t m, llama_token_data * h) {
    for (int32_t i = from; i < n; i++) {
        if (!(logits[i] >= floor_)) continue;
        if (m == TOPK_RANKED_MAX) return false;
        ids[m] = i;
        values[m++] = logits[i];
    }
    if (m < k) return false;
    rank_into(values, ids, m, k, h);
    return true;
}

// false when the blocks do not apply (too few or too many blocks, k or the logits at or above the floor past
// TOPK_RANKED_MAX): then h is left for the heap. Every step but the collection is free of data-dependent branches,
// so its time does not depend on how the logits fall (a heap's sifts mispredict most when the logits change).
__attribute__((target("avx2")))
static bool top_k_blocks_avx2(const float * logits, int32_t n, int32_t k, llama_token_data * h) {
    int32_t blocks = n / TOPK_BLOCK;
    if (blocks < 2 * k || blocks > TOPK_MAX_BLOCKS || k > TOPK_RANKED_MAX) return false;
    int32_t keys[TOPK_MAX_BLOCKS + 8];
    block_keys_avx2(logits, blocks, keys);
    // the k-th largest block maximum: at least k logits reach it, so every one of the k largest does
    int32_t lo = kth_largest_key(keys, blocks, k);
    float floor_ = key_float(lo);
    float values[TOPK_RANKED_MAX + 8];
    int32_t ids[TOPK_RANKED_MAX + 8];
    int32_t m = 0;
    __m256 thr = _mm256_set1_ps(floor_);
    // the blocks whose maximum reaches the floor as floats (a maximum that reads -0 reaches a floor of +0), 8 at a time
    __m256i reach = _mm256_set1_epi32(floor_ == 0.0f ? float_key(-0.0f) - 1 : lo - 1);
    int32_t vectors = (blocks + 7) / 8;
    for (int32_t v = 0; v < vectors; v++) {
        int bmask = _mm256_movemask_ps(_mm256_castsi256_ps(
                _mm256_cmpgt_epi32(_mm256_loadu_si256((const __m256i *) (keys + 8 * v)), reach)));
        while (bmask != 0) {
            int32_t b = 8 * v + __builtin_ctz((unsigned) bmask);
            bmask &= bmask - 1;
            if (!collect_avx2(logits, b * TOPK_BLOCK, (b + 1) * TOPK_BLOCK, thr, values, ids, &m)) return false;
        }
    }
    return rank_with_tail(logits, blocks * TOPK_BLOCK, n, k, floor_, values, ids, m, h);
}

// The same for a short row (up to TOPK_SMALL_MAX logits): every logit is a key (NaN the smallest, never reached),
// the floor is the k-th largest logit itself, and the logits at or above it are ranked. false past TOPK_RANKED_MAX
// candidates (ties) or with fewer than k numbers: then the heap decides.
__attribute__((target("avx2")))
static bool top_k_small_avx2(const float * logits, int32_t n, int32_t k, llama_token_data * h) {
    if (n > TOPK_SMALL_MAX || k > TOPK_RANKED_MAX) return false;
    int32_t keys[TOPK_SMALL_MAX + 8];
    const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF);
    const __m256i nan_key = _mm256_set1_epi32(INT32_MIN);
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(logits + i);
        __m256i b = _mm256_castps_si256(x);
        __m256i key = _mm256_xor_si256(b, _mm256_and_si256(_mm256_srai_epi32(b, 31), abs_mask));
        key = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(key), _mm256_castsi256_ps(nan_key),
                                                   _mm256_cmp_ps(x, x, _CMP_UNORD_Q)));
        _mm256_storeu_si256((__m256i *) (keys + i), key);
    }
    for (; i < n; i++) keys[i] = logits[i] != logits[i] ? INT32_MIN : float_key(logits[i]);
    float floor_ = key_float(kth_largest_key(keys, n, k));
    float values[TOPK_RANKED_MAX + 8];
    int32_t ids[TOPK_RANKED_MAX + 8];
    int32_t m = 0;
    int32_t whole = n / 32 * 32;
    if (!collect_avx2(logits, 0, whole, _mm256_set1_ps(floor_), values, ids, &m)) return false;
    return rank_with_tail(logits, whole, n, k, floor_, values, ids, m, h);
}
#endif

static void top_k(const float * logits, int32_t n, int32_t k, llama_token_data * h) {
    bool done = false;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2")) {
        // ranked, so already in order
        if (top_k_blocks_avx2(logits, n, k, h) || top_k_small_avx2(logits, n, k, h)) return;
        heap_reset(h, k);
        int32_t i = top_k_scan_avx2(logits, 0, n, h, k);
        for (; i < n; i++) heap_offer(h, k, i, logits[i]);
        // the vector test skips -inf: when -inf is among the k, the scalar pass decides which
        done = heap_full(h, k) && h[0].logit > -INFINITY;
    }
#endif
    if (!done) {
        heap_reset(h, k);
        for (int32_t i = 0; i < n; i++) heap_offer(h, k, i, logits[i]);
        // fewer than k numbers: NaN fills the rest, as -inf, lowest ids first
        for (int32_t i = 0, j = 0; i < n && j < k; i++) {
            if (logits[i] == logits[i]) continue;
            while (j < k && h[j].id != INT32_MAX) j++;
            if (j < k) {
                h[j].id = i;
                h[j].logit = -INFINITY;
            }
        }
    }
    sort_candidates(h, k);
}

int32_t llamajava_top_k(const float * logits, int32_t n, int32_t k, void * buf) {
    if (logits == NULL || buf == NULL || n < 1 || k < 1 || k > n) return -2;
    top_k(logits, n, k, (llama_token_data *) buf);
    return k;
}

int32_t llamajava_sample_top_k(void * chain, void * ctx, int32_t idx, int32_t k, void * buf, int32_t n_vocab) {
    const float * logits = llama_get_logits_ith((struct llama_context *) ctx, idx);
    if (logits == NULL) return -1;
    if (k < 1 || k > n_vocab) return -2;
    llama_token_data * h = (llama_token_data *) buf;
    top_k(logits, n_vocab, k, h);
    llama_token_data_array cur = { h, (size_t) k, -1, true };
    llama_sampler_apply((struct llama_sampler *) chain, &cur);
    if (cur.selected < 0 || cur.selected >= (int64_t) cur.size) return -2;
    llama_token id = cur.data[cur.selected].id;
    llama_sampler_accept((struct llama_sampler *) chain, id);
    return id;
}

// llama.cpp's top-p, min-p (min_keep 1) and temperature on candidates sorted largest first, as its samplers apply them
// to a sorted array (llama-sampler.cpp: llama_sampler_softmax_impl, the top-p and min-p samplers' sorted paths,
// llama_sampler_temp_impl), in the same float operations and order; returns how many candidates remain.
static size_t top_p_min_p_temp(llama_token_data * h, size_t size, float top_p, float min_p, float temp) {
    if (top_p < 1.0f) {
        float max_l = h[0].logit;
        float cum_sum = 0.0f;
        for (size_t i = 0; i < size; i++) {
            float p = expf(h[i].logit - max_l);
            h[i].p = p;
            cum_sum += p;
        }
        for (size_t i = 0; i < size; i++) h[i].p /= cum_sum;
        float run = 0.0f;
        size_t last = size;
        for (size_t i = 0; i < size; i++) {
            run += h[i].p;
            if (run >= top_p && i + 1 >= 1) {
                last = i + 1;
                break;
            }
        }
        size = last;
    }
    if (min_p > 0.0f && size > 0) {
        const float min_logit = h[0].logit + logf(min_p);
        size_t i = 1;
        for (; i < size; i++) {
            if (h[i].logit < min_logit && i >= 1) break;
        }
        size = i;
    }
    if (size == 0) return size;
    if (temp <= 0.0f) {
        size_t max_i = 0;
        float max_l = h[0].logit;
        for (size_t i = 1; i < size; i++) {
            if (h[i].logit > max_l) {
                h[max_i].logit = -INFINITY;
                max_i = i;
                max_l = h[i].logit;
            } else {
                h[i].logit = -INFINITY;
            }
        }
        return size;
    }
    for (size_t i = 0; i < size; i++) h[i].logit /= temp;
    return size;
}

// The default chain after its top-k: top-p, min-p and temperature on the k candidates h (sorted, largest first), then
// dist's draw. Returns the token, or -1 when nothing was drawn.
static int32_t draw_default(llama_token_data * h, int32_t k, float top_p, float min_p, float temp, struct llama_sampler * dist) {
    size_t size = top_p_min_p_temp(h, (size_t) k, top_p, min_p, temp);
    llama_token_data_array cur = { h, size, -1, true };
    llama_sampler_apply(dist, &cur);
    return cur.selected >= 0 && cur.selected < (int64_t) cur.size ? cur.data[cur.selected].id : -1;
}

int32_t llamajava_sample_default_chain(void * chain, void * dist, void * ctx, int32_t idx, int32_t k, float top_p,
                                       float min_p, float temp, void * buf, int32_t n_vocab) {
    const float * logits = llama_get_logits_ith((struct llama_context *) ctx, idx);
    if (logits == NULL) return -1;
    if (k < 1 || k > n_vocab) return -2;
    llama_token_data * h = (llama_token_data *) buf;
    top_k(logits, n_vocab, k, h);
    int32_t id = draw_default(h, k, top_p, min_p, temp, (struct llama_sampler *) dist);
    if (id < 0) return -2;
    llama_sampler_accept((struct llama_sampler *) chain, id);
    return id;
}

// The k best of n candidates into h, sorted as top_k sorts them (largest first, ties to the lower id).
static void top_k_of(const llama_token_data * c, size_t n, int32_t k, llama_token_data * h) {
    heap_reset(h, k);
    for (size_t i = 0; i < n; i++) heap_offer(h, k, c[i].id, c[i].logit);
    sort_candidates(h, k);
}

// ---- choosing the token inside llama.cpp's graph on the CPU backend ----
//
// llama.cpp's own graph samplers (backend sampling) read the logits through a padded copy (build_sampling's ggml_pad,
// a scalar loop) and its argmax op is scalar and single-threaded: on a CPU they cost more than they save. This sampler
// adds two ggml custom ops after the output layer instead: every compute thread takes one slice of the logits row, right
// where the matrix product left it, and finds its largest logit (greedy) or its k largest (sampled); then one thread
// merges the slices' results and picks the token. The 0.5 MB row is not copied out of the graph nor read again.

#define GRAPH_PARTS 16
#define GRAPH_MIN_SLICE 8192

struct graph_sampler {
    int32_t max_k;          // the largest k it can be set to (sizes the slices' results)
    int32_t k;              // 0: greedy
    float top_p, min_p, temp;
    struct llama_sampler * dist; // the draw (sampled only)
    llama_token_data * merged;   // max_k candidates
    int64_t t0;             // when the first op started (thread 0)
    int64_t ns;             // time from the first op's start to the token, summed
    int32_t last;           // the token picked in the last decode with a row for the sequence, else -1
};

static int64_t mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t) t.tv_sec * 1000000000 + t.tv_nsec;
}

// how many slices a row of n logits is cut into with nth threads: each at least GRAPH_MIN_SLICE and k logits long
static int32_t graph_parts(int64_t n, int nth, int32_t k) {
    int64_t min_slice = k > GRAPH_MIN_SLICE ? k : GRAPH_MIN_SLICE;
    int64_t parts = n / min_slice;
    if (parts > nth) parts = nth;
    if (parts > GRAPH_PARTS) parts = GRAPH_PARTS;
    return parts < 1 ? 1 : (int32_t) parts;
}

// first op: the slices' results into dst (int32: the slice count, then GRAPH_PARTS times k llama_token_data)
static void graph_slices(struct ggml_tensor * dst, int ith, int nth, void * userdata) {
    struct graph_sampler * s = (struct graph_sampler *) userdata;
    const struct ggml_tensor * src = dst->src[0];
    const float * x = (const float *) src->data;
    const int32_t n = (int32_t) src->ne[0];
    const int32_t k = s->k == 0 ? 1 : (s->k < n ? s->k : n);
    const int32_t parts = graph_parts(n, nth, k);
    int32_t * out = (int32_t *) dst->data;
    if (ith == 0) {
        s->t0 = mono_ns();
        out[0] = parts;
    }
    if (ith >= parts) return;
    const int32_t from = (int32_t) ((int64_t) n * ith / parts);
    const int32_t to = (int32_t) ((int64_t) n * (ith + 1) / parts);
    llama_token_data * h = (llama_token_data *) (out + 1) + (size_t) ith * k;
    if (s->k == 0) {
        int32_t i = from + llamajava_argmax(x + from, to - from);
        h[0].id = i;
        h[0].logit = x[i];
        h[0].p = 0.0f;
    } else {
        top_k(x + from, to - from, k, h);
        for (int32_t j = 0; j < k; j++) h[j].id += from;
    }
}

// second op: thread 0 merges the slices and picks the token (int32 dst of one element); ggml's CPU backend calls a
// custom op on every thread whatever its task count, so the others return
static void graph_pick(struct ggml_tensor * dst, int ith, int nth, void * userdata) {
    (void) nth;
    if (ith != 0) return;
    struct graph_sampler * s = (struct graph_sampler *) userdata;
    const int32_t * in = (const int32_t *) dst->src[0]->data;
    const int32_t n = (int32_t) dst->src[0]->src[0]->ne[0];
    const int32_t parts = in[0];
    const llama_token_data * c = (const llama_token_data *) (in + 1);
    int32_t id;
    if (s->k == 0) {
        // slices in order, so the first of equal maxima wins, as one pass over the row would pick it
        int32_t best = 0;
        for (int32_t p = 1; p < parts; p++) {
            if (c[p].logit > c[best].logit) best = p;
        }
        id = c[best].id;
    } else {
        const int32_t k = s->k < n ? s->k : n;
        top_k_of(c, (size_t) parts * k, k, s->merged);
        id = draw_default(s->merged, k, s->top_p, s->min_p, s->temp, s->dist);
    }
    *(int32_t *) dst->data = id;
    s->last = id;
    s->ns += mono_ns() - s->t0;
}

static const char * graph_sampler_name(const struct llama_sampler * smpl) {
    return ((const struct graph_sampler *) smpl->ctx)->k == 0 ? "llamajava-graph-greedy" : "llamajava-graph-chain";
}

// on the host (llama_sampler_sample, never called by llama-java): the same choice over the candidates given
static void graph_sampler_apply(struct llama_sampler * smpl, llama_token_data_array * cur_p) {
    struct graph_sampler * s = (struct graph_sampler *) smpl->ctx;
    if (cur_p->size == 0) return;
    const int32_t k = s->k == 0 ? 1 : (s->k < (int32_t) cur_p->size ? s->k : (int32_t) cur_p->size);
    top_k_of(cur_p->data, cur_p->size, k, s->merged);
    int32_t id = s->k == 0 ? s->merged[0].id : draw_default(s->merged, k, s->top_p, s->min_p, s->temp, s->dist);
    for (size_t i = 0; i < cur_p->size; i++) {
        if (cur_p->data[i].id == id) {
            cur_p->selected = (int64_t) i;
            return;
        }
    }
    cur_p->selected = -1;
}

// before each decode with an output row for the sequence: its pick is not made yet
static void graph_sampler_backend_set_input(struct llama_sampler * smpl) {
    ((struct graph_sampler *) smpl->ctx)->last = -1;
}

static void graph_sampler_free(struct llama_sampler * smpl) {
    struct graph_sampler * s = (struct graph_sampler *) smpl->ctx;
    if (s->dist != NULL) llama_sampler_free(s->dist);
    free(s->merged);
    free(s);
}

static bool graph_sampler_backend_init(struct llama_sampler * smpl, ggml_backend_buffer_type_t buft, uint32_t n_outputs_max_per_seq) {
    (void) smpl;
    (void) n_outputs_max_per_seq;
    // custom ops run on the CPU backend only
    return ggml_backend_buft_is_host(buft);
}

static void graph_sampler_backend_apply(struct llama_sampler * smpl, struct ggml_context * ctx, struct ggml_cgraph * gf,
                                        struct llama_sampler_data * data) {
    (void) gf;
    struct graph_sampler * s = (struct graph_sampler *) smpl->ctx;
    struct ggml_tensor * row = data->logits;
    // build_sampling hands a row of ggml_pad(t_logits); read the same row of t_logits itself, so the pad is never built
    struct ggml_tensor * pad = row->view_src;
    if (pad != NULL && pad->op == GGML_OP_PAD && pad->src[0] != NULL && pad->src[0]->type == GGML_TYPE_F32
            && ggml_is_contiguous(pad->src[0]) && pad->src[0]->ne[0] == row->ne[0]) {
        struct ggml_tensor * t = pad->src[0];
        int64_t r = (int64_t) (row->view_offs / pad->nb[1]);
        if (r < t->ne[1]) row = ggml_view_1d(ctx, t, t->ne[0], (size_t) r * t->nb[1]);
    }
    // sized for max_k, so the graph stays the same whatever the chain is set to between decodes
    const int64_t k = s->max_k;
    struct ggml_tensor * args[1] = { row };
    struct ggml_tensor * slices = ggml_custom_4d(ctx, GGML_TYPE_I32, 1 + GRAPH_PARTS * k * 3, 1, 1, 1, args, 1,
                                                 graph_slices, GGML_N_TASKS_MAX, s);
    ggml_set_name(slices, "llamajava_slices");
    args[0] = slices;
    struct ggml_tensor * pick = ggml_custom_4d(ctx, GGML_TYPE_I32, 1, 1, 1, 1, args, 1, graph_pick, 1, s);
    ggml_set_name(pick, "llamajava_pick");
    data->sampled = pick;
    data->logits = NULL;
    data->probs = NULL;
    data->candidates = NULL;
}

static struct llama_sampler_i graph_sampler_i = {
    /* .name              = */ graph_sampler_name,
    /* .accept            = */ NULL,
    /* .apply             = */ graph_sampler_apply,
    /* .reset             = */ NULL,
    /* .clone             = */ NULL,
    /* .free              = */ graph_sampler_free,
    /* .backend_init      = */ graph_sampler_backend_init,
    /* .backend_accept    = */ NULL,
    /* .backend_apply     = */ graph_sampler_backend_apply,
    /* .backend_set_input = */ graph_sampler_backend_set_input,
    /* .backend_reset     = */ NULL,
    /* .copy_state        = */ NULL,
};

void * llamajava_graph_sampler_init(int32_t max_k) {
    if (max_k < 1) return NULL;
    struct graph_sampler * s = (struct graph_sampler *) calloc(1, sizeof(struct graph_sampler));
    if (s == NULL) return NULL;
    s->max_k = max_k;
    s->last = -1;
    s->merged = (llama_token_data *) malloc(sizeof(llama_token_data) * (size_t) max_k);
    if (s->merged == NULL) {
        free(s);
        return NULL;
    }
    struct llama_sampler_chain_params p = llama_sampler_chain_default_params();
    p.no_perf = true;
    struct llama_sampler * chain = llama_sampler_chain_init(p);
    llama_sampler_chain_add(chain, llama_sampler_init(&graph_sampler_i, s));
    return chain;
}

static struct graph_sampler * graph_sampler_of(void * chain) {
    struct llama_sampler * c = (struct llama_sampler *) chain;
    if (c == NULL || llama_sampler_chain_n(c) < 1) return NULL;
    struct llama_sampler * smpl = llama_sampler_chain_get(c, 0);
    return smpl->iface == &graph_sampler_i ? (struct graph_sampler *) smpl->ctx : NULL;
}

int32_t llamajava_graph_sampler_set(void * chain, int32_t k, float top_p, float min_p, float temp, uint32_t seed) {
    struct graph_sampler * s = graph_sampler_of(chain);
    if (s == NULL) return -1;
    if (k < 0 || k > s->max_k) return -2;
    struct llama_sampler * dist = NULL;
    if (k > 0) {
        dist = llama_sampler_init_dist(seed);
        if (dist == NULL) return -3;
    }
    if (s->dist != NULL) llama_sampler_free(s->dist);
    s->dist = dist;
    s->k = k;
    s->top_p = top_p;
    s->min_p = min_p;
    s->temp = temp;
    s->last = -1;
    return 0;
}

int32_t llamajava_graph_sampler_last(void * chain) {
    struct graph_sampler * s = graph_sampler_of(chain);
    return s == NULL ? -2 : s->last;
}

int64_t llamajava_graph_sampler_ns(void * chain) {
    struct graph_sampler * s = graph_sampler_of(chain);
    return s == NULL ? -1 : s->ns;
}

static void fill_candidates(const float * logits, llama_token_data * buf, int32_t n, llama_token_data_array * cur) {
    for (int32_t i = 0; i < n; i++) {
        buf[i].id = i;
        buf[i].logit = logits[i];
        buf[i].p = 0.0f;
    }
    cur->data = buf;
    cur->size = (size_t) n;
    cur->selected = -1;
    cur->sorted = false;
}

// UTF-8 state between tokens: continuation bytes still expected (bits 0-1) and the allowed range of the next one
// (lo in bits 8-15, hi in bits 16-23), as a strict decoder sees it (no overlongs, surrogates or code points past
// U+10FFFF). Returns false, leaving *state alone, when the bytes would break the sequence.
static bool utf8_continue(int32_t * state, const unsigned char * p, int32_t n) {
    int32_t need = *state & 3, lo = (*state >> 8) & 0xFF, hi = (*state >> 16) & 0xFF;
    for (int32_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (need > 0) {
            if (c < lo || c > hi) return false;
            need--;
            lo = 0x80;
            hi = 0xBF;
            continue;
        }
        lo = 0x80;
        hi = 0xBF;
        if (c < 0x80) continue;
        if (c >= 0xC2 && c <= 0xDF) { need = 1; continue; }
        if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; continue; }
        if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; continue; }
        return false;
    }
    *state = need | (lo << 8) | (hi << 16);
    return true;
}

static bool token_keeps_utf8(const struct llama_vocab * vocab, llama_token id, int32_t * state) {
    char piece[256];
    int32_t n = llama_token_to_piece(vocab, id, piece, (int32_t) sizeof piece, 0, true);
    if (n < 0) return false;
    return utf8_continue(state, (const unsigned char *) piece, n);
}

// The most tokens refused for breaking UTF-8 in one step before giving up.
#define LLAMAJAVA_MAX_REFUSED 64

int32_t llamajava_sample_grammar(void * chain, void * grammar, void * ctx, int32_t idx, void * buf, int32_t n_vocab,
                                 const void * vocab, int32_t * utf8_state) {
    const float * logits = llama_get_logits_ith((struct llama_context *) ctx, idx);
    if (logits == NULL) return -1;
    llama_token_data_array cur;
    fill_candidates(logits, (llama_token_data *) buf, n_vocab, &cur);
    llama_sampler_apply((struct llama_sampler *) chain, &cur);
    if (cur.selected < 0 || (size_t) cur.selected >= cur.size) return -2;
    llama_token id = cur.data[cur.selected].id;
    llama_token_data one = { id, 1.0f, 0.0f };
    llama_token_data_array single = { &one, 1, -1, false };
    llama_sampler_apply((struct llama_sampler *) grammar, &single);
    int32_t state = utf8_state != NULL ? *utf8_state : 0;
    int32_t next = state;
    bool ok = !(isinf(single.data[0].logit) && single.data[0].logit < 0)
              && (utf8_state == NULL || token_keeps_utf8((const struct llama_vocab *) vocab, id, &next));
    llama_token refused[LLAMAJAVA_MAX_REFUSED];
    int32_t n_refused = 0;
    while (!ok) {
        // the grammar filters the whole vocabulary; tokens that would break UTF-8 (llama.cpp's grammar does not check
        // continuation bytes, so it admits byte sequences no decoder reads as the characters it counted) are removed too
        if (utf8_state != NULL && !(isinf(single.data[0].logit) && single.data[0].logit < 0)) {
            if (n_refused == LLAMAJAVA_MAX_REFUSED) return -3;
            refused[n_refused++] = id;
        }
        single.data[0].logit = 0.0f;
        fill_candidates(logits, (llama_token_data *) buf, n_vocab, &cur);
        for (int32_t r = 0; r < n_refused; r++) cur.data[refused[r]].logit = -INFINITY;
        llama_sampler_apply((struct llama_sampler *) grammar, &cur);
        llama_sampler_apply((struct llama_sampler *) chain, &cur);
        if (cur.selected < 0 || (size_t) cur.selected >= cur.size) return -2;
        // every candidate rejected: accepting one would throw inside llama.cpp's grammar
        if (isinf(cur.data[cur.selected].logit) && cur.data[cur.selected].logit < 0) return -3;
        id = cur.data[cur.selected].id;
        next = state;
        ok = utf8_state == NULL || token_keeps_utf8((const struct llama_vocab *) vocab, id, &next);
    }
    if (utf8_state != NULL) *utf8_state = next;
    llama_sampler_accept((struct llama_sampler *) grammar, id);
    llama_sampler_accept((struct llama_sampler *) chain, id);
    return id;
}

int llamajava_shim_version(void) {
    return 9;
}
