#include "llamajava.h"
#include "llama.h"

#include <math.h>

bool llamajava_abort_flag_callback(void * data) {
    return data != 0 && __atomic_load_n((const int *) data, __ATOMIC_ACQUIRE) != 0;
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
//   maximum reaches the floor are read again, and only their logits at or above it are offered to a min-heap of k;
// - a heap of k over every logit (few blocks, k above the number of blocks, or fewer than k numbers in the row).
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

// each whole block's largest logit (NaN skipped: max(x, acc) keeps acc when x is NaN; a block of NaN gives -inf)
__attribute__((target("avx2")))
static void block_max_avx2(const float * logits, int32_t blocks, float * out) {
    for (int32_t b = 0; b < blocks; b++) {
        const float * p = logits + (size_t) b * TOPK_BLOCK;
        __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
        for (int32_t j = 0; j < TOPK_BLOCK; j += 32) {
            m0 = _mm256_max_ps(_mm256_loadu_ps(p + j), m0);
            m1 = _mm256_max_ps(_mm256_loadu_ps(p + j + 8), m1);
            m2 = _mm256_max_ps(_mm256_loadu_ps(p + j + 16), m2);
            m3 = _mm256_max_ps(_mm256_loadu_ps(p + j + 24), m3);
        }
        out[b] = hmax8(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
    }
}

// the logits of one block at or above the floor, offered in index order
__attribute__((target("avx2")))
static void block_offer_avx2(const float * logits, int32_t from, int32_t to, float floor_, llama_token_data * h, int32_t k) {
    __m256 thr = _mm256_set1_ps(floor_);
    for (int32_t j = from; j < to; j += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(logits + j), thr, _CMP_GE_OQ));
        while (mask != 0) {
            int bit = __builtin_ctz((unsigned) mask);
            heap_offer(h, k, j + bit, logits[j + bit]);
            mask &= mask - 1;
        }
    }
}

// false when the blocks do not apply (too few or too many blocks; fewer than k numbers): then h is left for the heap
__attribute__((target("avx2")))
static bool top_k_blocks_avx2(const float * logits, int32_t n, int32_t k, llama_token_data * h) {
    int32_t blocks = n / TOPK_BLOCK;
    if (blocks < 2 * k || blocks > TOPK_MAX_BLOCKS) return false;
    float maxima[TOPK_MAX_BLOCKS];
    block_max_avx2(logits, blocks, maxima);
    // the k-th largest maximum: a min-heap of k floats
    float sel[TOPK_MAX_BLOCKS / 2]; // k <= blocks / 2
    sel[0] = -INFINITY;
    for (int32_t b = 0; b < k; b++) sel[b] = maxima[b];
    for (int32_t b = k / 2 - 1; b >= 0; b--) {
        for (int32_t i = b;;) {
            int32_t l = 2 * i + 1, r = l + 1, m = i;
            if (l < k && sel[l] < sel[m]) m = l;
            if (r < k && sel[r] < sel[m]) m = r;
            if (m == i) break;
            float t = sel[i]; sel[i] = sel[m]; sel[m] = t;
            i = m;
        }
    }
    for (int32_t b = k; b < blocks; b++) {
        if (!(maxima[b] > sel[0])) continue;
        sel[0] = maxima[b];
        for (int32_t i = 0;;) {
            int32_t l = 2 * i + 1, r = l + 1, m = i;
            if (l < k && sel[l] < sel[m]) m = l;
            if (r < k && sel[r] < sel[m]) m = r;
            if (m == i) break;
            float t = sel[i]; sel[i] = sel[m]; sel[m] = t;
            i = m;
        }
    }
    float floor_ = sel[0];
    // the tail (under one block) is read as it comes
    heap_reset(h, k);
    for (int32_t b = 0; b < blocks; b++) {
        if (maxima[b] >= floor_) block_offer_avx2(logits, b * TOPK_BLOCK, (b + 1) * TOPK_BLOCK, floor_, h, k);
    }
    for (int32_t i = blocks * TOPK_BLOCK; i < n; i++) {
        if (logits[i] >= floor_) heap_offer(h, k, i, logits[i]);
    }
    // fewer than k numbers at or above the floor can only mean NaN: the heap's way decides then
    return heap_full(h, k);
}
#endif

static void top_k(const float * logits, int32_t n, int32_t k, llama_token_data * h) {
    bool done = false;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2")) {
        done = top_k_blocks_avx2(logits, n, k, h);
        if (!done) {
            heap_reset(h, k);
            int32_t i = top_k_scan_avx2(logits, 0, n, h, k);
            for (; i < n; i++) heap_offer(h, k, i, logits[i]);
            // the vector test skips -inf: when -inf is among the k, the scalar pass decides which
            done = heap_full(h, k) && h[0].logit > -INFINITY;
        }
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
    return 7;
}
