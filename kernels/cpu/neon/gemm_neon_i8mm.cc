// Integer gemm kernels with smmla (ARMv8.6 i8mm; Cortex-A510/A710/X2, Apple M2 and later) for
// prefill, and sdot (which every i8mm CPU has) for decode and leftover rows.
//
// smmla multiplies a 2x8 int8 block of activations by the transpose of a 2x8 block of weights
// into a 2x2 int32 tile: one instruction does the work of four sdot lanes x 2. A 4x4 output tile
// is 2x2 such tiles; per 32-column block each needs 4 smmla (8 columns each), with the rows of a
// pair interleaved 8 bytes at a time (zip of 64-bit lanes). Only worth it for M >= 2: with one
// activation row half of every smmla would be wasted.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/cpu/neon/neon_common.h"
#include "kernels/gemm_microkernels.h"
#include "kernels/gemm_tiling.h"

#define KITE_NEON_TARGET __attribute__((target("arch=armv8.6-a+i8mm")))

namespace kite {
namespace kernels {
namespace {

KITE_NEON_TARGET KITE_NEON_INLINE int32x4_t BlockDotSdot(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
  return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0), w1, x1);
}

}  // namespace

// The sdot tiles (Qs8Tile1x4 ...), compiled for this file's target.
#define KITE_NEON_BLOCK_DOT(w0, w1, x0, x1) BlockDotSdot(w0, w1, x0, x1)
#include "kernels/cpu/neon/neon_quant_tile.inc"
#undef KITE_NEON_BLOCK_DOT

namespace {

// Rows a and b interleaved 8 bytes at a time: {a[0..7], b[0..7]} and {a[8..15], b[8..15]}.
KITE_NEON_TARGET KITE_NEON_INLINE void ZipRows(int8x16_t a, int8x16_t b, int8x16_t* first, int8x16_t* second) {
  *first = vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
  *second = vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b)));
}

// A 4x4 tile: acc[p][q] holds {x(2p).w(2q), x(2p).w(2q+1), x(2p+1).w(2q), x(2p+1).w(2q+1)}, the
// layout smmla produces. out[i * 4 + j] as in neon_quant_tile.inc (Q8 row scale applied later).
KITE_NEON_TARGET KITE_NEON_INLINE void I8mmDotTile(const bool q4, const neon::QuantTileRows& r, int64_t blocks,
                                                   int64_t blocks_per_group, float* out) {
  float32x4_t acc[2][2];
  for (int p = 0; p < 2; ++p)
    for (int q = 0; q < 2; ++q) acc[p][q] = vdupq_n_f32(0.0f);
  const int64_t step = q4 ? blocks_per_group : blocks;
  for (int64_t b0 = 0; b0 < blocks; b0 += step) {
    float32x4_t w_scale[2] = {vdupq_n_f32(1.0f), vdupq_n_f32(1.0f)};  // {w(2q), w(2q+1), w(2q), w(2q+1)}
    if (q4) {
      for (int q = 0; q < 2; ++q) {
        const int64_t g = b0 / blocks_per_group;
        const float32x2_t pair = {neon::HalfToFloat(r.w_scales[2 * q][g]), neon::HalfToFloat(r.w_scales[2 * q + 1][g])};
        w_scale[q] = vcombine_f32(pair, pair);
      }
    }
    const int64_t b_end = b0 + step < blocks ? b0 + step : blocks;
    for (int64_t b = b0; b < b_end; ++b) {
      int8x16_t w[2][4];  // [pair q][8-column chunk]
      for (int q = 0; q < 2; ++q) {
        int8x16_t lo0, hi0, lo1, hi1;  // columns 0..15 and 16..31 of rows 2q and 2q + 1
        if (q4) {
          neon::UnpackQ4Block(r.w[2 * q] + b * 16, &lo0, &hi0);
          neon::UnpackQ4Block(r.w[2 * q + 1] + b * 16, &lo1, &hi1);
        } else {
          lo0 = vld1q_s8(reinterpret_cast<const int8_t*>(r.w[2 * q]) + b * 32);
          hi0 = vld1q_s8(reinterpret_cast<const int8_t*>(r.w[2 * q]) + b * 32 + 16);
          lo1 = vld1q_s8(reinterpret_cast<const int8_t*>(r.w[2 * q + 1]) + b * 32);
          hi1 = vld1q_s8(reinterpret_cast<const int8_t*>(r.w[2 * q + 1]) + b * 32 + 16);
        }
        ZipRows(lo0, lo1, &w[q][0], &w[q][1]);
        ZipRows(hi0, hi1, &w[q][2], &w[q][3]);
      }
      for (int p = 0; p < 2; ++p) {
        const int8_t* x0 = r.x[2 * p] + b * 32;
        const int8_t* x1 = r.x[2 * p + 1] + b * 32;
        int8x16_t x[4];
        ZipRows(vld1q_s8(x0), vld1q_s8(x1), &x[0], &x[1]);
        ZipRows(vld1q_s8(x0 + 16), vld1q_s8(x1 + 16), &x[2], &x[3]);
        const float32x4_t x_scale =
            vcombine_f32(vdup_n_f32(r.x_scales[2 * p][b]), vdup_n_f32(r.x_scales[2 * p + 1][b]));
        for (int q = 0; q < 2; ++q) {
          int32x4_t dot = vdupq_n_s32(0);
          for (int c = 0; c < 4; ++c) dot = vmmlaq_s32(dot, x[c], w[q][c]);
          acc[p][q] = vfmaq_f32(acc[p][q], vcvtq_f32_s32(dot), vmulq_f32(x_scale, w_scale[q]));
        }
      }
    }
  }
  for (int p = 0; p < 2; ++p) {
    for (int q = 0; q < 2; ++q) {
      float lanes[4];
      vst1q_f32(lanes, acc[p][q]);
      for (int l = 0; l < 4; ++l) out[(2 * p + (l >> 1)) * 4 + 2 * q + (l & 1)] = lanes[l];
    }
  }
}

KITE_NEON_TARGET KITE_NEON_INLINE void I8mmTile(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr,
                                                const bool q4) {
  const neon::QuantTileRows rows = neon::TileRows(t, m0, mr, n0, nr, 4, 4);
  float out[16];
  I8mmDotTile(q4, rows, t.blocks, t.blocks_per_group, out);
  neon::StoreQuantTile(t, m0, mr, n0, nr, 4, q4, out);
}

KITE_NEON_TARGET void Qs8I8mmTile4x4(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr) {
  I8mmTile(t, m0, mr, n0, nr, false);
}
KITE_NEON_TARGET void Qs4I8mmTile4x4(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr) {
  I8mmTile(t, m0, mr, n0, nr, true);
}

}  // namespace

KITE_NEON_TARGET void qs8_gemm_f32__neon_i8mm(const GemmArgs& a, const int8_t* w, const float* w_scales,
                                              const int8_t* xq, const float* x_scales) {
  RunGemmTiles(MakeQuantGemmTile(a, w, w_scales, 0, xq, x_scales), GemmTiling{Qs8Tile1x4, 4, Qs8I8mmTile4x4, 4, 4});
}

KITE_NEON_TARGET void qs4_gemm_f32__neon_i8mm(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                              int64_t group_size, const int8_t* xq, const float* x_scales) {
  const GemmTile t = MakeQuantGemmTile(a, w, w_scales_f16, group_size, xq, x_scales);
  RunGemmTiles(t, GemmTiling{Qs4Tile1x4, 4, Qs4I8mmTile4x4, 4, 4});
}

}  // namespace kernels
}  // namespace kite
