#!/usr/bin/env bash
# Kite vs llama.cpp on the Qwen2.5-0.5B-shaped random checkpoint (benchmarks/peer/README.md).
#
#   scripts/peer_bench.sh [compare.mjs options...]     e.g. --threads 2 --reps 3 --rounds 2
#
# 1. installs node-llama-cpp and its prebuilt linux-x64 CPU binary from npm into
#    benchmarks/peer/node_modules: optional packages (CUDA/Vulkan/other platforms) and install
#    scripts are skipped, so nothing is downloaded besides those npm packages and nothing is built;
# 2. builds kite, kite-convert and kite-export-gguf in $KITE_BUILD (default build-peer);
# 3. writes the checkpoint with ../shared/tools/make_random_checkpoint.py if it is missing;
# 4. runs benchmarks/peer/compare.mjs, which prints the markdown table.
#
# Environment: KITE_BUILD (build folder), KITE_SHARED_DIR (../shared), PEER_CHECKPOINT (a Hugging
# Face folder to use instead), PEER_CONFIG (a config from shared/models/configs, default
# qwen2.5-0.5b.json), PEER_TOKENIZER_DIR (tokenizer files for it, default
# shared/models/tokenizers/qwen2.5), PEER_JOBS (ninja -j, default 2).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
shared="${KITE_SHARED_DIR:-$(cd "$repo/.." && pwd)/shared}"
build="${KITE_BUILD:-$repo/build-peer}"
config="${PEER_CONFIG:-qwen2.5-0.5b.json}"
checkpoint="${PEER_CHECKPOINT:-$build/peer/$(basename "$config" .json)}"
jobs="${PEER_JOBS:-2}"
stage() { printf '\n==== %s ====\n' "$*" >&2; }

command -v node >/dev/null || { echo "error: node (>= 20) is needed" >&2; exit 1; }
command -v npm >/dev/null || { echo "error: npm is needed" >&2; exit 1; }

stage "npm packages (node-llama-cpp, prebuilt binary only)"
# --omit=optional: node-llama-cpp lists every platform's binary (CUDA ones are hundreds of MB) as
# optional; package.json names the linux-x64 one directly. --ignore-scripts and
# NODE_LLAMA_CPP_SKIP_DOWNLOAD: its postinstall would otherwise try to fetch or build llama.cpp
# when no prebuilt binary fits. `npm install` (not `npm ci`) because npm leaves other platforms'
# optional packages out of the lockfile and `npm ci` then refuses it; the lockfile pins the rest.
(cd "$repo/benchmarks/peer" &&
  NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error)

stage "build kite, kite-convert, kite-export-gguf in $build"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKITE_SHARED_DIR="$shared" >/dev/null
fi
ninja -C "$build" -j "$jobs" kite kite-convert kite-export-gguf

if [[ ! -f "$checkpoint/config.json" ]]; then
  stage "random checkpoint $checkpoint"
  tokenizer_dir="${PEER_TOKENIZER_DIR:-$shared/models/tokenizers/qwen2.5}"
  mkdir -p "$(dirname "$checkpoint")"
  /usr/bin/python3 "$shared/tools/make_random_checkpoint.py" "$shared/models/configs/$config" "$checkpoint.tmp" \
    --tokenizer-dir "$tokenizer_dir"
  mv "$checkpoint.tmp" "$checkpoint"
fi

stage "compare (model files are written next to the build, in $build/peer)"
exec node "$repo/benchmarks/peer/compare.mjs" --hf "$checkpoint" --build "$build" --work "$build/peer" "$@"
