# Script mode: fetch and verify the pinned llama.cpp source without configuring a build.
#   cmake -P cmake/FetchLlamaCpp.cmake
include("${CMAKE_CURRENT_LIST_DIR}/LlamaCppSource.cmake")
