#!/usr/bin/env bash
# Kite wasm vs @wllama/wllama in headless Chromium (benchmarks/web/README.md).
#
#   benchmarks/web/run.sh [bench.mjs options...]      e.g. --quants q8 --threads 1 --reps 3
#
# 1. npm packages: @wllama/wllama and playwright-core here, typescript in web/ (install scripts
#    off; no browser download: /usr/bin/chromium is used);
# 2. native kite-convert and kite-export-gguf in $KITE_BUILD (default build-w2), the wasm browser
#    modules in build-wasm and build-wasm-mt, web/dist;
# 3. bench.mjs: writes the SmolLM2-135M-shaped random checkpoint, its .kite and .gguf files
#    (q8/Q8_0, q4/Q4_0) into $KITE_BUILD/web-bench, and prints the table.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
build="${KITE_BUILD:-$repo/build-w2}"
jobs="${KITE_JOBS:-2}"
for d in benchmarks/web web; do
  (cd "$d" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
done
(cd web && node tools/build.mjs)
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
ninja -C "$build" -j "$jobs" kite-convert kite-export-gguf
for spec in "build-wasm:" "build-wasm-mt:-DKITE_WASM_THREADS=ON"; do
  dir="$repo/${spec%%:*}" opt="${spec#*:}"
  if [[ ! -f "$dir/build.ninja" ]]; then
    cmake -S "$repo" -B "$dir" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$repo/platforms/toolchains/emscripten.cmake" $opt >/dev/null
  fi
  # kite-relaxed.mjs (relaxed-SIMD kernels, which Chromium runs) where cmake found clang-19.
  targets=(kite_wasm_web)
  if ninja -C "$dir" -t targets all | grep -q '^kite_wasm_web_relaxed:'; then targets+=(kite_wasm_web_relaxed); fi
  ninja -C "$dir" -j "$jobs" "${targets[@]}"
done
exec node benchmarks/web/bench.mjs --build "$build" "$@"
