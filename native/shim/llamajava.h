// llama-java native shim: small C helpers called from Java through FFM.
#pragma once
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#  define LLAMAJAVA_API __attribute__((visibility("default")))
#else
#  define LLAMAJAVA_API
#endif

// An abort callback for llama_set_abort_callback / llama_model_params.progress-free paths:
// returns true once the int the data pointer points to is non-zero. Java sets the flag;
// no upcall runs on the hot path.
LLAMAJAVA_API bool llamajava_abort_flag_callback(void * data);

// The state of llamajava_abort_poll_callback. flag comes first, so llamajava_abort_flag_callback reads the same memory.
typedef struct llamajava_abort_poll {
    int32_t flag;        // non-zero: abort (Java sets it)
    int32_t reserved;
    int64_t next_ns;     // CLOCK_MONOTONIC time of the next check (0: at the first call)
    int64_t interval_ns; // time between two checks
    void *  check;       // bool (*)(void * data), called with this struct; null: the flag alone
} llamajava_abort_poll;

// An abort callback for a long decode (a prompt): true once the flag is non-zero (read at every call, that is at every
// graph node), or when check says so. check (a Java upcall: is the decoding thread interrupted?) runs at the first call
// at or after next_ns and then at most once per interval_ns, not at every node: an upcall per node cost about 3% of a
// 64-token prompt of a small model.
LLAMAJAVA_API bool llamajava_abort_poll_callback(void * data);

// Index of the largest of n floats (the first one on ties), as llama.cpp's greedy sampler picks it;
// lets a pure greedy generation skip building the 128K-entry candidate array each token.
LLAMAJAVA_API int32_t llamajava_argmax(const float * values, int32_t n);

// llamajava_argmax over the n_vocab logits a context holds at idx (llama_get_logits_ith), so a greedy step makes one
// call and the caller never holds the logits pointer. ctx: llama_context *. Returns the token, or -1 when the context
// has no logits at idx.
LLAMAJAVA_API int32_t llamajava_argmax_ith(void * ctx, int32_t idx, int32_t n_vocab);

// The k largest of n logits (1 <= k <= n) into buf (k llama_token_data: id, logit, p = 0), largest first, ties to the
// lower id; NaN enters only when fewer than k logits are numbers, then as -inf, lowest ids first. With AVX2 and
// at least 2k blocks of 256 logits: each block's maximum in one pass, the k-th largest maximum as a floor, then only
// the blocks reaching it are read again and the logits at the floor ranked; otherwise a heap of k over every logit. Returns k, or -2 on bad arguments.
LLAMAJAVA_API int32_t llamajava_top_k(const float * logits, int32_t n, int32_t k, void * buf);

// One sampling step of a chain whose first sampler is top-k (k <= n_vocab) and that has no grammar: the k largest
// logits at idx are found as llamajava_top_k finds them and handed to
// the chain sorted, largest first, so its top-k keeps them as they are and the rest of the chain (top-p, min-p,
// temperature, the draw) sees exactly the candidates it would see after llama.cpp's own top-k over the whole vocabulary.
// The chain then accepts the token. buf holds k llama_token_data. Returns the token, -1 when the context has no logits
// at idx, -2 when k is out of range or the chain selected nothing.
LLAMAJAVA_API int32_t llamajava_sample_top_k(void * chain, void * ctx, int32_t idx, int32_t k, void * buf, int32_t n_vocab);

// One sampling step of llama.cpp's default chain as Sampler builds it: top-k (k), top-p (top_p; 1 when the chain has
// none), min-p (min_p; 0 when none, min_keep 1 for both), temperature (temp), then the draw (dist, the chain's last
// sampler). The k candidates come as in llamajava_sample_top_k; top-p, min-p and temperature are applied here as
// llama.cpp's samplers apply them to sorted candidates, operation for operation in float, so the draw (llama.cpp's own
// dist sampler, its RNG) sees the very candidates and logits the chain would hand it. The chain then accepts the
// token. Returns the token, -1 when the context has no logits at idx, -2 when k is out of range or nothing was drawn.
LLAMAJAVA_API int32_t llamajava_sample_default_chain(void * chain, void * dist, void * ctx, int32_t idx, int32_t k, float top_p,
                                                     float min_p, float temp, void * buf, int32_t n_vocab);

