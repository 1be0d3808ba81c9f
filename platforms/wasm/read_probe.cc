// kite_wasm_read_gbps: how fast this module's thread reads its own heap, the roofline of wasm
// decode (benchmarks/wasm/bench.cjs prints decode's fraction of it, as `kite bench` does natively).
// wasm has no prefetch instruction and the browser decides the heap's page size, so this can be well
// below what native code reads on the same machine (platforms/wasm/README.md has figures).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "platforms/wasm/kite_wasm_api.h"

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

namespace {

// Sums the buffer's 16-byte words as f32x4 in 8 independent accumulators (the add latency hidden),
// so the loop waits on memory only. kStreams > 1 reads the buffer as that many interleaved
// sequential streams, 128 bytes of each in turn, as wasm decode reads its weight rows
// (kernels/cpu/wasm/gemm_wasm.cc): one stream read 7-9 GB/s and four 12-16 on an Intel Xeon VM.
template <int kStreams>
float SumWords(const uint8_t* p, size_t bytes) {
  constexpr size_t kStep = 128;
  const size_t part = bytes / (kStreams * kStep) * kStep;
#if defined(__wasm_simd128__)
  v128_t a[8];
  for (v128_t& v : a) v = wasm_f32x4_splat(0.0f);
  for (size_t i = 0; i < part; i += kStep) {
    for (int s = 0; s < kStreams; ++s) {
      const uint8_t* q = p + s * part + i;
      for (int k = 0; k < 8; ++k) a[k] = wasm_f32x4_add(a[k], wasm_v128_load(q + 16 * k));
    }
  }
  for (int k = 1; k < 8; ++k) a[0] = wasm_f32x4_add(a[0], a[k]);
  return wasm_f32x4_extract_lane(a[0], 0) + wasm_f32x4_extract_lane(a[0], 1) + wasm_f32x4_extract_lane(a[0], 2) +
         wasm_f32x4_extract_lane(a[0], 3);
#else
  float a[8] = {};
  for (size_t i = 0; i < part; i += kStep) {
    for (int s = 0; s < kStreams; ++s) {
      for (size_t k = 0; k < kStep; k += 4) {
        float f;
        std::memcpy(&f, p + s * part + i + k, 4);
        a[(k / 4) & 7] += f;
      }
    }
  }
  return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
#endif
}

}  // namespace

extern "C" KITE_WASM_EXPORT double kite_wasm_read_gbps(int megabytes, int passes) {
  if (megabytes <= 0 || megabytes > 1024 || passes <= 0) return -1.0;
  const size_t bytes = static_cast<size_t>(megabytes) << 20;
  uint8_t* buffer = static_cast<uint8_t*>(std::malloc(bytes));
  if (buffer == nullptr) return -1.0;
  std::memset(buffer, 0, bytes);  // commits the pages before the timed passes
  double best = 0.0;
  volatile float sink = 0.0f;  // keeps the sums
  for (int pass = 0; pass < 2 * passes; ++pass) {  // each pass of each way of reading
    const auto start = std::chrono::steady_clock::now();
    sink = sink + (pass % 2 == 0 ? SumWords<1>(buffer, bytes) : SumWords<4>(buffer, bytes));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (seconds > 0 && bytes / seconds / 1e9 > best) best = bytes / seconds / 1e9;
  }
  std::free(buffer);
  return best;
}
