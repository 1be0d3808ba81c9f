// Baseline ARMv8-A NEON gemm kernels (every aarch64 CPU has them): the float
// kernels of every aarch64 kernel set, the integer kernels of CPUs without
// dotprod (Cortex-A53/A72), and the activation quantizer.
//
// Tiles: 1 x 4 for decode (two accumulator sets to hide FMA latency), 4 x 4
// for prefill (16 accumulators of the 32 vector registers).
// Integer dot products without sdot: vmull_s8 + vmlal_high_s8 add two
// products per int16 lane (|w x| <= 128 * 127, so |sum| <= 32512: exact, as
// the activation quantizer never makes -128), then vpadalq_s16 widens.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/cpu/neon/neon_common.h"
#include "kernels/gemm_microkernels.h"
#include "kernels/gemm_tiling.h"
#include "kernels/quant_formats.h"

namespace kite {
namespace kernels {
namespace {

enum FloatFormat { kF32, kF16, kBf16 };

// 8 weights from p as two f32 vectors (f16 and bf16 widen exactly).
KITE_NEON_INLINE void LoadWeights8(const void* p, const int format, float32x4_t* lo, float32x4_t* hi) {
  if (format == kF32) {
    *lo = vld1q_f32(static_cast<const float*>(p));
    *hi = vld1q_f32(static_cast<const float*>(p) + 4);
    return;
  }
  const uint16x8_t bits = vld1q_u16(static_cast<const uint16_t*>(p));
  if (format == kF16) {
    const float16x8_t h = vreinterpretq_f16_u16(bits);
    *lo = vcvt_f32_f16(vget_low_f16(h));
    *hi = vcvt_high_f32_f16(h);
  } else {
    *lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(bits), 16));
    *hi = vreinterpretq_f32_u32(vshll_high_n_u16(bits, 16));
  }
}

KITE_NEON_INLINE float LoadWeight1(const void* p, int64_t i, const int format) {
  if (format == kF32) return static_cast<const float*>(p)[i];
  const uint16_t bits = static_cast<const uint16_t*>(p)[i];
  if (format == kF16) return neon::HalfToFloat(bits);
  return vgetq_lane_f32(vreinterpretq_f32_u32(vshll_n_u16(vdup_n_u16(bits), 16)), 0);
}

// out[i * tn + j] = sum_k xr[i][k] * wr[j][k].
KITE_NEON_INLINE void FloatDotTile(const int tm, const int tn, const int format, const float* const* xr,
                                   const char* const* wr, int64_t k, float* out) {
  const int64_t element_bytes = format == kF32 ? 4 : 2;
  // A 1-row tile has only tn FMA chains: separate accumulators for the two halves of each step.
  const int halves = tm == 1 ? 2 : 1;
  float32x4_t acc[2][4][4];
  for (int h = 0; h < halves; ++h)
    for (int i = 0; i < tm; ++i)
      for (int j = 0; j < tn; ++j) acc[h][i][j] = vdupq_n_f32(0.0f);
  int64_t c = 0;
  for (; c + 8 <= k; c += 8) {
    float32x4_t w_lo[4], w_hi[4];
    for (int j = 0; j < tn; ++j) LoadWeights8(wr[j] + c * element_bytes, format, &w_lo[j], &w_hi[j]);
    for (int i = 0; i < tm; ++i) {
      const float32x4_t x_lo = vld1q_f32(xr[i] + c), x_hi = vld1q_f32(xr[i] + c + 4);
      for (int j = 0; j < tn; ++j) {
        acc[0][i][j] = vfmaq_f32(acc[0][i][j], x_lo, w_lo[j]);
        acc[halves - 1][i][j] = vfmaq_f32(acc[halves - 1][i][j], x_hi, w_hi[j]);
      }
    }
  }
  for (int i = 0; i < tm; ++i) {
    for (int j = 0; j < tn; ++j) {
      float32x4_t v = acc[0][i][j];
      if (halves == 2) v = vaddq_f32(v, acc[1][i][j]);
      float sum = vaddvq_f32(v);
      for (int64_t r = c; r < k; ++r) sum += xr[i][r] * LoadWeight1(wr[j], r, format);
      out[i * tn + j] = sum;
    }
  }
}

KITE_NEON_INLINE void FloatTile(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr, const int tm,
                                const int tn, const int format) {
  const GemmArgs& a = *t.args;
  const float* xr[4];
  const char* wr[4];
  for (int i = 0; i < tm; ++i) xr[i] = static_cast<const float*>(t.x) + (m0 + (i < mr ? i : mr - 1)) * a.k;
  for (int j = 0; j < tn; ++j) wr[j] = static_cast<const char*>(t.w) + (n0 + (j < nr ? j : nr - 1)) * t.w_row_bytes;
  float out[16];
  FloatDotTile(tm, tn, format, xr, wr, a.k, out);
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) a.y[(m0 + i) * a.ldy + n0 + j] = out[i * tn + j];
}

#define KITE_FLOAT_TILE(name, tm, tn, format)                          \
  void name(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr) { \
    FloatTile(t, m0, mr, n0, nr, tm, tn, format);                        \
  }
