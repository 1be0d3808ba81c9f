// WebAssembly SIMD128 gemm kernels for float weights (f32, f16, bf16): 1 x 4 tiles for decode, 4 x 4
// for prefill, through kernels/gemm_tiling.h. f16 weights widen exactly with integer shifts and one
// multiply by 2^112 (wasm_common.h), bf16 with a 16-bit shift. Baseline wasm SIMD has no FMA: mul +
// add. The relaxed-SIMD kernel set (gemm_wasm.cc) uses these as they are.
#include <cstdint>

#include "kernels/cpu/wasm/wasm_common.h"
#include "kernels/gemm_microkernels.h"
#include "kernels/gemm_tiling.h"
#include "kernels/quantize.h"

// The tile loops run over compile-time tile shapes and must be fully unrolled: a rolled loop keeps
// the accumulators in memory (measured 2.5x slower in V8). Hence the unroll pragmas.

namespace kite {
namespace kernels {
namespace {

enum FloatFormat { kF32, kF16, kBf16 };

using wasm::HalfLanesToFloat;
using wasm::HorizontalSum;

KITE_WASM_INLINE void LoadWeights8(const void* p, const int format, v128_t* lo, v128_t* hi) {
  if (format == kF32) {
    *lo = wasm_v128_load(p);
    *hi = wasm_v128_load(static_cast<const float*>(p) + 4);
    return;
  }
  const v128_t bits = wasm_v128_load(p);
  if (format == kF16) {
    *lo = HalfLanesToFloat(wasm_u32x4_extend_low_u16x8(bits));
    *hi = HalfLanesToFloat(wasm_u32x4_extend_high_u16x8(bits));
  } else {
    *lo = wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(bits), 16);
    *hi = wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(bits), 16);
  }
}

KITE_WASM_INLINE float LoadWeight1(const void* p, int64_t i, const int format) {
  if (format == kF32) return static_cast<const float*>(p)[i];
  const uint16_t bits = static_cast<const uint16_t*>(p)[i];
  return format == kF16 ? HalfToFloat(bits) : Bf16ToFloat(bits);
}

// out[i * tn + j] = sum_k xr[i][k] * wr[j][k].
KITE_WASM_INLINE void FloatDotTile(const int tm, const int tn, const int format, const float* const* xr,
                                   const char* const* wr, int64_t k, float* out) {
  const int64_t element_bytes = format == kF32 ? 4 : 2;
  const int halves = tm == 1 ? 2 : 1;  // a 1-row tile keeps two accumulators per column
  v128_t acc[2][4][4];
  _Pragma("clang loop unroll(full)")
  for (int h = 0; h < halves; ++h)
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < tm; ++i)
      _Pragma("clang loop unroll(full)")
      for (int j = 0; j < tn; ++j) acc[h][i][j] = wasm_f32x4_splat(0.0f);
  int64_t c = 0;
  for (; c + 8 <= k; c += 8) {
    v128_t w_lo[4], w_hi[4];
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < tn; ++j) LoadWeights8(wr[j] + c * element_bytes, format, &w_lo[j], &w_hi[j]);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < tm; ++i) {
      const v128_t x_lo = wasm_v128_load(xr[i] + c), x_hi = wasm_v128_load(xr[i] + c + 4);
      _Pragma("clang loop unroll(full)")
      for (int j = 0; j < tn; ++j) {
        acc[0][i][j] = wasm_f32x4_add(acc[0][i][j], wasm_f32x4_mul(x_lo, w_lo[j]));
        acc[halves - 1][i][j] = wasm_f32x4_add(acc[halves - 1][i][j], wasm_f32x4_mul(x_hi, w_hi[j]));
      }
    }
  }
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < tm; ++i) {
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < tn; ++j) {
      v128_t v = acc[0][i][j];
      if (halves == 2) v = wasm_f32x4_add(v, acc[1][i][j]);
      float sum = HorizontalSum(v);
      for (int64_t r = c; r < k; ++r) sum += xr[i][r] * LoadWeight1(wr[j], r, format);
      out[i * tn + j] = sum;
    }
  }
}

KITE_WASM_INLINE void FloatTile(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr, const int tm, const int tn,
                                const int format) {
  const GemmArgs& a = *t.args;
  const float* xr[4];
  const char* wr[4];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < tm; ++i) xr[i] = static_cast<const float*>(t.x) + (m0 + (i < mr ? i : mr - 1)) * a.k;
  _Pragma("clang loop unroll(full)")
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

}  // namespace

void f32_gemm_f32__wasm_simd128(const GemmArgs& a, const float* w, const float* x) {
  RunGemmTiles(MakeFloatGemmTile(a, w, 4, x), GemmTiling{F32Tile1x4, 4, F32Tile4x4, 4, 4});
}

void f16_gemm_f32__wasm_simd128(const GemmArgs& a, const uint16_t* w, const float* x) {
  RunGemmTiles(MakeFloatGemmTile(a, w, 2, x), GemmTiling{F16Tile1x4, 4, F16Tile4x4, 4, 4});
}

void bf16_gemm_f32__wasm_simd128(const GemmArgs& a, const uint16_t* w, const float* x) {
  RunGemmTiles(MakeFloatGemmTile(a, w, 2, x), GemmTiling{Bf16Tile1x4, 4, Bf16Tile4x4, 4, 4});
}

}  // namespace kernels
}  // namespace kite
