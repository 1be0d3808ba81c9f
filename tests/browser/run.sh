#!/usr/bin/env bash
# Browser end-to-end tests (tests/browser/e2e.test.mjs) in Debian's Chromium.
#
#   tests/browser/run.sh [NATIVE_BUILD]        NATIVE_BUILD has kite-convert (default: build-test)
#
# 1. npm packages (typescript for web/, playwright-core here) with install scripts off: nothing
#    but those npm packages is downloaded, and no browser (the tests use /usr/bin/chromium);
# 2. builds the wasm runtime's browser module (build-wasm, and the pthreads build-wasm-mt unless
#    KITE_BROWSER_THREADS=0) when it is missing or stale, and web/dist; runs web/test (node);
# 3. writes the test models into $KITE_BROWSER_OUT/models: stories260K.kite (f32, converted from
#    ../shared/models/stories260K/hf) and tiny-qwen2-chat.kite (a 2-layer random Qwen2 with the
#    real Qwen2.5 tokenizer and chat template, q8; 15 MB);
# 4. runs the tests; screenshots land in $KITE_BROWSER_OUT.
#
# Environment: KITE_WASM_BUILD (default build-wasm) and KITE_WASM_MT_BUILD (default build-wasm-mt):
# the emscripten builds whose platforms/wasm/ hold kite.mjs (KITE_WASM_PREBUILT=1: use them as they
# are, without running ninja there); KITE_BROWSER_OUT (default
# build-browser); KITE_SHARED_DIR (default ../shared); KITE_BROWSER_WEBGPU (see e2e.test.mjs).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
native="${1:-build-test}"
shared="${KITE_SHARED_DIR:-$(cd "$repo/.." && pwd)/shared}"
out="${KITE_BROWSER_OUT:-$repo/build-browser}"
wasm_build="${KITE_WASM_BUILD:-$repo/build-wasm}"
wasm_mt_build="${KITE_WASM_MT_BUILD:-$repo/build-wasm-mt}"

command -v node >/dev/null || { echo "error: node (>= 20) is needed" >&2; exit 1; }
[[ -x /usr/bin/chromium ]] || { echo "error: /usr/bin/chromium is missing (apt-get install chromium)" >&2; exit 1; }
[[ -x "$native/kite-convert" ]] || { echo "error: $native/kite-convert is missing (build it first)" >&2; exit 1; }
command -v emcc >/dev/null || { echo "error: emscripten is missing (scripts/install_deps.sh)" >&2; exit 1; }

# The browser module of both wasm builds (platforms/wasm/README.md); a no-op when they are current.
wasm_module() {  # BUILD_DIR [cmake options...]
  local dir="$1"; shift
  if [[ ! -f "$dir/build.ninja" ]]; then
    cmake -S "$repo" -B "$dir" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$repo/platforms/toolchains/emscripten.cmake" "$@" >/dev/null
  fi
  # kite_wasm_web_relaxed (kite-relaxed.mjs) exists where cmake found clang-19.
  local targets=(kite_wasm_web)
  if ninja -C "$dir" -t targets all | grep -q '^kite_wasm_web_relaxed:'; then targets+=(kite_wasm_web_relaxed); fi
  ninja -C "$dir" -j "${KITE_JOBS:-$(nproc)}" "${targets[@]}"
}
if [[ "${KITE_WASM_PREBUILT:-0}" != "1" ]]; then
  wasm_module "$wasm_build"
  if [[ "${KITE_BROWSER_THREADS:-1}" == "1" ]]; then
    wasm_module "$wasm_mt_build" -DKITE_WASM_THREADS=ON
  fi
fi
[[ -f "$wasm_build/platforms/wasm/kite.mjs" ]] || { echo "error: $wasm_build/platforms/wasm/kite.mjs is missing" >&2; exit 1; }

