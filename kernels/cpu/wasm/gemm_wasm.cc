// WebAssembly SIMD128 gemm kernels (the baseline every current browser has; relaxed SIMD is not
// usable with emscripten 3.1.6's clang-14). Same tile structure as the NEON kernels: 1 x 4 tiles
// for decode, 4 x 4 for prefill, both through kernels/gemm_tiling.h.
//
// Integer dot products: i16x8.extend_{low,high}_i8x16_s widens the int8 weights and activations and
// i32x4.dot_i16x8_s multiplies and adds pairs into int32 lanes (V8 lowers it to pmaddwd on x86,
// smull+addp on arm64), exact for int8 inputs. The activations of a tile row are widened once per
// block and reused by the tile's 4 weight columns. Each block's int32 sums become f32 and are scaled
// by the block's activation scale (and Q4's group scale), like the scalar reference; only the f32
// summation order differs from it. Baseline wasm SIMD has no FMA: mul + add.
// f16 weights widen exactly with integer shifts and one multiply by 2^112 (subnormals included;
// Inf/NaN exponents fixed up), bf16 with a 16-bit shift.
#include <cstdint>

#include "kernels/cpu/wasm/wasm_common.h"
#include "kernels/gemm_microkernels.h"
#include "kernels/gemm_tiling.h"
#include "kernels/quant_formats.h"
#include "kernels/quantize.h"

// The tile loops run over compile-time tile shapes and must be fully unrolled: a rolled loop keeps
// the accumulators in memory (measured 2.5x slower in V8). Hence the unroll pragmas.

namespace kite {
namespace kernels {
namespace {

enum FloatFormat { kF32, kF16, kBf16 };

using wasm::HalfLanesToFloat;
using wasm::HorizontalSum;

// 8 weights from p as two f32 vectors.
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

// One 32-column block of activations, widened to int16 once per tile row.
struct WideBlock {
  v128_t q[4];  // columns 0-7, 8-15, 16-23, 24-31
};

KITE_WASM_INLINE WideBlock Widen(const int8_t* p) {
  const v128_t lo = wasm_v128_load(p), hi = wasm_v128_load(p + 16);
  return {{wasm_i16x8_extend_low_i8x16(lo), wasm_i16x8_extend_high_i8x16(lo), wasm_i16x8_extend_low_i8x16(hi),
           wasm_i16x8_extend_high_i8x16(hi)}};
}

// int32 lanes summing to w . x over one block, both widened to int16.
KITE_WASM_INLINE v128_t BlockDot(const WideBlock& w, const WideBlock& x) {
  const v128_t d01 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(w.q[0], x.q[0]), wasm_i32x4_dot_i16x8(w.q[1], x.q[1]));
  const v128_t d23 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(w.q[2], x.q[2]), wasm_i32x4_dot_i16x8(w.q[3], x.q[3]));
  return wasm_i32x4_add(d01, d23);
}

// The same with the weights as two 16-byte int8 halves.
KITE_WASM_INLINE v128_t BlockDotQ8(v128_t w0, v128_t w1, const WideBlock& x) {
  const v128_t d0 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(w0), x.q[0]);
  const v128_t d1 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(w0), x.q[1]);
  const v128_t d2 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(w1), x.q[2]);
  const v128_t d3 = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(w1), x.q[3]);
  return wasm_i32x4_add(wasm_i32x4_add(d0, d1), wasm_i32x4_add(d2, d3));
}

// 32 Q4 codes (16 bytes) widened to int16 as stored, n = q + 8 in [0, 15]: low nibbles are columns
// 0-15, high nibbles 16-31. The -8 is taken off the dot product instead (Q4Offset), once per row
// and block rather than once per weight.
KITE_WASM_INLINE WideBlock WidenQ4(const uint8_t* p) {
  const v128_t raw = wasm_v128_load(p);
  const v128_t lo = wasm_u16x8_extend_low_u8x16(raw);   // bytes 0-7: columns 0-7 and 16-23
  const v128_t hi = wasm_u16x8_extend_high_u8x16(raw);  // bytes 8-15: columns 8-15 and 24-31
  const v128_t nibble = wasm_i16x8_splat(0x0f);
  return {{wasm_v128_and(lo, nibble), wasm_v128_and(hi, nibble), wasm_u16x8_shr(lo, 4), wasm_u16x8_shr(hi, 4)}};
}

