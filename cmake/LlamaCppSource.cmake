# Pinned llama.cpp source for llama-java.
#
# The source is llama.cpp as carried by the npm package node-llama-cpp@3.22.1
# (package/llama/gitRelease.bundle, a git bundle). Both the npm tarball and the
# bundle are verified by sha256 before use; the bundle is cloned into a cache
# outside the source tree and reused by later builds.
#
# Override with -DLLAMA_CPP_SOURCE_DIR=... or the LLAMA_CPP_SOURCE_DIR environment
# variable to build any other checkout (for example the same commit from GitHub).

set(LLAMA_CPP_COMMIT        "de3ff815ea7d559ee917f063901b8986f038abc6")
set(LLAMA_CPP_NPM_PACKAGE   "node-llama-cpp@3.22.1")
set(LLAMA_CPP_NPM_TGZ_NAME  "node-llama-cpp-3.22.1.tgz")
set(LLAMA_CPP_NPM_TGZ_SHA256 "a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f")
set(LLAMA_CPP_BUNDLE_SHA256  "5f5d1105d5df040738d87b8290e5d17e7362131cdcfdb0831618e0ea528b4a51")
set(LLAMA_CPP_GGML_VERSION  "0.25.1")

if(NOT LLAMA_CPP_SOURCE_DIR AND DEFINED ENV{LLAMA_CPP_SOURCE_DIR})
  set(LLAMA_CPP_SOURCE_DIR "$ENV{LLAMA_CPP_SOURCE_DIR}")
endif()
set(LLAMA_CPP_SOURCE_DIR "${LLAMA_CPP_SOURCE_DIR}" CACHE PATH
    "llama.cpp checkout to build (empty: the pinned source, fetched through npm into LLAMA_JAVA_CACHE_DIR)")

if(DEFINED ENV{LLAMA_JAVA_CACHE_DIR})
  set(_llj_cache_default "$ENV{LLAMA_JAVA_CACHE_DIR}")
elseif(DEFINED ENV{XDG_CACHE_HOME})
  set(_llj_cache_default "$ENV{XDG_CACHE_HOME}/llama-java")
else()
  set(_llj_cache_default "$ENV{HOME}/.cache/llama-java")
endif()
set(LLAMA_JAVA_CACHE_DIR "${_llj_cache_default}" CACHE PATH "Cache for the pinned llama.cpp source")

function(_llj_check_sha256 file expected what)
  file(SHA256 "${file}" _actual)
  if(NOT _actual STREQUAL expected)
    message(FATAL_ERROR "llama-java: sha256 mismatch for ${what} (${file}):\n  expected ${expected}\n  actual   ${_actual}")
  endif()
endfunction()

function(llj_fetch_pinned_llama_cpp out_dir)
  set(_dest "${LLAMA_JAVA_CACHE_DIR}/src/${LLAMA_CPP_COMMIT}")
  if(EXISTS "${_dest}/.llama-java-verified")
    set(${out_dir} "${_dest}" PARENT_SCOPE)
    return()
  endif()
  find_program(NPM_EXECUTABLE npm REQUIRED)
  find_program(GIT_EXECUTABLE git REQUIRED)
  set(_work "${LLAMA_JAVA_CACHE_DIR}/src/.fetch-${LLAMA_CPP_COMMIT}")
  file(REMOVE_RECURSE "${_work}" "${_dest}")
  file(MAKE_DIRECTORY "${_work}")
  message(STATUS "llama-java: fetching ${LLAMA_CPP_NPM_PACKAGE} from the npm registry")
  execute_process(COMMAND "${NPM_EXECUTABLE}" pack "${LLAMA_CPP_NPM_PACKAGE}" --silent
                  WORKING_DIRECTORY "${_work}" RESULT_VARIABLE _rc OUTPUT_QUIET)
  if(NOT _rc EQUAL 0 OR NOT EXISTS "${_work}/${LLAMA_CPP_NPM_TGZ_NAME}")
    message(FATAL_ERROR "llama-java: 'npm pack ${LLAMA_CPP_NPM_PACKAGE}' failed (${_rc}). "
                        "Set LLAMA_CPP_SOURCE_DIR to a llama.cpp checkout at ${LLAMA_CPP_COMMIT} instead.")
  endif()
  _llj_check_sha256("${_work}/${LLAMA_CPP_NPM_TGZ_NAME}" "${LLAMA_CPP_NPM_TGZ_SHA256}" "the npm tarball")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E tar xzf "${LLAMA_CPP_NPM_TGZ_NAME}" package/llama/gitRelease.bundle
                  WORKING_DIRECTORY "${_work}" RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "llama-java: could not extract gitRelease.bundle from ${LLAMA_CPP_NPM_TGZ_NAME}")
  endif()
  set(_bundle "${_work}/package/llama/gitRelease.bundle")
  _llj_check_sha256("${_bundle}" "${LLAMA_CPP_BUNDLE_SHA256}" "the llama.cpp git bundle")
  execute_process(COMMAND "${GIT_EXECUTABLE}" -c advice.detachedHead=false clone -q "${_bundle}" "${_dest}"
                  RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "llama-java: git clone of the bundle failed (${_rc})")
  endif()
  execute_process(COMMAND "${GIT_EXECUTABLE}" -c advice.detachedHead=false checkout -q "${LLAMA_CPP_COMMIT}"
                  WORKING_DIRECTORY "${_dest}" RESULT_VARIABLE _rc)
  execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse HEAD WORKING_DIRECTORY "${_dest}"
                  OUTPUT_VARIABLE _head OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0 OR NOT _head STREQUAL LLAMA_CPP_COMMIT)
    message(FATAL_ERROR "llama-java: bundle does not hold commit ${LLAMA_CPP_COMMIT} (HEAD is '${_head}')")
  endif()
  file(WRITE "${_dest}/.llama-java-verified" "${LLAMA_CPP_COMMIT}\n${LLAMA_CPP_NPM_TGZ_SHA256}\n${LLAMA_CPP_BUNDLE_SHA256}\n")
  file(REMOVE_RECURSE "${_work}")
  set(${out_dir} "${_dest}" PARENT_SCOPE)
endfunction()

if(LLAMA_CPP_SOURCE_DIR)
  if(NOT EXISTS "${LLAMA_CPP_SOURCE_DIR}/include/llama.h")
    message(FATAL_ERROR "llama-java: LLAMA_CPP_SOURCE_DIR=${LLAMA_CPP_SOURCE_DIR} has no include/llama.h")
  endif()
  set(LLAMA_CPP_RESOLVED_SOURCE_DIR "${LLAMA_CPP_SOURCE_DIR}")
else()
  llj_fetch_pinned_llama_cpp(LLAMA_CPP_RESOLVED_SOURCE_DIR)
endif()
message(STATUS "llama-java: llama.cpp source: ${LLAMA_CPP_RESOLVED_SOURCE_DIR}")
