#!/usr/bin/env bash
# The README's first command: installs what Kite needs, builds it, converts the
# default model (../shared/models/stories260K/hf) and chats with it.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${KITE_SHARED_DIR:-$(cd .. && pwd)/shared}"
./scripts/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target kite_cli kite-convert kite
mkdir -p models
if [[ ! -f models/stories260K.kite ]]; then
  ./build/kite-convert "$SHARED/models/stories260K/hf" -o models/stories260K.kite --quant f32
fi
echo
echo "Built build/kite and build/kite-convert; converted models/stories260K.kite."
if [[ -t 0 && -t 1 ]]; then
  echo "Chat with it (one line per message, /quit to end). Try: Once upon a time"
  exec ./build/kite run models/stories260K.kite
else
  exec ./build/kite run models/stories260K.kite -p "Once upon a time" --max-tokens 96 --stats
fi