// int32 lanes summing to 8 * sum(x) over the block: sum (q + 8) x - this = sum q x, exactly.
KITE_WASM_INLINE v128_t Q4Offset(const WideBlock& x) {
  const v128_t eight = wasm_i16x8_splat(8);
  const WideBlock eights = {{eight, eight, eight, eight}};
  return BlockDot(eights, x);
}

// out[i * tn + j] = sum over blocks of x_scale * (Q4: w_scale) * int_dot; the Q8 row scale is
// applied when storing. Each block's activations (per tile row) and weights (per tile column) are
// widened once and reused across the tile.
KITE_WASM_INLINE void QuantTile(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr, const int tm,
                                const int tn, const bool q4) {
  const GemmArgs& a = *t.args;
  const int8_t* x[4];
  const float* x_scales[4];
  const uint8_t* w[4];
  const uint16_t* w_scales[4];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < tm; ++i) {
    const int64_t m = m0 + (i < mr ? i : mr - 1);
    x[i] = static_cast<const int8_t*>(t.x) + m * t.x_row_elements;
    x_scales[i] = t.x_scales + m * t.blocks;
  }
  _Pragma("clang loop unroll(full)")
  for (int j = 0; j < 4; ++j) {
    const int64_t n = n0 + (j < nr && j < tn ? j : nr - 1);
    w[j] = static_cast<const uint8_t*>(t.w) + n * t.w_row_bytes;
    w_scales[j] = static_cast<const uint16_t*>(t.w_scales) + n * t.w_scales_per_row;
  }
  v128_t acc[4][4];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < tm; ++i)
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < tn; ++j) acc[i][j] = wasm_f32x4_splat(0.0f);
  const int64_t step = q4 ? t.blocks_per_group : t.blocks;
  for (int64_t b0 = 0; b0 < t.blocks; b0 += step) {
    // Q4: the group scales of the tile's columns, widened 4 at a time (lane j: column j).
    float ws[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    if (q4) {
      const int64_t g = b0 / t.blocks_per_group;
      wasm_v128_store(ws, HalfLanesToFloat(wasm_u32x4_make(w_scales[0][g], w_scales[1][g], w_scales[2][g],
                                                           w_scales[3][g])));
    }
    const int64_t b_end = b0 + step < t.blocks ? b0 + step : t.blocks;
    for (int64_t b = b0; b < b_end; ++b) {
      WideBlock xb[4];
      v128_t offset[4];
      _Pragma("clang loop unroll(full)")
      for (int i = 0; i < tm; ++i) {
        xb[i] = Widen(x[i] + b * 32);
        if (q4) offset[i] = Q4Offset(xb[i]);
      }
      _Pragma("clang loop unroll(full)")
      for (int j = 0; j < tn; ++j) {
        WideBlock wb;
        v128_t w0 = wasm_i8x16_splat(0), w1 = w0;
        if (q4) {
          wb = WidenQ4(w[j] + b * 16);
        } else {
          w0 = wasm_v128_load(w[j] + b * 32);
          w1 = wasm_v128_load(w[j] + b * 32 + 16);
        }
        _Pragma("clang loop unroll(full)")
        for (int i = 0; i < tm; ++i) {
          // Q8 widens its weights inside the dot (measured faster in V8 than keeping them widened).
          const v128_t dot = wasm_f32x4_convert_i32x4(q4 ? wasm_i32x4_sub(BlockDot(wb, xb[i]), offset[i]) : BlockDotQ8(w0, w1, xb[i]));
          const float scale = q4 ? x_scales[i][b] * ws[j] : x_scales[i][b];
          acc[i][j] = wasm_f32x4_add(acc[i][j], wasm_f32x4_mul(dot, wasm_f32x4_splat(scale)));
        }
      }
    }
  }
  const float* row_scales = static_cast<const float*>(t.w_scales);
  for (int i = 0; i < mr; ++i) {
    for (int j = 0; j < nr; ++j) {
      const float v = HorizontalSum(acc[i][j]);
      a.y[(m0 + i) * a.ldy + n0 + j] = q4 ? v : v * row_scales[n0 + j];
    }
  }
}

