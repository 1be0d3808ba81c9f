#!/usr/bin/env bash
# The README's test command (and what .ci/run calls): installs what is needed,
# builds with -Werror, runs every test, then again under AddressSanitizer +
# UndefinedBehaviorSanitizer, fuzzes the artifact loader for a short time and
# runs the NEON kernel tests under qemu. Exits non-zero on the first failure.
#
# KITE_TEST_QUICK=1 skips the sanitizer, fuzz and aarch64 stages; KITE_TEST_BROWSER=0 the browser stage;
# KITE_TEST_WASM=0 the wasm build and its node tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export KITE_SHARED_DIR="${KITE_SHARED_DIR:-$(cd .. && pwd)/shared}"
if [[ ! -d "$KITE_SHARED_DIR/models" ]]; then
  echo "error: $KITE_SHARED_DIR/models not found (tests read ../shared)" >&2
  exit 1
fi
JOBS="${KITE_JOBS:-$(nproc)}"
start=$(date +%s)
# Each stage's header says how long the run has taken so far, so a slow stage shows in the log.
stage() { printf '\n==== %s ==== (%d s since start)\n' "$*" "$(( $(date +%s) - start ))"; }

stage "install dependencies"
./scripts/install_deps.sh

stage "build (Release, -Werror)"
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Release -DKITE_WERROR=ON -DKITE_SHARED_DIR="$KITE_SHARED_DIR" >/dev/null
cmake --build build-test -j "$JOBS"

stage "tests"
ctest --test-dir build-test --output-on-failure -j "$JOBS" --timeout 900

if [[ "${KITE_TEST_WASM:-1}" == "1" ]]; then
  # Single-threaded module only (build-wasm-mt is the same code with pthreads; see platforms/wasm/README.md).
  # The node tests read the artifacts the native kite-convert of build-test writes.
  stage "wasm build (emscripten) + node tests: tokenizer, templates, kernels, logits parity"
  cmake -S . -B build-test-wasm -G Ninja -DCMAKE_TOOLCHAIN_FILE=platforms/toolchains/emscripten.cmake \
    -DKITE_SHARED_DIR="$KITE_SHARED_DIR" -DKITE_WASM_CONVERTER="$PWD/build-test/kite-convert" >/dev/null
  cmake --build build-test-wasm -j "$JOBS"
  ctest --test-dir build-test-wasm --output-on-failure -j "$JOBS" --timeout 600
fi

if [[ "${KITE_TEST_BROWSER:-1}" == "1" ]]; then
  stage "browser end-to-end tests (Chromium + playwright-core: demo, API, WebGPU parity)"
  # Reuses build-test-wasm from the stage above; adds the pthreads module (build-test-wasm-mt,
  # kite_wasm_web only) so the worker's threads path is tested too (KITE_BROWSER_THREADS=0 skips it).
  KITE_JOBS="$JOBS" KITE_BROWSER_OUT="$PWD/build-test/browser" KITE_WASM_BUILD="$PWD/build-test-wasm" \
    KITE_WASM_MT_BUILD="$PWD/build-test-wasm-mt" ./tests/browser/run.sh build-test
fi

if [[ "${KITE_TEST_QUICK:-0}" != "1" ]]; then
  stage "tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  # -O1 -g1 (line tables): ASan's usual level, and the stage's compile time is most of it. With
  # -O2 -g one file took 43 s instead of 17, and the stage 948 s of a 2420 s run on a 2-vCPU VM.
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKITE_SANITIZE=ON -DKITE_WERROR=ON \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    -DKITE_SHARED_DIR="$KITE_SHARED_DIR" >/dev/null
  cmake --build build-asan -j "$JOBS"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 1800 -LE slow

  stage "fuzz the artifact loader (libFuzzer, ${KITE_FUZZ_SECONDS:-60} s)"
  ./scripts/fuzz_artifact.sh "${KITE_FUZZ_SECONDS:-60}"

  stage "aarch64 NEON kernels under qemu"
  ./scripts/test_aarch64_kernels.sh
fi

stage "all stages passed in $(( $(date +%s) - start )) s"
