# Shared settings for ci/ scripts (sourced).
LLJ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LLJ_CACHE="${LLAMA_JAVA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llama-java}"
LLJ_COMMIT="$(sed -n 's/^set(LLAMA_CPP_COMMIT *"\([0-9a-f]*\)").*/\1/p' "$LLJ_ROOT/cmake/LlamaCppSource.cmake")"
LLJ_LIBCLANG="${LLJ_LIBCLANG:-/usr/lib/llvm-14/lib/libclang.so.1}"
if [ -z "${JAVA_HOME:-}" ] || ! "$JAVA_HOME/bin/java" -version 2>&1 | grep -q 'version "2[5-9]'; then
  JAVA_HOME="$(ls -d /usr/lib/jvm/temurin-2[5-9]* /usr/lib/jvm/*-2[5-9]-* 2>/dev/null | head -1 || true)"
fi
export JAVA_HOME
# The llama.cpp source tree: LLAMA_CPP_SOURCE_DIR, else the verified pinned clone (fetched by CMake's configure).
llj_llama_source() {
  if [ -n "${LLAMA_CPP_SOURCE_DIR:-}" ]; then echo "$LLAMA_CPP_SOURCE_DIR"; return; fi
  local d="$LLJ_CACHE/src/$LLJ_COMMIT"
  if [ ! -f "$d/.llama-java-verified" ]; then
    cmake -DLLAMA_JAVA_FETCH_ONLY=ON -P "$LLJ_ROOT/cmake/FetchLlamaCpp.cmake" >&2
  fi
  echo "$d"
}
# Stages libggml-cuda.so from a build tree's bin/ for the natives-linux-x86_64-cuda jar, where the loader reads it
# (resources /dev/llamajava/native/linux-x86_64-cuda/ with a natives.sha256 manifest). $1: bin dir, $2: properties text.
llj_stage_cuda() {
  local stage="$LLJ_ROOT/build/natives/cuda/dev/llamajava/native/linux-x86_64-cuda"
  rm -rf "$LLJ_ROOT/build/natives/cuda"; mkdir -p "$stage"
  cp -L "$1/libggml-cuda.so" "$stage/"
  printf '%s\n' "$2" > "$stage/build-cuda.properties"
  ( cd "$stage" && sha256sum libggml-cuda.so build-cuda.properties > natives.sha256 )
  ls -l "$stage/libggml-cuda.so" | awk '{printf "  libggml-cuda.so %.1f MB\n", $5/1048576}'
}