KITE_FLOAT_TILE(F32Tile1x4, 1, 4, kF32)
KITE_FLOAT_TILE(F32Tile4x4, 4, 4, kF32)
KITE_FLOAT_TILE(F16Tile1x4, 1, 4, kF16)
KITE_FLOAT_TILE(F16Tile4x4, 4, 4, kF16)
KITE_FLOAT_TILE(Bf16Tile1x4, 1, 4, kBf16)
KITE_FLOAT_TILE(Bf16Tile4x4, 4, 4, kBf16)
#undef KITE_FLOAT_TILE

// w . x of one 32-column block without sdot (see the file comment for why int16 cannot overflow).
KITE_NEON_INLINE int32x4_t BlockDotMull(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
  int16x8_t p0 = vmull_s8(vget_low_s8(w0), vget_low_s8(x0));
  p0 = vmlal_high_s8(p0, w0, x0);
  int16x8_t p1 = vmull_s8(vget_low_s8(w1), vget_low_s8(x1));
  p1 = vmlal_high_s8(p1, w1, x1);
  return vpadalq_s16(vpaddlq_s16(p0), p1);
}

}  // namespace

#define KITE_NEON_TARGET
#define KITE_NEON_BLOCK_DOT(w0, w1, x0, x1) BlockDotMull(w0, w1, x0, x1)
#include "kernels/cpu/neon/neon_quant_tile.inc"
#undef KITE_NEON_BLOCK_DOT
#undef KITE_NEON_TARGET

void f32_gemm_f32__neon(const GemmArgs& a, const float* w, const float* x) {
  RunGemmTiles(MakeFloatGemmTile(a, w, 4, x), GemmTiling{F32Tile1x4, 4, F32Tile4x4, 4, 4});
}

void f16_gemm_f32__neon(const GemmArgs& a, const uint16_t* w, const float* x) {
  RunGemmTiles(MakeFloatGemmTile(a, w, 2, x), GemmTiling{F16Tile1x4, 4, F16Tile4x4, 4, 4});
}

void bf16_gemm_f32__neon(const GemmArgs& a, const uint16_t* w, const float* x) {
  RunGemmTiles(MakeFloatGemmTile(a, w, 2, x), GemmTiling{Bf16Tile1x4, 4, Bf16Tile4x4, 4, 4});
}

void qs8_gemm_f32__neon(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                        const float* x_scales) {
  RunGemmTiles(MakeQuantGemmTile(a, w, w_scales, 0, xq, x_scales), GemmTiling{Qs8Tile1x4, 4, Qs8Tile4x4, 4, 4});
}

void qs4_gemm_f32__neon(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16, int64_t group_size,
                        const int8_t* xq, const float* x_scales) {
  const GemmTile t = MakeQuantGemmTile(a, w, w_scales_f16, group_size, xq, x_scales);
  RunGemmTiles(t, GemmTiling{Qs4Tile1x4, 4, Qs4Tile4x4, 4, 4});
}

// Same arithmetic as f32_qd8_quantize__scalar: vcvtnq rounds to nearest with ties to even, like
// nearbyint in the default rounding mode, so both produce identical bytes.
void f32_qd8_quantize__neon(const float* x, int64_t m, int64_t k, int8_t* xq, float* x_scales) {
  const int64_t k_pad = (k + 31) / 32 * 32;
  const int64_t blocks = k_pad / 32;
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t c0 = b * 32;
      const float* src = x + r * k + c0;
      float padded[32];
      if (k - c0 < 32) {  // the last block of a row with K % 32 != 0: pad with zeros
        for (int64_t j = 0; j < 32; ++j) padded[j] = c0 + j < k ? src[j] : 0.0f;
        src = padded;
      }
      float32x4_t v[8];
      float32x4_t abs_max = vdupq_n_f32(0.0f);
      for (int j = 0; j < 8; ++j) {
        v[j] = vld1q_f32(src + 4 * j);
        abs_max = vmaxq_f32(abs_max, vabsq_f32(v[j]));
      }
      const float max_value = vmaxvq_f32(abs_max);
      int8_t* dst = xq + r * k_pad + c0;
      if (!(max_value >= kQ8ActivationMinAbsMax)) {
        x_scales[r * blocks + b] = 0.0f;
        vst1q_s8(dst, vdupq_n_s8(0));
        vst1q_s8(dst + 16, vdupq_n_s8(0));
        continue;
      }
      x_scales[r * blocks + b] = max_value / 127.0f;
      const float inv_scale = 127.0f / max_value;
      int16x8_t q16[4];
      for (int j = 0; j < 4; ++j) {
        const int32x4_t lo = vcvtnq_s32_f32(vmulq_n_f32(v[2 * j], inv_scale));
        const int32x4_t hi = vcvtnq_s32_f32(vmulq_n_f32(v[2 * j + 1], inv_scale));
        q16[j] = vcombine_s16(vqmovn_s32(lo), vqmovn_s32(hi));
      }
      vst1q_s8(dst, vcombine_s8(vqmovn_s16(q16[0]), vqmovn_s16(q16[1])));
      vst1q_s8(dst + 16, vcombine_s8(vqmovn_s16(q16[2]), vqmovn_s16(q16[3])));
    }
  }
}

}  // namespace kernels
}  // namespace kite
