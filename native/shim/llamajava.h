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

// Index of the largest of n floats (the first one on ties), as llama.cpp's greedy sampler picks it;
// lets a pure greedy generation skip building the 128K-entry candidate array each token.
LLAMAJAVA_API int32_t llamajava_argmax(const float * values, int32_t n);

// The shim's ABI version, checked by the Java loader.
LLAMAJAVA_API int llamajava_shim_version(void);

#ifdef __cplusplus
}
#endif
