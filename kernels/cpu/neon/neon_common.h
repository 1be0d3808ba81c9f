// Helpers shared by the aarch64 kernel files. Everything is static (one copy
// per file, never merged across files) and uses baseline ARMv8-A NEON only, so
// it can be inlined into the dotprod/i8mm functions (which add features) and
// into baseline ones alike.
#pragma once

#include <arm_neon.h>

#include <cstdint>

#include "kernels/gemm_tiling.h"

#define KITE_NEON_INLINE static inline __attribute__((always_inline))

namespace kite {
namespace kernels {
namespace neon {

KITE_NEON_INLINE float HalfToFloat(uint16_t bits) {
  return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(bits))), 0);
}

// 32 Q4 codes of one block (16 bytes) as signed bytes in [-8, 7]: low nibbles are columns 0..15,
// high nibbles columns 16..31.
KITE_NEON_INLINE void UnpackQ4Block(const uint8_t* p, int8x16_t* lo, int8x16_t* hi) {
  const uint8x16_t raw = vld1q_u8(p);
  const int8x16_t eight = vdupq_n_s8(8);
  *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0f))), eight);
  *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight);
}

// The rows of one quantized tile: activation rows m0.. and weight rows n0.., the last real one
// repeated to fill a partial tile (its results are computed and dropped).
struct QuantTileRows {
  const int8_t* x[4];
  const float* x_scales[4];
  const uint8_t* w[4];
  const uint16_t* w_scales[4];  // Q4 only
};

KITE_NEON_INLINE QuantTileRows TileRows(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr, const int tm,
                                        const int tn) {
  QuantTileRows r;
  for (int i = 0; i < tm; ++i) {
    const int64_t m = m0 + (i < mr ? i : mr - 1);
    r.x[i] = static_cast<const int8_t*>(t.x) + m * t.x_row_elements;
    r.x_scales[i] = t.x_scales + m * t.blocks;
  }
  for (int j = 0; j < tn; ++j) {
    const int64_t n = n0 + (j < nr ? j : nr - 1);
    r.w[j] = static_cast<const uint8_t*>(t.w) + n * t.w_row_bytes;
    r.w_scales[j] = static_cast<const uint16_t*>(t.w_scales) + n * t.w_scales_per_row;
  }
  return r;
}

// Writes out[i * tn + j] for the real rows and columns; Q8 results still need the row scale.
KITE_NEON_INLINE void StoreQuantTile(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr, const int tn,
                                     const bool q4, const float* out) {
  const GemmArgs& a = *t.args;
  const float* row_scales = static_cast<const float*>(t.w_scales);
  for (int i = 0; i < mr; ++i) {
    for (int j = 0; j < nr; ++j) {
      const float v = out[i * tn + j];
      a.y[(m0 + i) * a.ldy + n0 + j] = q4 ? v : v * row_scales[n0 + j];
    }
  }
}

}  // namespace neon
}  // namespace kernels
}  // namespace kite
