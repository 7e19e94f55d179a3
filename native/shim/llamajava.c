#include "llamajava.h"

bool llamajava_abort_flag_callback(void * data) {
    return data != 0 && __atomic_load_n((const int *) data, __ATOMIC_ACQUIRE) != 0;
}

int32_t llamajava_argmax(const float * values, int32_t n) {
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

int llamajava_shim_version(void) {
    return 2;
}
