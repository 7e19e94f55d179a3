/*
 * ci/bench's sampler section: the sampled step as a generation meets it, timed in place after each decode (the
 * caches as the decode left them), llama.cpp's own call against the shim's, on the same build, model and seed.
 *
 *   llamajava-sampler-bench MODEL [TOKENS] [ROUNDS] [THREADS]
 *
 * The chain is llama.cpp's default (top-k 40, top-p 0.95, min-p 0.05, temperature 0.8, the draw, seed 42). Each round
 * generates TOKENS tokens twice from an empty cache, once choosing each token with llama_sampler_sample and once with
 * llamajava_sample_default_chain (which side goes first alternates by round); only that call is timed. Both chains are
 * new each round with the same seed, so the two sides must draw the same tokens: the tool checks it and fails when
 * they differ. Prints two lines: a JSON object (the median, 10th and 90th percentile microseconds per side over every
 * token of every round, their ratio) and the same as a row of ci/bench's markdown table.
 */
#include "llama.h"
#include "llamajava.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp_double(const void * a, const void * b) {
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

// llama.cpp's default chain, as both sides use it
#define TOP_K 40
#define TOP_P 0.95f
#define MIN_P 0.05f
#define TEMP 0.8f
#define SEED 42

static struct llama_sampler * default_chain(void) {
    struct llama_sampler * chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
    llama_sampler_chain_add(chain, llama_sampler_init_top_k(TOP_K));
    llama_sampler_chain_add(chain, llama_sampler_init_top_p(TOP_P, 1));
    llama_sampler_chain_add(chain, llama_sampler_init_min_p(MIN_P, 1));
    llama_sampler_chain_add(chain, llama_sampler_init_temp(TEMP));
    llama_sampler_chain_add(chain, llama_sampler_init_dist(SEED));
    return chain;
}

static void quiet(enum ggml_log_level level, const char * text, void * data) {
    (void) level; (void) text; (void) data;
}

// one generation of n tokens; the time of each choice into times, the tokens into drawn; 0 on success
static int generate(struct llama_context * ctx, int shim, int n, int n_vocab, double * times, llama_token * drawn) {
    llama_memory_clear(llama_get_memory(ctx), true);
    struct llama_sampler * chain = default_chain();
    struct llama_sampler * dist = llama_sampler_chain_get(chain, llama_sampler_chain_n(chain) - 1);
    llama_token_data buf[TOP_K];
    llama_token tok = 1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (llama_decode(ctx, llama_batch_get_one(&tok, 1)) != 0) {
            fprintf(stderr, "llama_decode failed at token %d\n", i);
            rc = 1;
            break;
        }
        double t0 = now_ns();
        llama_token id = shim ? llamajava_sample_default_chain(chain, dist, ctx, -1, TOP_K, TOP_P, MIN_P, TEMP, buf, n_vocab)
                              : llama_sampler_sample(chain, ctx, -1);
        times[i] = now_ns() - t0;
        if (id < 0) {
            fprintf(stderr, "no token at %d (%d)\n", i, id);
            rc = 1;
        }
        drawn[i] = tok = id;
    }
    llama_sampler_free(chain);
    return rc;
}

int main(int argc, char ** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [TOKENS] [ROUNDS] [THREADS]\n", argv[0]);
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 1000;
    int rounds = argc > 3 ? atoi(argv[3]) : 4;
    int threads = argc > 4 ? atoi(argv[4]) : 2;
    if (n < 1 || rounds < 1 || threads < 1) {
        fprintf(stderr, "TOKENS, ROUNDS and THREADS must be positive\n");
        return 2;
    }
    llama_log_set(quiet, NULL);
    ggml_backend_load_all();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (model == NULL) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) (n + 16);
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (ctx == NULL) {
        fprintf(stderr, "cannot create a context for %s\n", argv[1]);
        return 1;
    }
    size_t total = (size_t) n * rounds;
    double * times[2] = { malloc(sizeof(double) * total), malloc(sizeof(double) * total) };
    llama_token * drawn[2] = { malloc(sizeof(llama_token) * n), malloc(sizeof(llama_token) * n) };
    int identical = 1;
    int rc = 0;
    // one unmeasured generation each: the code and the model's pages in place
    rc |= generate(ctx, 0, n < 64 ? n : 64, n_vocab, times[0], drawn[0]);
    rc |= generate(ctx, 1, n < 64 ? n : 64, n_vocab, times[1], drawn[1]);
    for (int r = 0; r < rounds && rc == 0; r++) {
        for (int s = 0; s < 2 && rc == 0; s++) {
            int side = (r + s) % 2;
            rc |= generate(ctx, side, n, n_vocab, times[side] + (size_t) r * n, drawn[side]);
        }
        if (memcmp(drawn[0], drawn[1], sizeof(llama_token) * n) != 0) identical = 0;
    }
    if (rc == 0) {
        double q[2][3];
        for (int side = 0; side < 2; side++) {
            qsort(times[side], total, sizeof(double), cmp_double);
            q[side][0] = times[side][total / 2] / 1e3;
            q[side][1] = times[side][total / 10] / 1e3;
            q[side][2] = times[side][total * 9 / 10] / 1e3;
        }
        if (!identical) {
            fprintf(stderr, "the shim's chain drew other tokens than llama_sampler_sample\n");
            rc = 1;
        } else {
            char desc[256];
            llama_model_desc(model, desc, sizeof desc);
            printf("{\"desc\": \"%s\", \"n_vocab\": %d, \"tokens\": %d, \"rounds\": %d, \"threads\": %d, "
                   "\"llama_us\": {\"median\": %.2f, \"p10\": %.2f, \"p90\": %.2f}, "
                   "\"shim_us\": {\"median\": %.2f, \"p10\": %.2f, \"p90\": %.2f}, \"speedup\": %.2f}\n",
                   desc, n_vocab, n, rounds, threads, q[0][0], q[0][1], q[0][2], q[1][0], q[1][1], q[1][2], q[0][0] / q[1][0]);
            printf("| %d | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.2f |\n",
                   n_vocab, q[0][0], q[0][1], q[0][2], q[1][0], q[1][1], q[1][2], q[0][0] / q[1][0]);
        }
    }
    free(times[0]);
    free(times[1]);
    free(drawn[0]);
    free(drawn[1]);
    llama_free(ctx);
    llama_model_free(model);
    return rc;
}
