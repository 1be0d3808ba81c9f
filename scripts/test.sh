#!/usr/bin/env bash
# The README's test command (and what .ci/run calls): installs what is needed,
# builds with -Werror, runs every test, then again under AddressSanitizer +
# UndefinedBehaviorSanitizer, fuzzes the artifact loader for a short time and
# runs the NEON kernel tests under qemu. Exits non-zero on the first failure.
#
# KITE_TEST_QUICK=1 skips the sanitizer, fuzz and aarch64 stages.
set -euo pipefail
cd "$(dirname "$0")/.."
export KITE_SHARED_DIR="${KITE_SHARED_DIR:-$(cd .. && pwd)/shared}"
if [[ ! -d "$KITE_SHARED_DIR/models" ]]; then
  echo "error: $KITE_SHARED_DIR/models not found (tests read ../shared)" >&2
  exit 1
fi
JOBS="${KITE_JOBS:-$(nproc)}"
stage() { printf '\n==== %s ====\n' "$*"; }
start=$(date +%s)

stage "install dependencies"
./scripts/install_deps.sh

stage "build (Release, -Werror)"
cmake -S . -B build-test -G Ninja -DCMAKE_BUILD_TYPE=Release -DKITE_WERROR=ON -DKITE_SHARED_DIR="$KITE_SHARED_DIR" >/dev/null
cmake --build build-test -j "$JOBS"

stage "tests"
ctest --test-dir build-test --output-on-failure -j "$JOBS" --timeout 900

if [[ "${KITE_TEST_QUICK:-0}" != "1" ]]; then
  stage "tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKITE_SANITIZE=ON -DKITE_WERROR=ON \
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