npm_install() {
  (cd "$1" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
}
npm_install web
npm_install tests/browser
(cd web && node tools/build.mjs)
node --test --test-reporter=spec web/test/

mkdir -p "$out/models"
if [[ ! -f "$out/models/stories260K.kite" || "$native/kite-convert" -nt "$out/models/stories260K.kite" ]]; then
  "$native/kite-convert" "$shared/models/stories260K/hf" -o "$out/models/stories260K.kite" --quant f32 --quiet
fi
if [[ ! -f "$out/models/stories260K-q4.kite" || "$native/kite-convert" -nt "$out/models/stories260K-q4.kite" ]]; then
  "$native/kite-convert" "$shared/models/stories260K/hf" -o "$out/models/stories260K-q4.kite" --quant q4 --quiet
fi
config="$repo/tests/browser/tiny_qwen2_chat.json"
if [[ ! -f "$out/models/tiny-qwen2-chat.kite" || "$config" -nt "$out/models/tiny-qwen2-chat.kite" ||
      "$native/kite-convert" -nt "$out/models/tiny-qwen2-chat.kite" ]]; then
  rm -rf "$out/models/tiny-qwen2-chat"
  /usr/bin/python3 "$shared/tools/make_random_checkpoint.py" "$config" "$out/models/tiny-qwen2-chat" --dtype f32 \
    --tokenizer-dir "$shared/models/tokenizers/qwen2.5" >/dev/null
  "$native/kite-convert" "$out/models/tiny-qwen2-chat" -o "$out/models/tiny-qwen2-chat.kite" --quant q8 --quiet
  rm -rf "$out/models/tiny-qwen2-chat"
fi

export KITE_SHARED_DIR="$shared" KITE_BROWSER_OUT="$out" KITE_BROWSER_MODELS="$out/models"
export KITE_WASM_RUNTIME="$wasm_build/platforms/wasm"
if [[ "${KITE_BROWSER_THREADS:-1}" == "1" && -f "$wasm_mt_build/platforms/wasm/kite.mjs" ]]; then
  export KITE_WASM_THREADS_RUNTIME="$wasm_mt_build/platforms/wasm"
else
  echo "note: $wasm_mt_build/platforms/wasm/kite.mjs is missing: the threads checks are skipped" >&2
fi
node --test --test-reporter=spec tests/browser/e2e.test.mjs
echo "screenshots: $out/*.png"

# The WebGPU backend on its own (tests/browser/webgpu/run.mjs): every WGSL shader against a JS
# reference on edge shapes, whole Llama-family models against a JS forward pass, and WebGPU against
# the wasm CPU engine (same greedy tokens, logits within the stated NMSE), on Chromium's SwiftShader
# adapter and then on lavapipe. KITE_BROWSER_WEBGPU_SUITES=0 skips both.
if [[ "${KITE_BROWSER_WEBGPU_SUITES:-1}" == "1" ]]; then
  KITE_SHARED="$shared" tests/browser/webgpu/prepare_models.sh "$native/kite-convert" "$out/webgpu-models" >/dev/null
  node tests/browser/webgpu/run.mjs --require-wasm \
    --wasm-dir "$(realpath --relative-to="$repo" "$wasm_build")/platforms/wasm" \
    --models-dir "$(realpath --relative-to="$repo" "$out")/webgpu-models"
  # The same suites on Mesa's lavapipe (tests/browser/webgpu/lavapipe/README.md), the one adapter here
  # with shader-f16: adds the f16 KV cache runs. KITE_BROWSER_LAVAPIPE=0 skips it.
  if [[ "${KITE_BROWSER_LAVAPIPE:-1}" == "1" ]]; then
    node tests/browser/webgpu/run.mjs --adapter lavapipe --require-f16 --require-wasm \
      --work-dir "$(realpath --relative-to="$repo" "$out")/lavapipe" \
      --wasm-dir "$(realpath --relative-to="$repo" "$wasm_build")/platforms/wasm" \
      --models-dir "$(realpath --relative-to="$repo" "$out")/webgpu-models"
  fi
fi
