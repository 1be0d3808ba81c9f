#include "converter/gguf/ggml_blocks.h"

#include <cmath>
#include <cstring>

#include "kernels/quantize.h"

namespace kite {
namespace gguf {
namespace {

void StoreHalf(uint8_t* out, float value) {
  const uint16_t h = kernels::FloatToHalf(value);
  std::memcpy(out, &h, sizeof(h));  // little-endian, unaligned inside the block
}

}  // namespace

void QuantizeRowQ8_0(const float* x, int64_t k, uint8_t* out) {
  for (int64_t b = 0; b < k / kQuantBlockElements; ++b, x += kQuantBlockElements, out += kQ8_0BlockBytes) {
    float amax = 0.0f;
    for (int i = 0; i < kQuantBlockElements; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    StoreHalf(out, d);
    auto* q = reinterpret_cast<int8_t*>(out + 2);
    for (int i = 0; i < kQuantBlockElements; ++i) q[i] = static_cast<int8_t>(std::lround(x[i] * inv_d));
  }
}

void QuantizeRowQ4_0(const float* x, int64_t k, uint8_t* out) {
  constexpr int kHalf = kQuantBlockElements / 2;
  for (int64_t b = 0; b < k / kQuantBlockElements; ++b, x += kQuantBlockElements, out += kQ4_0BlockBytes) {
    float amax = 0.0f, extreme = 0.0f;  // extreme: the signed value of largest magnitude
    for (int i = 0; i < kQuantBlockElements; ++i) {
      if (std::fabs(x[i]) > amax) {
        amax = std::fabs(x[i]);
        extreme = x[i];
      }
    }
    const float d = extreme / -8.0f;
    const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    StoreHalf(out, d);
    uint8_t* q = out + 2;
    for (int i = 0; i < kHalf; ++i) {
      // +8.5 then truncation rounds to nearest on the shifted [0, 16] range; 16 (only
      // reachable from the far end) is clamped to 15.
      const int lo = static_cast<int>(static_cast<int8_t>(x[i] * inv_d + 8.5f));
      const int hi = static_cast<int>(static_cast<int8_t>(x[i + kHalf] * inv_d + 8.5f));
      q[i] = static_cast<uint8_t>((lo < 15 ? lo : 15) | ((hi < 15 ? hi : 15) << 4));
    }
  }
}

void ConvertRowF16(const float* x, int64_t k, uint16_t* out) {
  for (int64_t i = 0; i < k; ++i) out[i] = kernels::FloatToHalf(x[i]);
}

}  // namespace gguf
}  // namespace kite