// One sampling step with a grammar, as llama.cpp's common sampler does it: the chain (without the grammar) picks a
// token from all candidates; when the grammar accepts that token it is taken, otherwise the candidates are rebuilt,
// the grammar removes what it rejects and the chain picks again. The grammar and the chain then accept the token.
// With utf8_state (an int32 the caller keeps per generation, 0 at its start) a token whose bytes would break UTF-8
// is refused as well: llama.cpp's grammar does not check continuation bytes, so it admits byte sequences that no
// decoder reads as the characters the grammar counted (a string over its maxLength once decoded).
// chain, grammar, ctx, vocab: llama_sampler *, llama_sampler *, llama_context *, const llama_vocab *; buf holds
// n_vocab llama_token_data. Returns the token, -1 when the context has no logits at idx, -2 when the chain selected
// nothing, -3 when the grammar rejects every candidate (nothing is accepted then).
LLAMAJAVA_API int32_t llamajava_sample_grammar(void * chain, void * grammar, void * ctx, int32_t idx, void * buf, int32_t n_vocab,
                                               const void * vocab, int32_t * utf8_state);

// A sampler chain for llama_set_sampler that picks the token inside llama.cpp's graph on the CPU backend (ggml custom
// ops; only where the output layer is on the CPU). The compute threads each take a slice of the logits row where the
// output layer left it, one thread merges the slices and picks; no logits leave the graph. It starts greedy (the first
// largest logit, as llamajava_argmax); llamajava_graph_sampler_set changes what it picks between decodes without
// changing the graph (which is sized for max_k), so it can stay set across generations. Free it with
// llama_sampler_free after llama_set_sampler(ctx, seq, NULL). Returns NULL when max_k < 1 or out of memory.
LLAMAJAVA_API void * llamajava_graph_sampler_init(int32_t max_k);

// Sets what a chain from llamajava_graph_sampler_init picks from the next decode on. k 0: greedy. k in [1, max_k]:
// llama.cpp's default chain as llamajava_sample_default_chain runs it (top-k, top-p, min-p, temperature, then a new
// llama.cpp dist sampler with seed), so with the same seed it draws the same tokens. Not during a decode. Returns 0, -1
// for any other chain, -2 when k is outside [0, max_k], -3 out of memory (the chain is left as it was).
LLAMAJAVA_API int32_t llamajava_graph_sampler_set(void * chain, int32_t k, float top_p, float min_p, float temp, uint32_t seed);

// For a chain from llamajava_graph_sampler_init: the token its ops picked in the last decode that had an output row for
// its sequence (the CPU backend computes the graph before llama_decode returns); -1 when that decode picked none (it
// failed or was aborted) or none ran since the chain was made or set, -2 for any other chain. It reads only the chain,
// where llama_get_sampled_token_ith synchronizes the context and looks the row up (about 5 µs after a 1B decode, whose
// weights pushed that code and data out of the caches).
LLAMAJAVA_API int32_t llamajava_graph_sampler_last(void * chain);

// For a chain from llamajava_graph_sampler_init: the nanoseconds its ops took, from the first op's start to the token,
// summed over every token picked; -1 for any other chain.
LLAMAJAVA_API int64_t llamajava_graph_sampler_ns(void * chain);

// 0 when std::regex (ECMAScript, as llama.cpp's lazy grammar triggers compile) accepts the pattern; else 1, with
// the reason in error (NUL-terminated, at most error_size bytes).
LLAMAJAVA_API int32_t llamajava_regex_check(const char * pattern, char * error, int32_t error_size);

// The shim's ABI version, checked by the Java loader.
LLAMAJAVA_API int llamajava_shim_version(void);

#ifdef __cplusplus
}
#endif
