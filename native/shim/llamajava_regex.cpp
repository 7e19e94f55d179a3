// llama-java native shim, C++ part: checks a regular expression the way llama.cpp's lazy grammar compiles it
// (std::regex, ECMAScript), so that a pattern it would throw on is refused in Java instead of aborting the process.
#include "llamajava.h"

#include <cstring>
#include <regex>

extern "C" int32_t llamajava_regex_check(const char * pattern, char * error, int32_t error_size) {
    try {
        std::regex re(pattern);
        (void) re;
        return 0;
    } catch (const std::exception & e) {
        if (error != nullptr && error_size > 0) {
            std::strncpy(error, e.what(), (size_t) error_size - 1);
            error[error_size - 1] = '\0';
        }
        return 1;
    } catch (...) {
        if (error != nullptr && error_size > 0) error[0] = '\0';
        return 1;
    }
}
