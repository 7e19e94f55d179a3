#include "llamajava.h"

bool llamajava_abort_flag_callback(void * data) {
    return data != 0 && __atomic_load_n((const int *) data, __ATOMIC_ACQUIRE) != 0;
}

int llamajava_shim_version(void) {
    return 1;
}
