#!/usr/bin/env bash
# Cross-builds the kernels and their tests for aarch64 (-DKITE_KERNELS_ONLY=ON) and runs them under
# qemu-user: through ctest (the toolchain's emulator uses -cpu max: NEON, dotprod and i8mm), then
# directly on three CPU models so every dispatch path runs:
#   cortex-a72  baseline NEON only (the sdot/i8mm code must not be reached: SIGILL otherwise)
#   cortex-a76  NEON + dotprod
#   max         NEON + dotprod + i8mm
# It also cross-tests the XNNPACK prefill wrapper against Debian's arm64 XNNPACK: those packages
# cannot be installed beside the amd64 ones, so they are fetched with `apt-get download` and
# unpacked with `dpkg -x` into a private sysroot ($build/xnnpack-arm64). KITE_AARCH64_XNNPACK=0 skips it.
# Usage: scripts/test_aarch64_kernels.sh [build folder, default build-aarch64]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-aarch64}

if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  echo "installing g++-aarch64-linux-gnu and qemu-user"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++-aarch64-linux-gnu qemu-user >/dev/null
fi

xnnpack_args=()
if [[ "${KITE_AARCH64_XNNPACK:-1}" == "1" ]]; then
  sysroot="$build/xnnpack-arm64"
  if [[ ! -f "$sysroot/usr/include/xnnpack.h" ]]; then
    echo "fetching Debian's arm64 XNNPACK, pthreadpool and cpuinfo into $sysroot"
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then dpkg --add-architecture arm64; fi
    apt-get update -qq
    debs="$build/xnnpack-debs"
    rm -rf "$debs" && mkdir -p "$debs" "$sysroot"
    # apt-get download writes into the current folder; _apt cannot, root does (its warning is harmless).
    (cd "$debs" && apt-get download -qq libxnnpack-dev:arm64 libxnnpack0:arm64 libpthreadpool-dev:arm64 \
      libpthreadpool0:arm64 libcpuinfo-dev:arm64 libcpuinfo0:arm64 2>&1 | grep -v 'unsandboxed' || true)
    for deb in "$debs"/*.deb; do dpkg -x "$deb" "$sysroot"; done
  fi
  xnnpack_args=(-DKITE_XNNPACK_SYSROOT="$sysroot")
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$root/platforms/toolchains/aarch64.cmake" -DKITE_KERNELS_ONLY=ON -DKITE_WERROR=ON \
  "${xnnpack_args[@]}"
cmake --build "$build" -j "$(nproc)"
(cd "$build" && ctest --output-on-failure)

binary=$(find "$build" -name kite_kernel_tests -type f -perm -u+x | head -n 1)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
for cpu in cortex-a72 cortex-a76 max; do
  echo "=== qemu-aarch64 -cpu $cpu"
  rc=0
  qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu "$cpu" "$binary" >"$log" 2>&1 || rc=$?
  grep -E "kernel sets|passed|FAILED|:[0-9]+: " "$log" || true
  if [ "$rc" -ne 0 ]; then
    echo "exit status $rc on -cpu $cpu"
    status=1
  fi
done
exit $status
