// llama-java native shim: small C helpers called from Java through FFM.
#pragma once
#include <stdbool.h>

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

// The shim's ABI version, checked by the Java loader.
LLAMAJAVA_API int llamajava_shim_version(void);

#ifdef __cplusplus
}
#endif
