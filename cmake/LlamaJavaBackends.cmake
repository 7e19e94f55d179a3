# Backend options for llama-java's native build.
#
#   LLAMAJAVA_CPU_VARIANTS = all     one libggml-cpu-<variant>.so per x86-64 level (x64 ... sapphirerapids);
#                                    ggml picks the best at run time. Used for the natives jar and CI.
#                          = native  a single libggml-cpu.so at the x86-64-v3 (Haswell: AVX2, FMA, F16C, BMI2) level.
#                                    Developer-only fast mode; never shipped. (ggml refuses GGML_NATIVE together
#                                    with GGML_BACKEND_DL, so the level is spelled out.)
#   LLAMAJAVA_CUDA         = ON      also build libggml-cuda.so (CMAKE_CUDA_ARCHITECTURES picks the GPUs).

set(LLAMAJAVA_CPU_VARIANTS "all" CACHE STRING "CPU backend variants: all | native")
set_property(CACHE LLAMAJAVA_CPU_VARIANTS PROPERTY STRINGS all native)
option(LLAMAJAVA_CUDA "Build the CUDA backend (libggml-cuda.so)" OFF)
set(LLAMAJAVA_DEFAULT_CUDA_ARCHITECTURES "86-real;89-real;90-real;120-real;89-virtual")

set(BUILD_SHARED_LIBS ON CACHE BOOL "" FORCE)
set(GGML_BACKEND_DL   ON CACHE BOOL "" FORCE)
if(LLAMAJAVA_CPU_VARIANTS STREQUAL "all")
  set(GGML_NATIVE           OFF CACHE BOOL "" FORCE)
  set(GGML_CPU_ALL_VARIANTS ON  CACHE BOOL "" FORCE)
elseif(LLAMAJAVA_CPU_VARIANTS STREQUAL "native")
  set(GGML_NATIVE           OFF CACHE BOOL "" FORCE)
  set(GGML_CPU_ALL_VARIANTS OFF CACHE BOOL "" FORCE)
  foreach(_isa GGML_SSE42 GGML_AVX GGML_AVX2 GGML_FMA GGML_F16C GGML_BMI2)
    set(${_isa} ON CACHE BOOL "" FORCE)
  endforeach()
else()
  message(FATAL_ERROR "LLAMAJAVA_CPU_VARIANTS must be 'all' or 'native', not '${LLAMAJAVA_CPU_VARIANTS}'")
endif()

if(LLAMAJAVA_CUDA)
  set(GGML_CUDA ON CACHE BOOL "" FORCE)
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "${LLAMAJAVA_DEFAULT_CUDA_ARCHITECTURES}" CACHE STRING "" FORCE)
  endif()
else()
  set(GGML_CUDA OFF CACHE BOOL "" FORCE)
endif()

# ggml's RPC backend (libggml-rpc: devices served by rpc-server processes on other machines, ModelParams.rpcServers)
# and llama.cpp's rpc-server tool. Plain TCP only: a build host that has libibverbs must not make the jar need it.
set(GGML_RPC      ON  CACHE BOOL "" FORCE)
set(GGML_RPC_RDMA OFF CACHE BOOL "" FORCE)

# llama.cpp's own parts we need: the libraries, and the reference tools our tests and bench run.
set(LLAMA_BUILD_COMMON   ON  CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TOOLS    ON  CACHE BOOL "" FORCE)
set(LLAMA_BUILD_EXAMPLES ON  CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TESTS    OFF CACHE BOOL "" FORCE)
# llama-server only for ci/load (the load comparison), never in the CI build: it reconfigures the tree with this ON
option(LLAMAJAVA_SERVER_TOOL "also build llama.cpp's llama-server (ci/load)" OFF)
set(LLAMA_BUILD_SERVER   ${LLAMAJAVA_SERVER_TOOL} CACHE BOOL "" FORCE)
if(LLAMAJAVA_SERVER_TOOL)
  set(LLAMA_BUILD_UI        OFF CACHE BOOL "" FORCE) # no web UI: nothing downloads
  set(LLAMA_USE_PREBUILT_UI OFF CACHE BOOL "" FORCE)
endif()
set(LLAMA_BUILD_APP      OFF CACHE BOOL "" FORCE)
set(LLAMA_OPENSSL        OFF CACHE BOOL "" FORCE)
set(LLAMA_ALL_WARNINGS   OFF CACHE BOOL "" FORCE)
if(WIN32)
  # ggml's own thread pool: OpenMP would add MinGW's libgomp-1.dll (and its pthread DLL) to every Windows install
  set(GGML_OPENMP        OFF CACHE BOOL "" FORCE)
else()
  set(GGML_OPENMP        ON  CACHE BOOL "" FORCE)
endif()

set(LLAMAJAVA_REFERENCE_TOOLS llama-simple llama-completion llama-bench llama-quantize llama-tokenize llama-embedding llama-batched-bench
  ggml-rpc-server)
