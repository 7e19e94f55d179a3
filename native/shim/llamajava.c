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

// Two passes, both 8 lanes wide: the largest value (NaN-free logits), then the first index holding it, so ties and
// the result are exactly those of the scalar loop. A NaN anywhere falls back to the scalar loop.
__attribute__((target("avx2")))
static int32_t argmax_avx2(const float * values, int32_t n) {
    if (n < 64) return argmax_scalar(values, n);
    __m256 m0 = _mm256_loadu_ps(values), m1 = m0, m2 = m0, m3 = m0;
    __m256 nan = _mm256_setzero_ps();
    int32_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 a = _mm256_loadu_ps(values + i), b = _mm256_loadu_ps(values + i + 8);
        __m256 c = _mm256_loadu_ps(values + i + 16), d = _mm256_loadu_ps(values + i + 24);
        nan = _mm256_or_ps(nan, _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_UNORD_Q), _mm256_cmp_ps(c, d, _CMP_UNORD_Q)));
        m0 = _mm256_max_ps(m0, a);
        m1 = _mm256_max_ps(m1, b);
        m2 = _mm256_max_ps(m2, c);
        m3 = _mm256_max_ps(m3, d);
    }
    if (_mm256_movemask_ps(nan) != 0) return argmax_scalar(values, n);
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
    float max = lanes[0];
    for (int k = 1; k < 8; k++) if (lanes[k] > max) max = lanes[k];
    for (; i < n; i++) {
        if (values[i] != values[i]) return argmax_scalar(values, n);
        if (values[i] > max) max = values[i];
    }
    __m256 target = _mm256_set1_ps(max);
    for (i = 0; i + 8 <= n; i += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(values + i), target, _CMP_EQ_OQ));
        if (mask != 0) return i + __builtin_ctz((unsigned) mask);
    }
    for (; i < n; i++) if (values[i] == max) return i;
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

int32_t llamajava_sample_grammar(void * chain, void * grammar, void * ctx, int32_t idx, void * buf, int32_t n_vocab) {
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
    if (isinf(single.data[0].logit) && single.data[0].logit < 0) {
        fill_candidates(logits, (llama_token_data *) buf, n_vocab, &cur);
        llama_sampler_apply((struct llama_sampler *) grammar, &cur);
        llama_sampler_apply((struct llama_sampler *) chain, &cur);
        if (cur.selected < 0 || (size_t) cur.selected >= cur.size) return -2;
        // every candidate rejected: accepting one would throw inside llama.cpp's grammar
        if (isinf(cur.data[cur.selected].logit) && cur.data[cur.selected].logit < 0) return -3;
        id = cur.data[cur.selected].id;
    }
    llama_sampler_accept((struct llama_sampler *) grammar, id);
    llama_sampler_accept((struct llama_sampler *) chain, id);
    return id;
}

int llamajava_shim_version(void) {
    return 3;
}