// [sum(a0), sum(a1), sum(a2), sum(a3)] of int32 lanes.
KITE_WASM_INLINE v128_t ReduceFourI32(v128_t a0, v128_t a1, v128_t a2, v128_t a3) {
  const v128_t s01 = wasm_i32x4_add(wasm_i32x4_shuffle(a0, a1, 0, 2, 4, 6), wasm_i32x4_shuffle(a0, a1, 1, 3, 5, 7));
  const v128_t s23 = wasm_i32x4_add(wasm_i32x4_shuffle(a2, a3, 0, 2, 4, 6), wasm_i32x4_shuffle(a2, a3, 1, 3, 5, 7));
  return wasm_i32x4_add(wasm_i32x4_shuffle(s01, s23, 0, 2, 4, 6), wasm_i32x4_shuffle(s01, s23, 1, 3, 5, 7));
}

// The decode tile (one activation row, kColumns = 4 or 8 columns): the activation block is widened
// once for all columns, and each group of 4 columns' block sums is gathered into the lanes of one
// vector: one conversion, one scale multiply and one add per block per 4 columns (the exact int32
// block sums and the f32 scale products are those of QuantTile; only the order of the f32 additions
// differs). Measured in node 20 (decode of a 135M model): Q8 is fastest with 8 columns (7.7 vs 10.5
// ms/token with 4), Q4 with 4 (13.4 vs 15.2 ms/token with 8: its unpacking needs more registers).
template <int kColumns>
KITE_WASM_INLINE void QuantRowTile(const GemmTile& t, int64_t m0, int64_t n0, int nr, const bool q4) {
  constexpr int kRowTileColumns = kColumns;
  constexpr int kGroups = kColumns / 4;
  const GemmArgs& a = *t.args;
  const int8_t* x = static_cast<const int8_t*>(t.x) + m0 * t.x_row_elements;
  const float* x_scales = t.x_scales + m0 * t.blocks;
  const uint8_t* w[kRowTileColumns];
  const uint16_t* w_scales[kRowTileColumns];
  _Pragma("clang loop unroll(full)")
  for (int j = 0; j < kRowTileColumns; ++j) {
    const int64_t n = n0 + (j < nr ? j : nr - 1);
    w[j] = static_cast<const uint8_t*>(t.w) + n * t.w_row_bytes;
    w_scales[j] = static_cast<const uint16_t*>(t.w_scales) + n * t.w_scales_per_row;
  }
  v128_t acc[kGroups];  // lane j of acc[h]: column 4h + j
  _Pragma("clang loop unroll(full)")
  for (int h = 0; h < kGroups; ++h) acc[h] = wasm_f32x4_splat(0.0f);
  const int64_t step = q4 ? t.blocks_per_group : t.blocks;
  for (int64_t b0 = 0; b0 < t.blocks; b0 += step) {
    v128_t w_scale[kGroups];
    _Pragma("clang loop unroll(full)")
    for (int h = 0; h < kGroups; ++h) w_scale[h] = wasm_f32x4_splat(1.0f);
    if (q4) {
      const int64_t g = b0 / t.blocks_per_group;
      _Pragma("clang loop unroll(full)")
      for (int h = 0; h < kGroups; ++h) {
        w_scale[h] = HalfLanesToFloat(wasm_u32x4_make(w_scales[4 * h][g], w_scales[4 * h + 1][g],
                                                      w_scales[4 * h + 2][g], w_scales[4 * h + 3][g]));
      }
    }
    const int64_t b_end = b0 + step < t.blocks ? b0 + step : t.blocks;
    for (int64_t b = b0; b < b_end; ++b) {
      const WideBlock xb = Widen(x + b * 32);
      const v128_t offset = q4 ? Q4Offset(xb) : wasm_i32x4_splat(0);
      const v128_t x_scale = wasm_f32x4_splat(x_scales[b]);
      _Pragma("clang loop unroll(full)")
      for (int h = 0; h < kGroups; ++h) {
        v128_t dot[4];
        _Pragma("clang loop unroll(full)")
        for (int j = 0; j < 4; ++j) {
          const uint8_t* wj = w[4 * h + j];
          dot[j] = q4 ? wasm_i32x4_sub(BlockDot(WidenQ4(wj + b * 16), xb), offset)
                      : BlockDotQ8(wasm_v128_load(wj + b * 32), wasm_v128_load(wj + b * 32 + 16), xb);
        }
        const v128_t sums = wasm_f32x4_convert_i32x4(ReduceFourI32(dot[0], dot[1], dot[2], dot[3]));
        const v128_t scale = q4 ? wasm_f32x4_mul(w_scale[h], x_scale) : x_scale;
        acc[h] = wasm_f32x4_add(acc[h], wasm_f32x4_mul(sums, scale));
      }
    }
  }
  float out[kRowTileColumns];
  _Pragma("clang loop unroll(full)")
  for (int h = 0; h < kGroups; ++h) wasm_v128_store(out + 4 * h, acc[h]);
  const float* row_scales = static_cast<const float*>(t.w_scales);
  for (int j = 0; j < nr; ++j) a.y[m0 * a.ldy + n0 + j] = q4 ? out[j] : out[j] * row_scales[n0 + j];
}

