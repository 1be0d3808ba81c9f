#!/usr/bin/env bash
# Fuzzes the .kite loader (Artifact::FromView) with libFuzzer + ASan + UBSan.
#   scripts/fuzz_artifact.sh [SECONDS]     (default 60)
# Builds with clang into build-fuzz (override with KITE_FUZZ_BUILD), converts a few small
# checkpoints from ../shared/models into a seed corpus, then runs the fuzzer for SECONDS.
# New interesting inputs accumulate in build-fuzz/fuzz_corpus/artifact; crashes are written
# to build-fuzz/fuzz_artifacts/ and make the script exit non-zero.
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${KITE_FUZZ_BUILD:-$root/build-fuzz}"
shared="${KITE_SHARED_DIR:-$root/../shared}"
cc="${KITE_FUZZ_CC:-clang-14}"
cxx="${KITE_FUZZ_CXX:-clang++-14}"

cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKITE_FUZZ=ON -DKITE_SANITIZE=ON -DKITE_SHARED_DIR="$shared" \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
ninja -C "$build" kite_artifact_fuzzer kite-convert

seeds="$build/fuzz_seeds/artifact"
corpus="$build/fuzz_corpus/artifact"
crashes="$build/fuzz_artifacts"
mkdir -p "$seeds" "$corpus" "$crashes"
convert() {  # NAME MODEL_DIR ARGS...
  local name="$1" dir="$2"
  shift 2
  [ -f "$seeds/$name.kite" ] || "$build/kite-convert" "$shared/models/$dir" -o "$seeds/$name.kite" --quiet "$@"
}
convert stories_q4 stories260K/hf --quant q4
convert stories_mixed_g128 stories260K/hf --group-size 128 --no-tokenizer
convert qwen3_q8 random/qwen3 --quant q8 --no-tokenizer
convert qwen2_f16 random/qwen2 --quant f16 --no-tokenizer
convert llama_tied_mixed random/llama_tied_linear --no-tokenizer

# ASan/UBSan report to stderr and abort; libFuzzer saves the input that did it.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
"$build/kite_artifact_fuzzer" "$corpus" "$seeds" \
  -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$crashes/"
