#!/usr/bin/env bash
# Installs the Debian packages Kite builds and tests with. Safe to run again.
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libflatbuffers-dev flatbuffers-compiler nlohmann-json3-dev libpcre2-dev libutf8proc-dev libxxhash-dev
  libgtest-dev libbenchmark-dev python3-numpy libxnnpack-dev libpthreadpool-dev libcpuinfo-dev
  emscripten  # the wasm build (platforms/wasm); its tests run under the installed node
  clang-19    # compiles the relaxed-SIMD wasm kernels (emscripten's clang-14 cannot; kernels/CMakeLists.txt)
  chromium    # browser end-to-end tests and benchmarks (tests/browser, benchmarks/web), driven by npm playwright-core
  mesa-vulkan-drivers libvulkan-dev  # lavapipe as a WebGPU adapter with shader-f16 (tests/browser/webgpu/lavapipe)
)
if [[ "${KITE_CROSS:-1}" == "1" ]]; then
  PACKAGES+=(g++-aarch64-linux-gnu qemu-user)
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
