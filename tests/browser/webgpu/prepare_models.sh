#!/bin/sh
# Converts the models the `wasm` suite of run.mjs compares on (WebGPU vs the wasm CPU engine)
# into OUT_DIR (default build-w3/webgpu-models). Needs a native kite-convert:
#   cmake -S . -B build-w3 -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build-w3 kite-convert
#   tests/browser/webgpu/prepare_models.sh [KITE_CONVERT] [OUT_DIR]
set -eu
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
CONVERT=${1:-$ROOT/build-w3/kite-convert}
OUT=${2:-$ROOT/build-w3/webgpu-models}
SHARED=${KITE_SHARED:-$ROOT/../shared}
mkdir -p "$OUT"
convert() {  # name hf_dir quant [extra...]
  name=$1; dir=$2; quant=$3; shift 3
  if [ ! -s "$OUT/$name.kite" ]; then
    "$CONVERT" "$dir" -o "$OUT/$name.kite" --quant "$quant" --quiet "$@"
  fi
}
for q in f32 q8 q4; do convert "stories260K-$q" "$SHARED/models/stories260K/hf" "$q"; done
convert stories260K-f16 "$SHARED/models/stories260K/hf" f16
convert stories260K-q4g64 "$SHARED/models/stories260K/hf" q4 --group-size 64
for m in llama qwen2 qwen3 gemma3 gpt2; do
  convert "random-$m-f32" "$SHARED/models/random/$m" f32 --no-tokenizer
  convert "random-$m-q8" "$SHARED/models/random/$m" q8 --no-tokenizer
done
convert random-gemma3_softcap-f32 "$SHARED/models/random/gemma3_softcap" f32 --no-tokenizer
convert tiny-random-gpt2-f16 "$SHARED/models/tiny-random-gpt2" f16 --no-tokenizer
ls -la "$OUT"