void Qs8Tile1x8(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr) { QuantRowTile<8>(t, m0, n0, nr, false); }
void Qs8Tile4x4(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr) { QuantTile(t, m0, mr, n0, nr, 4, 4, false); }
void Qs4Tile1x4(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr) { QuantRowTile<4>(t, m0, n0, nr, true); }
void Qs4Tile4x4(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr) { QuantTile(t, m0, mr, n0, nr, 4, 4, true); }

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

void qs8_gemm_f32__wasm_simd128(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                                const float* x_scales) {
  RunGemmTiles(MakeQuantGemmTile(a, w, w_scales, 0, xq, x_scales), GemmTiling{Qs8Tile1x8, 8, Qs8Tile4x4, 4, 4});
}

void qs4_gemm_f32__wasm_simd128(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                int64_t group_size, const int8_t* xq, const float* x_scales) {
  RunGemmTiles(MakeQuantGemmTile(a, w, w_scales_f16, group_size, xq, x_scales),
               GemmTiling{Qs4Tile1x4, 4, Qs4Tile4x4, 4, 4});
}

// Same bytes as f32_qd8_quantize__scalar: f32x4.nearest rounds ties to even like nearbyint, and the
// products are the same single-rounded f32 multiplications.
void f32_qd8_quantize__wasm_simd128(const float* x, int64_t m, int64_t k, int8_t* xq, float* x_scales) {
  const int64_t k_pad = Q8RowBytes(k);
  const int64_t blocks = k_pad / kQuantBlock;
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t c0 = b * kQuantBlock;
      const float* src = x + r * k + c0;
      float padded[32];
      if (k - c0 < 32) {  // the last block of a row with K % 32 != 0: pad with zeros
        for (int64_t j = 0; j < 32; ++j) padded[j] = c0 + j < k ? src[j] : 0.0f;
        src = padded;
      }
      v128_t v[8];
      v128_t abs_max = wasm_f32x4_splat(0.0f);
      for (int j = 0; j < 8; ++j) {
        v[j] = wasm_v128_load(src + 4 * j);
        abs_max = wasm_f32x4_max(abs_max, wasm_f32x4_abs(v[j]));  // f32x4.max propagates NaN
      }
      abs_max = wasm_f32x4_max(abs_max, wasm_i32x4_shuffle(abs_max, abs_max, 2, 3, 0, 1));
      abs_max = wasm_f32x4_max(abs_max, wasm_i32x4_shuffle(abs_max, abs_max, 1, 0, 3, 2));
      const float max_value = wasm_f32x4_extract_lane(abs_max, 0);
      int8_t* dst = xq + r * k_pad + c0;
      if (!(max_value >= kQ8ActivationMinAbsMax)) {  // also catches NaN
        x_scales[r * blocks + b] = 0.0f;
        wasm_v128_store(dst, wasm_i8x16_splat(0));
        wasm_v128_store(dst + 16, wasm_i8x16_splat(0));
        continue;
      }
      x_scales[r * blocks + b] = max_value / 127.0f;
      const v128_t inv_scale = wasm_f32x4_splat(127.0f / max_value);
      v128_t q32[8];
      for (int j = 0; j < 8; ++j) {
        // |v * inv_scale| <= 127 after rounding; the saturating conversion keeps non-finite input
        // defined (its codes are unspecified on every ISA).
        q32[j] = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(v[j], inv_scale)));
      }
      const v128_t q16_0 = wasm_i16x8_narrow_i32x4(q32[0], q32[1]);
      const v128_t q16_1 = wasm_i16x8_narrow_i32x4(q32[2], q32[3]);
      const v128_t q16_2 = wasm_i16x8_narrow_i32x4(q32[4], q32[5]);
      const v128_t q16_3 = wasm_i16x8_narrow_i32x4(q32[6], q32[7]);
      wasm_v128_store(dst, wasm_i8x16_narrow_i16x8(q16_0, q16_1));
      wasm_v128_store(dst + 16, wasm_i8x16_narrow_i16x8(q16_2, q16_3));
    }
  }
}

}  // namespace kernels
}  // namespace kite
