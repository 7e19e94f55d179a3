/*
 * Preloaded into llama.cpp's reference tools by the tests (LD_PRELOAD): drains llama.cpp's asynchronous log at exit.
 *
 * The pinned llama.cpp leaks its log singleton on purpose (ggml-org/llama.cpp#22142), so what a tool prints through
 * LOG() in its last moments (llama-embedding's JSON, llama-batched-bench's table) is lost whenever the process exits
 * before the log thread has written it. This destructor pauses the log, which writes every queued line first.
 */
#define _GNU_SOURCE
#include <dlfcn.h>

struct common_log;

__attribute__((destructor)) static void llamajava_flush_common_log(void) {
    struct common_log * (*log_main)(void) = (struct common_log * (*)(void)) dlsym(RTLD_DEFAULT, "_Z15common_log_mainv");
    void (*log_pause)(struct common_log *) = (void (*)(struct common_log *)) dlsym(RTLD_DEFAULT, "_Z16common_log_pauseP10common_log");
    if (log_main && log_pause) {
        log_pause(log_main());
    }
}
