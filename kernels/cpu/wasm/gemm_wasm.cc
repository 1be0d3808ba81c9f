// WebAssembly SIMD128 gemm kernels (the baseline every current browser has).
//
// Relaxed SIMD: this file is compiled a second time with -DKITE_WASM_RELAXED by clang-19 with
// -mrelaxed-simd (emscripten 3.1.6's clang-14 has no relaxed int8 dot; kernels/CMakeLists.txt), and
// that object only defines qs8_gemm_f32__wasm_relaxed, qs4_gemm_f32__wasm_relaxed and the kernel
// set kWasmRelaxedGemmKernels. Their block dots are i16x8.relaxed_dot_i8x16_i7x16_s (V8: one
// pmaddubsw on x86, sdot/smull on arm64) with the nibbles (Q4) or |activation codes| (Q8, kRelaxed
// below) as the 7-bit operand: 0..15 and 0..127 are inside every implementation's exact range, so
// the results are deterministic and equal to the baseline's. Only modules linked with that object
// (platforms/wasm: kite-relaxed.*) contain relaxed opcodes; the JS side loads them where
// WebAssembly.validate accepts relaxed SIMD (Chromium since 114; node 20 with
// --experimental-wasm-relaxed-simd).
//
// Float formats: 1 x 4 tiles for decode, 4 x 4 for prefill, through kernels/gemm_tiling.h. f16
// weights widen exactly with integer shifts and one multiply by 2^112 (wasm_common.h), bf16 with a
// 16-bit shift. Baseline wasm SIMD has no FMA: mul + add.
//
// Quantized formats (Q8, Q4): one activation row at a time, against one weight row at a time in
// decode and against tiles of 8 weight rows in prefill (see GemmRows). The only integer
// multiply-add of baseline SIMD128 is i32x4.dot_i16x8_s (V8: pmaddwd on x86, smull + addp on arm64),
// so every int8 or nibble has to sit in an int16 lane; how the kernels get there cheaply is
// described at PreparedRow below. Each block's int32 dot is exact and is scaled in
// f32 by the block's activation scale (and Q4's group scale), like the scalar reference; only the
// order of the f32 additions differs from it.
#include <cstdint>

#include "kernels/cpu/wasm/wasm_common.h"
#include "kernels/gemm_microkernels.h"
#include "kernels/gemm_tiling.h"
#include "kernels/quant_formats.h"
#include "kernels/quantize.h"

// The tile loops run over compile-time tile shapes and must be fully unrolled: a rolled loop keeps
// the accumulators in memory (measured 2.5x slower in V8). Hence the unroll pragmas.
// V8 keeps wasm loads in program order but moves arithmetic down to its first use, so a loop body
// that loads much before computing spills (see PrefillTile's schedule_barrier).

namespace kite {
namespace kernels {
namespace {

enum FloatFormat { kF32, kF16, kBf16 };

using wasm::FiniteHalfLanesToFloat;
using wasm::FiniteHighHalfLanesToFloat;
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

// [sum(a0), sum(a1), sum(a2), sum(a3)] of int32 lanes.
KITE_WASM_INLINE v128_t ReduceFourI32(v128_t a0, v128_t a1, v128_t a2, v128_t a3) {
  const v128_t s01 = wasm_i32x4_add(wasm_i32x4_shuffle(a0, a1, 0, 2, 4, 6), wasm_i32x4_shuffle(a0, a1, 1, 3, 5, 7));
  const v128_t s23 = wasm_i32x4_add(wasm_i32x4_shuffle(a2, a3, 0, 2, 4, 6), wasm_i32x4_shuffle(a2, a3, 1, 3, 5, 7));
  return wasm_i32x4_add(wasm_i32x4_shuffle(s01, s23, 0, 2, 4, 6), wasm_i32x4_shuffle(s01, s23, 1, 3, 5, 7));
}

// ---- Quantized formats: one prepared activation row against 1 (decode) or 8 weight rows ----
//
// The weights are unpacked in place, as int16 lanes holding two weight bytes, without widening:
// one AND or shift per 8 weights, each weight left at a power-of-two multiple of its code (Q8:
// byte 2i as code * 256 by a left shift, byte 2i + 1 as code * 256 by masking; Q4: the four
// nibbles of a lane as code * 1, 16, 256 and 1). The activations are prepared once per row to
// match: int16, deinterleaved into even and odd columns and scaled so that every weight-activation
// product is 256 times the code product. i32x4.dot_i16x8_s then gives 256 times the exact int32
// block dot (|sum| <= 32 * 15 * 32768 for Q4, 32 * 128 * 256 * 128 for Q8: no overflow), and an
// exact arithmetic shift takes the 256 off again. Q4's -8 is taken off as 8 * sum(x) per block,
// prepared once per row. Per weight row and block that is 1 (Q4) or 2 (Q8) loads, 4 ANDs/shifts
// and 4 dots, where widening costs 6 to 7 instructions in V8 (extend_high is two on x64).
//
// The block dots of 4 weight rows are reduced into the lanes of one vector (lane c: row c), so the
// int-to-float conversion, the scale multiply and the add happen once per 4 rows and block. Q4's
// f16 group scales are converted (with the activation scale multiplied in) ahead of the dot loop,
// 4 blocks of a row per load, and transposed to match.
//
// Measured in node 20 (V8 11.3) on the SmolLM2-135M shapes against the kernels these replaced (4 x 4
// and 1 x 4 / 1 x 8 tiles widening both operands): decode gemv Q4 1.8x, Q8 1.2x; prefill (64 rows,
// the 4 x 4 tiles before) Q4 1.6x, Q8 1.3x.
//
// The relaxed Q4 variant (KITE_WASM_RELAXED) keeps the activations as int8 (x[b][0]: columns 0..15,
// x[b][1]: 16..31, the columns of a block's low and high nibbles) and unpacks a block with one AND
// and one shift + AND; two relaxed dots and one i16 add give 8 lanes of at most 4 * 15 * 127 in
// magnitude (no saturation): 7 instructions per row and block instead of 12, the dot exact without
// the factor 256. A standalone kernel of this shape ran 1.47x the baseline's in node 20 (22.5 vs
// 15.3 GB/s of Q4 weights, 49152 x 576). The int16 lanes of 4 blocks are summed pairwise twice
// before one widening (ReduceFourBlockDots): q4 decode +3% against a widening per block.
// The relaxed set also has a Q4 kernel over rows in transposed groups (kernels/quant_formats.h; the
// Engine rearranges the heap's weights into them when asked, Engine::RearrangeWeightsForKernels),
// which removes those reductions for whole groups of 4 blocks (Q4GroupStep); there decode and
// prefill both run the 2-row decode loop, and the last K % 128 columns keep the stored layout.
//
// The relaxed Q8 variant makes the activations the 7-bit operand: x = sign * |x| with |x| <= 127
// (the activation quantizer's codes are in [-127, 127]), so w . x = sum |x| * (w ^ s) + sum over
// x < 0 of |x|, where s is 0xff where x < 0 (w ^ 0xff = -w - 1). The activation row is prepared as
// |x| and s per 16 columns and that last sum per block; a block then costs 2 XORs, 2
// i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw: |x| * (w ^ s) pairs are at most 2 * 127 * 128 in
// magnitude, no int16 saturation), 2 widening dots with ones and an add instead of 2 shifts, 2 ANDs,
// 4 dots and 3 adds, exact like the baseline. (i32x4.relaxed_dot_i8x16_i7x16_add_s would save the
// widening, but the binaryen that Debian's emscripten runs rejects that opcode.)
#if defined(KITE_WASM_RELAXED)
constexpr bool kRelaxed = true;
constexpr int kDotShift = 0;  // the relaxed block dots are exact as they are
#else
constexpr bool kRelaxed = false;
constexpr int kDotShift = 8;  // the baseline's products are 256 x the code products
#endif
constexpr int kPreparedBlocks = 64;  // activation blocks prepared at a time (2048 columns, 4 KB)
// Weight rows per prefill tile (measured in node 20 when decode used it too: 8 beat 4, 12 and 16).
constexpr int kPrefillTileCols = 8;

struct PreparedRow {
  v128_t x[kPreparedBlocks][4];       // per block, the 4 int16 vectors its weights pair with
  int32_t offset[kPreparedBlocks];    // Q4: -256 * 8 * sum(x) (relaxed: -8 * sum(x)); relaxed Q8: the
                                      // sum of |x| over x < 0; baseline Q8: unused
  float scale[kPreparedBlocks];       // activation scales; 0 past the last block
};

// Blocks [0, blocks) of one Q8 activation row (codes x, scales x_scales) into p, padded with zero
// blocks to a multiple of 4. Q8: x[2i] and x[2i + 1] of each 16 columns; Q4: 256 x[2i], 16 x[16 + 2i],
// x[2i + 1] and 256 x[17 + 2i] (the pairs of the masks in Q4BlockDot). kTransposed (relaxed Q4 only):
// also for weights in transposed groups, below.
template <bool kQ4, bool kTransposed = false>
KITE_WASM_INLINE void PrepareRow(const int8_t* x, const float* x_scales, int64_t blocks, PreparedRow* p) {
  const int64_t padded = (blocks + 3) & ~int64_t{3};
  for (int64_t b = 0; b < padded; ++b) {
    if (b >= blocks) {
      p->x[b][0] = p->x[b][1] = p->x[b][2] = p->x[b][3] = wasm_i16x8_splat(0);
      p->scale[b] = 0.0f;
      continue;
    }
    const v128_t lo = wasm_v128_load(x + 32 * b), hi = wasm_v128_load(x + 32 * b + 16);
    if (kQ4 && kRelaxed) {
      p->x[b][0] = lo;
      p->x[b][1] = hi;
      // The block's sum in 8 int16 lanes (for the -8 offset below); x[3] is unused.
      p->x[b][2] = wasm_i16x8_add(wasm_i16x8_extadd_pairwise_i8x16(lo), wasm_i16x8_extadd_pairwise_i8x16(hi));
      p->x[b][3] = wasm_i16x8_splat(0);
    } else if (kQ4) {
      p->x[b][0] = wasm_i16x8_shl(lo, 8);
      p->x[b][1] = wasm_i16x8_shr(wasm_i16x8_shl(hi, 8), 4);
      p->x[b][2] = wasm_i16x8_shr(lo, 8);
      p->x[b][3] = wasm_v128_and(hi, wasm_i16x8_splat(static_cast<int16_t>(0xff00)));
    } else if (kRelaxed) {
      p->x[b][0] = wasm_i8x16_abs(lo);
      p->x[b][1] = wasm_i8x16_abs(hi);
      p->x[b][2] = wasm_i8x16_shr(lo, 7);
      p->x[b][3] = wasm_i8x16_shr(hi, 7);
    } else {
      p->x[b][0] = wasm_i16x8_shr(wasm_i16x8_shl(lo, 8), 8);
      p->x[b][1] = wasm_i16x8_shr(lo, 8);
      p->x[b][2] = wasm_i16x8_shr(wasm_i16x8_shl(hi, 8), 8);
      p->x[b][3] = wasm_i16x8_shr(hi, 8);
    }
    p->scale[b] = x_scales[b];
  }
  for (int64_t b = 0; b < padded && (kQ4 || kRelaxed); b += 4) {
    v128_t sums[4];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 4; ++i) {
      const v128_t* v = p->x[b + i];
      if (kQ4 && kRelaxed) {  // 8 * sum(x): x[2] holds sums of 4 columns (|.| <= 4 * 128)
        sums[i] = wasm_i32x4_dot_i16x8(v[2], wasm_i16x8_splat(8));
        continue;
      }
      if (!kQ4) {  // relaxed Q8: the sum of |x| over x < 0
        const v128_t negative = wasm_i16x8_add(wasm_u16x8_extadd_pairwise_u8x16(wasm_v128_and(v[0], v[2])),
                                               wasm_u16x8_extadd_pairwise_u8x16(wasm_v128_and(v[1], v[3])));
        sums[i] = wasm_u32x4_extadd_pairwise_u16x8(negative);
        continue;
      }
      // 256 * 8 * sum(x): the prepared vectors hold 256 x, 16 x, x and 256 x.
      const v128_t d01 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(v[0], wasm_i16x8_splat(8)),
                                        wasm_i32x4_dot_i16x8(v[1], wasm_i16x8_splat(128)));
      const v128_t d23 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(v[2], wasm_i16x8_splat(2048)),
                                        wasm_i32x4_dot_i16x8(v[3], wasm_i16x8_splat(8)));
      sums[i] = wasm_i32x4_add(d01, d23);
    }
    const v128_t reduced = ReduceFourI32(sums[0], sums[1], sums[2], sums[3]);
    wasm_v128_store(p->offset + b, kQ4 ? wasm_i32x4_neg(reduced) : reduced);
  }
  // Each whole group of 4 blocks also as the weights' transposed groups pair with it (Q4GroupStep):
  // x[b + v][2] holds word v of the low-nibble columns of blocks b .. b + 3, x[b + v][3] the same of
  // the high-nibble columns (x[2] and x[3] served the offsets above).
  for (int64_t b = 0; b + 4 <= blocks && kQ4 && kRelaxed && kTransposed; b += 4) {
    _Pragma("clang loop unroll(full)")
    for (int h = 0; h < 2; ++h) {
      const v128_t a0 = p->x[b][h], a1 = p->x[b + 1][h], a2 = p->x[b + 2][h], a3 = p->x[b + 3][h];
      const v128_t t01l = wasm_i32x4_shuffle(a0, a1, 0, 4, 1, 5), t23l = wasm_i32x4_shuffle(a2, a3, 0, 4, 1, 5);
      const v128_t t01h = wasm_i32x4_shuffle(a0, a1, 2, 6, 3, 7), t23h = wasm_i32x4_shuffle(a2, a3, 2, 6, 3, 7);
      p->x[b][2 + h] = wasm_i64x2_shuffle(t01l, t23l, 0, 2);
      p->x[b + 1][2 + h] = wasm_i64x2_shuffle(t01l, t23l, 1, 3);
      p->x[b + 2][2 + h] = wasm_i64x2_shuffle(t01h, t23h, 0, 2);
      p->x[b + 3][2 + h] = wasm_i64x2_shuffle(t01h, t23h, 1, 3);
    }
  }
}

// int32 lanes summing to 256 * sum(n x) over one Q4 block, n = code + 8 (the stored nibble), from
// its 16 bytes as 8 int16 lanes: lane i holds columns 2i, 16 + 2i (byte 2i) and 2i + 1, 17 + 2i.
// Relaxed: int16 lanes summing to sum(n x) itself, each at most 2 * 2 * 15 * 127 = 7620 in
// magnitude; ReduceFourBlockDots takes them to int32.
KITE_WASM_INLINE v128_t Q4BlockDot(v128_t raw, const v128_t* x) {
#if defined(KITE_WASM_RELAXED)
  const v128_t low = wasm_v128_and(raw, wasm_i8x16_splat(0x0f));
  const v128_t high = wasm_v128_and(wasm_u16x8_shr(raw, 4), wasm_i8x16_splat(0x0f));
  return wasm_i16x8_add(wasm_i16x8_relaxed_dot_i8x16_i7x16(x[0], low),
                        wasm_i16x8_relaxed_dot_i8x16_i7x16(x[1], high));
#endif
  const v128_t d0 = wasm_i32x4_dot_i16x8(wasm_v128_and(raw, wasm_i16x8_splat(0x000f)), x[0]);
  const v128_t d1 = wasm_i32x4_dot_i16x8(wasm_v128_and(raw, wasm_i16x8_splat(0x00f0)), x[1]);
  const v128_t d2 = wasm_i32x4_dot_i16x8(wasm_v128_and(raw, wasm_i16x8_splat(0x0f00)), x[2]);
  const v128_t d3 = wasm_i32x4_dot_i16x8(wasm_u16x8_shr(raw, 12), x[3]);
  return wasm_i32x4_add(wasm_i32x4_add(d0, d1), wasm_i32x4_add(d2, d3));
}

// int32 lanes summing to 256 * (w . x) over one Q8 block (two 16-byte halves). Relaxed: to
// w . x - (the block's offset), see kRelaxed.
KITE_WASM_INLINE v128_t Q8BlockDot(v128_t w0, v128_t w1, const v128_t* x) {
#if defined(KITE_WASM_RELAXED)
  const v128_t ones = wasm_i16x8_splat(1);
  const v128_t d0 = wasm_i16x8_relaxed_dot_i8x16_i7x16(wasm_v128_xor(w0, x[2]), x[0]);
  const v128_t d1 = wasm_i16x8_relaxed_dot_i8x16_i7x16(wasm_v128_xor(w1, x[3]), x[1]);
  return wasm_i32x4_add(wasm_i32x4_dot_i16x8(d0, ones), wasm_i32x4_dot_i16x8(d1, ones));
#else
  const v128_t high_byte = wasm_i16x8_splat(static_cast<int16_t>(0xff00));
  const v128_t d0 = wasm_i32x4_dot_i16x8(wasm_i16x8_shl(w0, 8), x[0]);
  const v128_t d1 = wasm_i32x4_dot_i16x8(wasm_v128_and(w0, high_byte), x[1]);
  const v128_t d2 = wasm_i32x4_dot_i16x8(wasm_i16x8_shl(w1, 8), x[2]);
  const v128_t d3 = wasm_i32x4_dot_i16x8(wasm_v128_and(w1, high_byte), x[3]);
  return wasm_i32x4_add(wasm_i32x4_add(d0, d1), wasm_i32x4_add(d2, d3));
#endif
}

// The sums of 4 block dots (Q4BlockDot / Q8BlockDot results d0..d3) in lanes 0..3. The relaxed Q4
// dots are int16 lanes of at most 7620: two rounds of adding lane pairs stay within int16 (15240,
// then 30480), so 4 blocks need 2 64-bit unpacks, 2 shuffles, 3 adds and one widening dot instead of
// a widening per block and ReduceFourI32.
template <bool kQ4>
KITE_WASM_INLINE v128_t ReduceFourBlockDots(v128_t d0, v128_t d1, v128_t d2, v128_t d3) {
  if (!(kQ4 && kRelaxed)) return ReduceFourI32(d0, d1, d2, d3);
  // 32-bit units [d0, d0, d1, d1] and [d2, d2, d3, d3], each unit 2 int16 partial sums.
  const v128_t p01 = wasm_i16x8_add(wasm_i64x2_shuffle(d0, d1, 0, 2), wasm_i64x2_shuffle(d0, d1, 1, 3));
  const v128_t p23 = wasm_i16x8_add(wasm_i64x2_shuffle(d2, d3, 0, 2), wasm_i64x2_shuffle(d2, d3, 1, 3));
  const v128_t p0123 = wasm_i16x8_add(wasm_i32x4_shuffle(p01, p23, 0, 2, 4, 6), wasm_i32x4_shuffle(p01, p23, 1, 3, 5, 7));
  return wasm_i32x4_extadd_pairwise_i16x8(p0123);
}

// The f16 group scales of blocks b .. b + 3 of one Q4 row (ws: the row's scales), in the low 16 bits
// of 4 lanes. kFull: all 4 before `blocks` (counted from pb = the prepared block of b); otherwise the
// lanes past it are 0, and nothing past the row's scales is read.
template <int kBlocksPerGroup, bool kFull>
KITE_WASM_INLINE v128_t Q4ScaleHalves4(const uint16_t* ws, int64_t b, int64_t pb, int64_t blocks,
                                       int64_t blocks_per_group) {
  if (kFull && kBlocksPerGroup == 1) return wasm_u32x4_load16x4(ws + b);  // 4 blocks' scales in one load
  if (kFull && kBlocksPerGroup == 2) return wasm_u32x4_make(ws[b / 2], ws[b / 2], ws[b / 2 + 1], ws[b / 2 + 1]);
  // Other groups, and the last K % 128 columns.
  const int64_t bpg = kBlocksPerGroup > 0 ? kBlocksPerGroup : blocks_per_group;
  uint32_t h[4];
  for (int i = 0; i < 4; ++i) h[i] = kFull || pb + i < blocks ? ws[(b + i) / bpg] : 0;
  return wasm_u32x4_make(h[0], h[1], h[2], h[3]);
}

// scale x the f16 group scales in the low 16 bits of halves' lanes. The relaxed module converts
// finite values only (4 instructions instead of 8) and keeps the largest exponent field seen in
// scale_exponents, for HadSpecialScale.
KITE_WASM_INLINE v128_t MulByScaleHalves(v128_t scale, v128_t halves, v128_t* scale_exponents) {
  if (!kRelaxed) return wasm_f32x4_mul(scale, HalfLanesToFloat(halves));
  // 16-bit lanes, as Q4GroupStep collects them (there 8 halves per vector).
  *scale_exponents = wasm_u16x8_max(*scale_exponents, wasm_v128_and(halves, wasm_i32x4_splat(0x7c00)));
  return wasm_f32x4_mul(scale, FiniteHalfLanesToFloat(halves));
}

// Whether MulByScaleHalves met an Inf or NaN scale (relaxed module only): its conversion was wrong
// for that lane, and the row is redone by Q4RowDotWithSpecialScales.
KITE_WASM_INLINE bool HadSpecialScale(v128_t scale_exponents) {
  return kRelaxed && wasm_v128_any_true(wasm_i16x8_eq(scale_exponents, wasm_i16x8_splat(0x7c00)));
}

// The f16 group scales of the kBlocks blocks b .. b + kBlocks - 1 of one Q4 row (ws: the row's
// scales, b a multiple of 4), in the low 16 bits of lanes 0 .. kBlocks - 1; the other lanes 0. Only
// those scales are read: a row's last scales may end the heap.
template <int kBlocksPerGroup, int kBlocks>
KITE_WASM_INLINE v128_t Q4StepScaleHalves(const uint16_t* ws, int64_t b, int64_t blocks_per_group) {
  if (kBlocks == 4) return Q4ScaleHalves4<kBlocksPerGroup, true>(ws, b, 0, 4, blocks_per_group);
  if (kBlocksPerGroup == 1 && kBlocks >= 2) {  // 2 scales in one 4-byte load, widened to lanes 0, 1
    const v128_t two = wasm_u32x4_extend_low_u16x8(wasm_v128_load32_zero(ws + b));
    return kBlocks == 2 ? two : wasm_i32x4_replace_lane(two, 2, ws[b + 2]);
  }
  if (kBlocksPerGroup == 2) {  // blocks b, b + 1 share scale b / 2 (b is even), block b + 2 has the next
    const uint32_t h0 = ws[b / 2];
    return wasm_u32x4_make(h0, kBlocks >= 2 ? h0 : 0, kBlocks == 3 ? ws[b / 2 + 1] : 0, 0);
  }
  const int64_t bpg = kBlocksPerGroup > 0 ? kBlocksPerGroup : blocks_per_group;
  uint32_t h[4];
  for (int i = 0; i < 4; ++i) h[i] = i < kBlocks ? ws[(b + i) / bpg] : 0;
  return wasm_u32x4_make(h[0], h[1], h[2], h[3]);
}

// Blocks [pb, pb + 4) of Q4TileScales below (kFull: all 4 before `blocks`).
template <int kTileCols, int kBlocksPerGroup, bool kFull>
KITE_WASM_INLINE void Q4TileScales4(const PreparedRow& p, const uint16_t* const* w_scales, int64_t b0, int64_t pb,
                                    int64_t blocks, int64_t blocks_per_group, float (*out)[kTileCols]) {
  const v128_t x_scale = wasm_v128_load(p.scale + pb);  // 0 past the last block
  const int64_t b = b0 + pb;
  _Pragma("clang loop unroll(full)")
  for (int g = 0; g < kTileCols / 4; ++g) {
    v128_t v[4];  // v[c]: blocks pb .. pb + 3 of column 4g + c
    _Pragma("clang loop unroll(full)")
    for (int c = 0; c < 4; ++c) {
      const v128_t halves = Q4ScaleHalves4<kBlocksPerGroup, kFull>(w_scales[4 * g + c], b, pb, blocks,
                                                                    blocks_per_group);
      v[c] = wasm_f32x4_mul(HalfLanesToFloat(halves), x_scale);
    }
    // Transpose to [block][column]; rows past `blocks` land in out's padding.
    const v128_t t01lo = wasm_i32x4_shuffle(v[0], v[1], 0, 4, 1, 5), t01hi = wasm_i32x4_shuffle(v[0], v[1], 2, 6, 3, 7);
    const v128_t t23lo = wasm_i32x4_shuffle(v[2], v[3], 0, 4, 1, 5), t23hi = wasm_i32x4_shuffle(v[2], v[3], 2, 6, 3, 7);
    wasm_v128_store(&out[pb][4 * g], wasm_i64x2_shuffle(t01lo, t23lo, 0, 2));
    wasm_v128_store(&out[pb + 1][4 * g], wasm_i64x2_shuffle(t01lo, t23lo, 1, 3));
    wasm_v128_store(&out[pb + 2][4 * g], wasm_i64x2_shuffle(t01hi, t23hi, 0, 2));
    wasm_v128_store(&out[pb + 3][4 * g], wasm_i64x2_shuffle(t01hi, t23hi, 1, 3));
  }
}

// Q4: the products f16 scale * activation scale of prepared blocks [0, blocks) for the tile's
// kTileCols weight rows, [block][column] (4 columns per vector). Converting them ahead of the dot
// loop takes one 8-byte load per column and 4 blocks (each column's scales are contiguous) instead
// of 4 scalar loads per block, and keeps the conversion's registers out of the dot loop.
// kBlocksPerGroup: 1 or 2 (groups of 32 or 64 columns), or 0: any, blocks_per_group at run time.
template <int kTileCols, int kBlocksPerGroup>
KITE_WASM_INLINE void Q4TileScales(const PreparedRow& p, const uint16_t* const* w_scales, int64_t b0, int64_t blocks,
                                   int64_t blocks_per_group, float (*out)[kTileCols]) {
  int64_t pb = 0;
  for (; pb + 4 <= blocks; pb += 4) {
    Q4TileScales4<kTileCols, kBlocksPerGroup, true>(p, w_scales, b0, pb, blocks, blocks_per_group, out);
  }
  if (pb < blocks) Q4TileScales4<kTileCols, kBlocksPerGroup, false>(p, w_scales, b0, pb, blocks, blocks_per_group, out);
}

// out[c] = sum over blocks [b0, b0 + blocks) of weight rows n0 + c (c < kTileCols; columns past nr
// repeat the last one) of the scaled block dots with the prepared blocks [0, blocks). Q8: before the
// row scale.
template <int kTileCols, bool kQ4, int kBlocksPerGroup>
KITE_WASM_INLINE void PrefillTile(const GemmTile& t, const PreparedRow& p, int64_t b0, int64_t blocks, int64_t n0,
                                  int nr, float* out) {
  constexpr int kGroups = kTileCols / 4;
  const uint8_t* w[kTileCols];
  const uint16_t* w_scales[kTileCols];
  _Pragma("clang loop unroll(full)")
  for (int c = 0; c < kTileCols; ++c) {
    const int64_t n = n0 + (c < nr ? c : nr - 1);
    w[c] = static_cast<const uint8_t*>(t.w) + n * t.w_row_bytes + b0 * (kQ4 ? 16 : 32);
    w_scales[c] = static_cast<const uint16_t*>(t.w_scales) + n * t.w_scales_per_row;
  }
  alignas(16) float q4_scales[kQ4 ? kPreparedBlocks : 1][kTileCols];
  if (kQ4) Q4TileScales<kTileCols, kBlocksPerGroup>(p, w_scales, b0, blocks, t.blocks_per_group, q4_scales);
  v128_t acc[kGroups];
  _Pragma("clang loop unroll(full)")
  for (int g = 0; g < kGroups; ++g) acc[g] = wasm_f32x4_splat(0.0f);
  // V8 keeps wasm loads in program order and moves arithmetic down to its first use, so a block
  // would load all 8 rows' weights up front and spill them. Storing each row's block dot as soon as
  // it is computed (to a slot nobody reads) pins that arithmetic before the next row's load: Q4
  // decode 1.15x faster, Q8 1.1x (measured when this tile also ran decode; RowStep does the same).
  volatile v128_t schedule_barrier;
  (void)schedule_barrier;
  for (int64_t pb = 0; pb < blocks; ++pb) {
    const v128_t* x = p.x[pb];
    _Pragma("clang loop unroll(full)")
    for (int g = 0; g < kGroups; ++g) {
      v128_t d[4];
      _Pragma("clang loop unroll(full)")
      for (int c = 0; c < 4; ++c) {
        const uint8_t* wc = w[4 * g + c];
        d[c] = kQ4 ? Q4BlockDot(wasm_v128_load(wc + pb * 16), x)
                   : Q8BlockDot(wasm_v128_load(wc + pb * 32), wasm_v128_load(wc + pb * 32 + 16), x);
        schedule_barrier = d[c];
      }
      v128_t sums = ReduceFourBlockDots<kQ4>(d[0], d[1], d[2], d[3]);
      if (kQ4 || kRelaxed) sums = wasm_i32x4_add(sums, wasm_v128_load32_splat(p.offset + pb));
      // Exact: the baseline's sums are multiples of 256.
      const v128_t dots = wasm_f32x4_convert_i32x4(wasm_i32x4_shr(sums, kDotShift));
      const v128_t scale = kQ4 ? wasm_v128_load(&q4_scales[pb][4 * g]) : wasm_v128_load32_splat(p.scale + pb);
      acc[g] = wasm_f32x4_add(acc[g], wasm_f32x4_mul(dots, scale));
    }
  }
  _Pragma("clang loop unroll(full)")
  for (int g = 0; g < kGroups; ++g) wasm_v128_store(out + 4 * g, acc[g]);
}

// Prepared blocks [pb, pb + kBlocks) of one weight row added to acc (w: the row at block pb, ws:
// the row's Q4 scales, b: the row's block at pb): the block dots are reduced into the lanes of one
// vector, so the conversion, the scaling (4 activation scales, and Q4's 4 group scales, per load)
// and the add happen once per 4 blocks. kBlocks = 4 in the loop; 1 to 3 for a row's last blocks
// (K % 128 columns, e.g. 2 blocks at K = 576), which load only their own weights and scales and
// leave the other lanes 0 (the prepared activation scales are 0 there); with the count a template
// argument that step has no per-block branches (Q4 decode takes 1 or 2 such blocks of two rows
// together, Q4RowDotPair). The relaxed module converts Q4's f16
// scales for finite values only (4 instructions instead of 8); scale_exponents collects their
// exponent fields, and RowDot redoes a row that had an Inf or NaN scale (q4 decode +4.5%). The
// baseline module keeps the exact conversion: with its 4 activation vectors per block the extra
// live vector made its q4 decode 5% slower.
template <bool kQ4, int kBlocksPerGroup, int kBlocks>
KITE_WASM_INLINE void RowStep(const PreparedRow& p, const uint8_t* w, const uint16_t* ws, int64_t b, int64_t pb,
                              int64_t blocks_per_group, v128_t* acc, v128_t* scale_exponents,
                              volatile v128_t* schedule_barrier) {
  v128_t d[4];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < 4; ++i) {
    if (i >= kBlocks) {
      d[i] = wasm_i32x4_splat(0);
      continue;
    }
    const uint8_t* wb = w + i * (kQ4 ? 16 : 32);
    d[i] = kQ4 ? Q4BlockDot(wasm_v128_load(wb), p.x[pb + i])
               : Q8BlockDot(wasm_v128_load(wb), wasm_v128_load(wb + 16), p.x[pb + i]);
    *schedule_barrier = d[i];  // see PrefillTile
  }
  v128_t sums = ReduceFourBlockDots<kQ4>(d[0], d[1], d[2], d[3]);
  if (kQ4 || kRelaxed) sums = wasm_i32x4_add(sums, wasm_v128_load(p.offset + pb));
  const v128_t dots = wasm_f32x4_convert_i32x4(wasm_i32x4_shr(sums, kDotShift));
  v128_t scale = wasm_v128_load(p.scale + pb);
  if (kQ4) {
    scale = MulByScaleHalves(scale, Q4StepScaleHalves<kBlocksPerGroup, kBlocks>(ws, b, blocks_per_group),
                             scale_exponents);
  }
  *acc = wasm_f32x4_add(*acc, wasm_f32x4_mul(dots, scale));
}

// RowDot of a Q4 row whose group scales include Inf or NaN, which RowStep's conversion does not
// handle: the prefill tile's conversion does. A sum with an Inf or NaN term is the same Inf or NaN in
// any order, so the different summation order changes nothing.
template <int kBlocksPerGroup>
__attribute__((noinline)) float Q4RowDotWithSpecialScales(const GemmTile& t, const PreparedRow& p, int64_t b0,
                                                          int64_t blocks, int64_t n) {
  alignas(16) float out[kPrefillTileCols];
  PrefillTile<kPrefillTileCols, true, kBlocksPerGroup>(t, p, b0, blocks, n, 1, out);
  return out[0];
}

// The scaled block dots of weight row n over blocks [b0, b0 + blocks) with the prepared blocks
// [0, blocks), summed (Q8: before the row scale). Decode reads one weight row at a time: a 1-row
// tile keeps one address and a handful of registers live, where V8 spilled the 8-row tile's
// addresses every block.
template <bool kQ4, int kBlocksPerGroup>
KITE_WASM_INLINE float RowDot(const GemmTile& t, const PreparedRow& p, int64_t b0, int64_t blocks, int64_t n) {
  constexpr int64_t kStepBytes = 4 * (kQ4 ? 16 : 32);
  const uint8_t* w = static_cast<const uint8_t*>(t.w) + n * t.w_row_bytes + b0 * (kQ4 ? 16 : 32);
  const uint16_t* ws = static_cast<const uint16_t*>(t.w_scales) + n * t.w_scales_per_row;
  v128_t acc = wasm_f32x4_splat(0.0f);
  v128_t scale_exponents = wasm_i32x4_splat(0);  // relaxed Q4: the largest f16 exponent field seen
  volatile v128_t schedule_barrier;
  int64_t pb = 0;
  const int64_t bpg = t.blocks_per_group;
  for (; pb + 4 <= blocks; pb += 4, w += kStepBytes) {
    RowStep<kQ4, kBlocksPerGroup, 4>(p, w, ws, b0 + pb, pb, bpg, &acc, &scale_exponents, &schedule_barrier);
  }
  switch (blocks - pb) {
    case 1:
      RowStep<kQ4, kBlocksPerGroup, 1>(p, w, ws, b0 + pb, pb, bpg, &acc, &scale_exponents, &schedule_barrier);
      break;
    case 2:
      RowStep<kQ4, kBlocksPerGroup, 2>(p, w, ws, b0 + pb, pb, bpg, &acc, &scale_exponents, &schedule_barrier);
      break;
    case 3:
      RowStep<kQ4, kBlocksPerGroup, 3>(p, w, ws, b0 + pb, pb, bpg, &acc, &scale_exponents, &schedule_barrier);
      break;
    default:
      break;
  }
  if (kQ4 && HadSpecialScale(scale_exponents)) {
    return Q4RowDotWithSpecialScales<kBlocksPerGroup>(t, p, b0, blocks, n);
  }
  return HorizontalSum(acc);
}

// Q4 decode: the last 1 or 2 blocks (kRest) of rows n and n + 1 (weights wa, wb at block pb, scales
// wsa, wsb, b: the rows' block at pb) in one step, sharing one reduction and one scaling. Lanes:
// kRest = 2: [n, n, n + 1, n + 1]; kRest = 1: [n, 0, n + 1, 0].
template <int kBlocksPerGroup, int kRest>
KITE_WASM_INLINE v128_t Q4PairTail(const PreparedRow& p, const uint8_t* wa, const uint8_t* wb, const uint16_t* wsa,
                                   const uint16_t* wsb, int64_t b, int64_t pb, int64_t blocks_per_group,
                                   v128_t* scale_exponents, volatile v128_t* schedule_barrier) {
  v128_t d[4];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < 4; ++i) {
    const int row = kRest == 2 ? i / 2 : i;  // kRest = 2: a0 a1 b0 b1; kRest = 1: a0 b0 - -
    const int block = kRest == 2 ? i % 2 : 0;
    if (row > 1) {
      d[i] = wasm_i32x4_splat(0);
      continue;
    }
    d[i] = Q4BlockDot(wasm_v128_load((row == 0 ? wa : wb) + 16 * block), p.x[pb + block]);
    *schedule_barrier = d[i];  // see PrefillTile
  }
  v128_t sums = ReduceFourBlockDots<true>(d[0], d[1], d[2], d[3]);
  // Blocks pb and pb + 1 (padding with scale 0 when kRest = 1) for both rows.
  const v128_t offsets = wasm_v128_load64_splat(p.offset + pb);
  v128_t scale = wasm_v128_load64_splat(p.scale + pb);
  if (kRest == 2) {
    sums = wasm_i32x4_add(sums, offsets);
  } else {
    sums = wasm_i32x4_add(sums, wasm_i32x4_shuffle(offsets, offsets, 0, 0, 0, 0));
    sums = wasm_i32x4_shuffle(sums, sums, 0, 2, 1, 3);     // [a0, 0, b0, 0]
    scale = wasm_i32x4_shuffle(scale, scale, 0, 1, 0, 1);  // [s0, 0, s0, 0]
  }
  const v128_t dots = wasm_f32x4_convert_i32x4(wasm_i32x4_shr(sums, kDotShift));
  v128_t halves;
  if (kBlocksPerGroup == 1 && kRest == 2) {
    halves = wasm_u32x4_extend_low_u16x8(
        wasm_i32x4_shuffle(wasm_v128_load32_zero(wsa + b), wasm_v128_load32_zero(wsb + b), 0, 4, 2, 3));
  } else {
    const int64_t bpg = kBlocksPerGroup > 0 ? kBlocksPerGroup : blocks_per_group;
    const uint32_t ha = wsa[b / bpg], hb = wsb[b / bpg];
    halves = kRest == 2 ? wasm_u32x4_make(ha, wsa[(b + 1) / bpg], hb, wsb[(b + 1) / bpg])
                        : wasm_u32x4_make(ha, 0, hb, 0);
  }
  return wasm_f32x4_mul(dots, MulByScaleHalves(scale, halves, scale_exponents));
}

#if defined(KITE_WASM_RELAXED)
// Relaxed Q4 decode: one whole group of 4 blocks (a transposed group, quant_formats.h) of rows a and
// b (weights wa, wb at prepared block pb, scales wsa, wsb, b: the rows' block at pb), added to acc_a
// and acc_b with lane i for block pb + i. Word v of the 4 blocks is one 16-byte load; against x[pb +
// v][2..3] (PrepareRow) its two relaxed dots give int16 lanes whose pairs belong to the 4 blocks, so
// the 4 loads of a row add into one int16 vector (|lane| <= 4 * 2 * 2 * 15 * 127 = 30480) and one
// pairwise widening yields the 4 block dots: no per-block reduction. Each activation vector serves
// both rows. With groups of 32 columns both rows' 4 scales come in one 16-byte vector, and one
// shuffle per row puts them in the high halves of its lanes for the conversion. Against RowStep on
// the stored layout (node 20, Intel Xeon VM, one thread): 3 matrices in L2 1.22x faster; from memory
// 576 x 576 matrices 1.06x, 1536 x 576 1.12x, 49152 x 576 1.13x.
template <int kBlocksPerGroup>
KITE_WASM_INLINE void Q4GroupStep(const PreparedRow& p, const uint8_t* wa, const uint8_t* wb, const uint16_t* wsa,
                                  const uint16_t* wsb, int64_t b, int64_t pb, int64_t blocks_per_group, v128_t* acc_a,
                                  v128_t* acc_b, v128_t* scale_exponents, volatile v128_t* schedule_barrier) {
  const v128_t nibble = wasm_i8x16_splat(0x0f);
  v128_t sum_a = wasm_i16x8_splat(0), sum_b = wasm_i16x8_splat(0);
  _Pragma("clang loop unroll(full)")
  for (int v = 0; v < 4; ++v) {
    const v128_t xl = p.x[pb + v][2], xh = p.x[pb + v][3];
    const v128_t ra = wasm_v128_load(wa + 16 * v), rb = wasm_v128_load(wb + 16 * v);
    sum_a = wasm_i16x8_add(sum_a, wasm_i16x8_add(
        wasm_i16x8_relaxed_dot_i8x16_i7x16(xl, wasm_v128_and(ra, nibble)),
        wasm_i16x8_relaxed_dot_i8x16_i7x16(xh, wasm_v128_and(wasm_u16x8_shr(ra, 4), nibble))));
    *schedule_barrier = sum_a;  // see PrefillTile
    sum_b = wasm_i16x8_add(sum_b, wasm_i16x8_add(
        wasm_i16x8_relaxed_dot_i8x16_i7x16(xl, wasm_v128_and(rb, nibble)),
        wasm_i16x8_relaxed_dot_i8x16_i7x16(xh, wasm_v128_and(wasm_u16x8_shr(rb, 4), nibble))));
    *schedule_barrier = sum_b;
  }
  const v128_t offsets = wasm_v128_load(p.offset + pb);
  const v128_t x_scale = wasm_v128_load(p.scale + pb);
  const v128_t dots_a = wasm_f32x4_convert_i32x4(wasm_i32x4_add(wasm_i32x4_extadd_pairwise_i16x8(sum_a), offsets));
  const v128_t dots_b = wasm_f32x4_convert_i32x4(wasm_i32x4_add(wasm_i32x4_extadd_pairwise_i16x8(sum_b), offsets));
  v128_t scale_a, scale_b;
  if (kBlocksPerGroup == 1) {
    const v128_t halves = wasm_v128_load64_lane(wsb + b, wasm_v128_load64_zero(wsa + b), 1);
    *scale_exponents = wasm_u16x8_max(*scale_exponents, wasm_v128_and(halves, wasm_i16x8_splat(0x7c00)));
    const v128_t zero = wasm_i16x8_splat(0);
    const v128_t high_a = wasm_i16x8_shuffle(zero, halves, 0, 8, 1, 9, 2, 10, 3, 11);
    const v128_t high_b = wasm_i16x8_shuffle(zero, halves, 4, 12, 5, 13, 6, 14, 7, 15);
    scale_a = wasm_f32x4_mul(x_scale, FiniteHighHalfLanesToFloat(high_a));
    scale_b = wasm_f32x4_mul(x_scale, FiniteHighHalfLanesToFloat(high_b));
  } else {
    const v128_t halves_a = Q4StepScaleHalves<kBlocksPerGroup, 4>(wsa, b, blocks_per_group);
    const v128_t halves_b = Q4StepScaleHalves<kBlocksPerGroup, 4>(wsb, b, blocks_per_group);
    scale_a = MulByScaleHalves(x_scale, halves_a, scale_exponents);
    scale_b = MulByScaleHalves(x_scale, halves_b, scale_exponents);
  }
  *acc_a = wasm_f32x4_add(*acc_a, wasm_f32x4_mul(dots_a, scale_a));
  *acc_b = wasm_f32x4_add(*acc_b, wasm_f32x4_mul(dots_b, scale_b));
}

// One relaxed Q4 row (rows in transposed groups) whose group scales include Inf or NaN, in scalar
// code, which converts every f16 exactly: blocks [b0, b0 + blocks) of row n against the prepared
// blocks [0, blocks) (x[pb][0..1]: the activation codes as stored). A sum with an Inf or NaN term is
// the same Inf or NaN in any order, so the order of the additions changes nothing.
__attribute__((noinline)) float Q4TransposedRowDotWithSpecialScales(const GemmTile& t, const PreparedRow& p,
                                                                    int64_t b0, int64_t blocks, int64_t n) {
  const uint8_t* row = static_cast<const uint8_t*>(t.w) + n * t.w_row_bytes;
  const uint16_t* ws = static_cast<const uint16_t*>(t.w_scales) + n * t.w_scales_per_row;
  const int64_t transposed = t.blocks / 4 * 4;  // Q4TransposedBlocks(K): t.blocks is ceil(K / 32)
  float sum = 0.0f;
  for (int64_t pb = 0; pb < blocks; ++pb) {
    const int64_t b = b0 + pb;
    alignas(16) int8_t x[32];
    wasm_v128_store(x, p.x[pb][0]);
    wasm_v128_store(x + 16, p.x[pb][1]);
    int32_t dot = 0;
    for (int j = 0; j < 16; ++j) {
      const uint8_t byte = row[Q4TransposedByteOffset(b, j, transposed)];
      dot += ((byte & 0x0f) - 8) * x[j] + ((byte >> 4) - 8) * x[16 + j];
    }
    sum += static_cast<float>(dot) * (HalfToFloat(ws[b / t.blocks_per_group]) * p.scale[pb]);
  }
  return sum;
}
#endif

// Q4 decode, RowDot of rows n and n_b into out[0] and out[1] (n_b = n + 1, or n for a last odd row):
// each row's 4-block steps as in RowDot (kTransposed, relaxed only: both rows' together over the
// transposed groups, Q4GroupStep), then their last 1 or 2 blocks (K % 128 = 32 or 64, e.g. K = 576)
// in one Q4PairTail, whose reduction and scaling would otherwise cost each row almost a whole step.
// Measured in node 20 on 1536 x 576 (30.2 -> 28.4 ns per row) and in q4 decode of SmolLM2-135M
// (+2-5%); Q8 rows in pairs were 1-8% slower, so Q8 keeps RowDot.
template <int kBlocksPerGroup, bool kTransposed>
KITE_WASM_INLINE void Q4RowDotPair(const GemmTile& t, const PreparedRow& p, int64_t b0, int64_t blocks, int64_t n,
                                   int64_t n_b, float* out) {
  const int64_t whole = blocks & ~int64_t{3}, rest = blocks - whole;
  const int64_t bpg = t.blocks_per_group;
  v128_t scale_exponents = wasm_i32x4_splat(0);
  volatile v128_t schedule_barrier;
  const uint8_t* w[2];
  const uint16_t* ws[2];
  v128_t acc[2];
  _Pragma("clang loop unroll(full)")
  for (int r = 0; r < 2; ++r) {
    const int64_t row = r == 0 ? n : n_b;
    w[r] = static_cast<const uint8_t*>(t.w) + row * t.w_row_bytes + b0 * 16;
    ws[r] = static_cast<const uint16_t*>(t.w_scales) + row * t.w_scales_per_row;
    acc[r] = wasm_f32x4_splat(0.0f);
  }
#if defined(KITE_WASM_RELAXED)
  for (int64_t pb = 0; pb < whole && kTransposed; pb += 4, w[0] += 64, w[1] += 64) {
    Q4GroupStep<kBlocksPerGroup>(p, w[0], w[1], ws[0], ws[1], b0 + pb, pb, bpg, &acc[0], &acc[1], &scale_exponents,
                                 &schedule_barrier);
  }
#endif
  _Pragma("clang loop unroll(full)")
  for (int r = 0; r < 2; ++r) {
    for (int64_t pb = 0; pb < whole && !kTransposed; pb += 4, w[r] += 64) {
      RowStep<true, kBlocksPerGroup, 4>(p, w[r], ws[r], b0 + pb, pb, bpg, &acc[r], &scale_exponents,
                                        &schedule_barrier);
    }
    if (rest == 3) {
      RowStep<true, kBlocksPerGroup, 3>(p, w[r], ws[r], b0 + whole, whole, bpg, &acc[r], &scale_exponents,
                                        &schedule_barrier);
    }
  }
  // [a0 + a2, a1 + a3, b0 + b2, b1 + b3] plus the tail's lanes; then lanes 0 and 2 take 1 and 3.
  v128_t v = wasm_f32x4_add(wasm_i32x4_shuffle(acc[0], acc[1], 0, 1, 4, 5),
                            wasm_i32x4_shuffle(acc[0], acc[1], 2, 3, 6, 7));
  if (rest == 2) {
    v = wasm_f32x4_add(v, Q4PairTail<kBlocksPerGroup, 2>(p, w[0], w[1], ws[0], ws[1], b0 + whole, whole, bpg,
                                                         &scale_exponents, &schedule_barrier));
  } else if (rest == 1) {
    v = wasm_f32x4_add(v, Q4PairTail<kBlocksPerGroup, 1>(p, w[0], w[1], ws[0], ws[1], b0 + whole, whole, bpg,
                                                         &scale_exponents, &schedule_barrier));
  }
  if (HadSpecialScale(scale_exponents)) {
#if defined(KITE_WASM_RELAXED)
    if (kTransposed) {
      out[0] = Q4TransposedRowDotWithSpecialScales(t, p, b0, blocks, n);
      out[1] = Q4TransposedRowDotWithSpecialScales(t, p, b0, blocks, n_b);
      return;
    }
#endif
    out[0] = Q4RowDotWithSpecialScales<kBlocksPerGroup>(t, p, b0, blocks, n);
    out[1] = Q4RowDotWithSpecialScales<kBlocksPerGroup>(t, p, b0, blocks, n_b);
    return;
  }
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  out[0] = wasm_f32x4_extract_lane(v, 0);
  out[1] = wasm_f32x4_extract_lane(v, 2);
}

// Decode reads a matrix's rows (this thread's share of them) as this many interleaved sequential
// streams, one row (Q4: one row pair) of each in turn: one core keeps more cache lines in flight
// over several streams than over one, and wasm has no prefetch instruction. Intel Xeon VM, one
// thread: a wasm read loop 7-9 GB/s as one stream, 12-16 as four; 2, 3, 6 and 8 streams were no
// better for decode. Native decode keeps one stream (it prefetches; platforms/wasm/README.md has
// what 4 streams did there).
constexpr int kDecodeStreams = 4;

// Rows [m0, m0 + mr) x columns [n_begin, n_end) of y, one activation row at a time: each row is
// prepared kPreparedBlocks blocks at a time and swept by kTileCols-wide tiles (kTileCols = 1: RowDot,
// one weight row at a time, or Q4RowDotPair for Q4); with K beyond one prepared chunk, y collects the chunks' partial sums.
template <int kTileCols, bool kQ4, int kBlocksPerGroup, bool kTransposed>
void SweepRows(const GemmTile& t, int64_t m0, int mr, int64_t n_begin, int64_t n_end) {
  const GemmArgs& a = *t.args;
  const float* row_scales = static_cast<const float*>(t.w_scales);
  PreparedRow p;
  for (int64_t m = m0; m < m0 + mr; ++m) {
    float* y = a.y + m * a.ldy;
    for (int64_t b0 = 0; b0 < t.blocks; b0 += kPreparedBlocks) {
      const int64_t blocks = t.blocks - b0 < kPreparedBlocks ? t.blocks - b0 : kPreparedBlocks;
      PrepareRow<kQ4, kTransposed>(static_cast<const int8_t*>(t.x) + m * t.x_row_elements + b0 * 32,
                                   t.x_scales + m * t.blocks + b0, blocks, &p);
      if constexpr (kTileCols == 1) {
        // Rows n .. n + kRowsPerStep - 1 into y (Q4 two at a time, Q4RowDotPair).
        const auto rows_at = [&](int64_t n) {
          if constexpr (kQ4) {
            float dots[2];
            Q4RowDotPair<kBlocksPerGroup, kTransposed>(t, p, b0, blocks, n, n + 1, dots);
            for (int r = 0; r < 2; ++r) y[n + r] = b0 == 0 ? dots[r] : y[n + r] + dots[r];
          } else {
            const float v = RowDot<kQ4, kBlocksPerGroup>(t, p, b0, blocks, n) * row_scales[n];
            y[n] = b0 == 0 ? v : y[n] + v;
          }
        };
        constexpr int64_t kRowsPerStep = kQ4 ? 2 : 1;
        // kDecodeStreams streams, one row (pair) from each in turn, then the rows left over.
        const int64_t per_stream = (n_end - n_begin) / (kDecodeStreams * kRowsPerStep) * kRowsPerStep;
        for (int64_t i = 0; i < per_stream; i += kRowsPerStep) {
          for (int s = 0; s < kDecodeStreams; ++s) rows_at(n_begin + s * per_stream + i);
        }
        int64_t n = n_begin + kDecodeStreams * per_stream;
        for (; n + kRowsPerStep <= n_end; n += kRowsPerStep) rows_at(n);
        if (kQ4 && n < n_end) {  // an odd last Q4 row: alone, or (transposed groups) paired with itself
          float dot;
          if constexpr (kQ4 && kTransposed) {
            float dots[2];
            Q4RowDotPair<kBlocksPerGroup, kTransposed>(t, p, b0, blocks, n, n, dots);
            dot = dots[0];
          } else {
            dot = RowDot<kQ4, kBlocksPerGroup>(t, p, b0, blocks, n);
          }
          y[n] = b0 == 0 ? dot : y[n] + dot;
        }
      } else {
        for (int64_t n0 = n_begin; n0 < n_end; n0 += kTileCols) {
          const int nr = n_end - n0 < kTileCols ? static_cast<int>(n_end - n0) : kTileCols;
          alignas(16) float out[kTileCols];
          static_assert(!kTransposed, "the prefill tiles read the stored layout");
          PrefillTile<kTileCols, kQ4, kBlocksPerGroup>(t, p, b0, blocks, n0, nr, out);
          for (int c = 0; c < nr; ++c) {
            const float v = kQ4 ? out[c] : out[c] * row_scales[n0 + c];
            y[n0 + c] = b0 == 0 ? v : y[n0 + c] + v;
          }
        }
      }
    }
  }
}

// All rows of y, for any M. M = 1 (decode) reads one weight row at a time (RowDot). With M >= 2 the
// activation rows run against 8-row tiles (kTransposed: each against the decode loop over the
// transposed groups; q4 pp128 of SmolLM2-135M ran 1.32x the 8-row tiles' speed over the stored
// layout, median of 10 alternating runs), and the columns go in blocks of about
// kGemmColumnBlockBytes of weights, each swept by every activation row while it sits in L2 (as
// RunGemmTiles does); the rows share no registers, so this costs M weight passes from L2 per block
// instead of M / 4 with register tiles of 4 rows, but the in-place unpacking and 4-column reductions
// make one pass cheaper than a 4 x 4 tile's share.
template <bool kQ4, int kBlocksPerGroup, bool kTransposed = false>
void GemmRows(const GemmTile& t) {
  const GemmArgs& a = *t.args;
  if (a.m <= 0 || a.n_end <= a.n_begin) return;
  int64_t block_columns = a.n_end - a.n_begin;
  if (a.m >= 2) {
    const int64_t fit = kGemmColumnBlockBytes / (t.w_row_bytes > 0 ? t.w_row_bytes : 1) / kPrefillTileCols;
    block_columns = (fit > 1 ? fit : 1) * kPrefillTileCols;
  }
  for (int64_t nb = a.n_begin; nb < a.n_end; nb += block_columns) {
    const int64_t ne = a.n_end - nb < block_columns ? a.n_end : nb + block_columns;
    if (a.m == 1) {
      SweepRows<1, kQ4, kBlocksPerGroup, kTransposed>(t, 0, 1, nb, ne);
    } else if constexpr (kTransposed) {  // each activation row as in decode
      SweepRows<1, kQ4, kBlocksPerGroup, kTransposed>(t, 0, static_cast<int>(a.m), nb, ne);
    } else {
      SweepRows<kPrefillTileCols, kQ4, kBlocksPerGroup, false>(t, 0, static_cast<int>(a.m), nb, ne);
    }
  }
}

// Q4 through GemmRows, specialized for groups of 32 and 64 columns (the relaxed and the baseline
// objects each instantiate it with their own Q4BlockDot). kTransposed: rows in transposed groups
// (relaxed only).
template <bool kTransposed = false>
void Q4GemmRows(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16, int64_t group_size,
                const int8_t* xq, const float* x_scales) {
  const GemmTile t = MakeQuantGemmTile(a, w, w_scales_f16, group_size, xq, x_scales);
  if (t.blocks_per_group == 1) return GemmRows<true, 1, kTransposed>(t);
  if (t.blocks_per_group == 2) return GemmRows<true, 2, kTransposed>(t);
  GemmRows<true, 0, kTransposed>(t);
}

}  // namespace

#if !defined(KITE_WASM_RELAXED)
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
  GemmRows<false, 0>(MakeQuantGemmTile(a, w, w_scales, 0, xq, x_scales));
}

void qs4_gemm_f32__wasm_simd128(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                int64_t group_size, const int8_t* xq, const float* x_scales) {
  Q4GemmRows(a, w, w_scales_f16, group_size, xq, x_scales);
}

// Same bytes as f32_qd8_quantize__scalar for finite input. The block maximum uses f32x4.pmax (one
// maxps in V8, where f32x4.max's NaN rules cost ~7 instructions); like the reference's fmax it skips
// NaN. Rounding and conversion are one add of 1.5 * 2^23: for |v| < 2^22 the f32 sum rounds v to the
// nearest integer, ties to even, like nearbyint, and leaves it in the low mantissa bits (this
// replaces f32x4.nearest and the saturating conversion, ~8 instructions in V8). Non-finite input
// gives unspecified codes, kept in [-127, 127] (the relaxed Q8 kernel's |x| must fit 7 bits).
void f32_qd8_quantize__wasm_simd128(const float* x, int64_t m, int64_t k, int8_t* xq, float* x_scales) {
  const int64_t k_pad = Q8RowBytes(k);
  const int64_t blocks = k_pad / kQuantBlock;
  const v128_t magic = wasm_f32x4_splat(12582912.0f);  // 1.5 * 2^23
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
        abs_max = wasm_f32x4_pmax(abs_max, wasm_f32x4_abs(v[j]));
      }
      abs_max = wasm_f32x4_pmax(abs_max, wasm_i32x4_shuffle(abs_max, abs_max, 2, 3, 0, 1));
      abs_max = wasm_f32x4_pmax(abs_max, wasm_i32x4_shuffle(abs_max, abs_max, 1, 0, 3, 2));
      const float max_value = wasm_f32x4_extract_lane(abs_max, 0);
      int8_t* dst = xq + r * k_pad + c0;
      if (!(max_value >= kQ8ActivationMinAbsMax)) {
        x_scales[r * blocks + b] = 0.0f;
        wasm_v128_store(dst, wasm_i8x16_splat(0));
        wasm_v128_store(dst + 16, wasm_i8x16_splat(0));
        continue;
      }
      x_scales[r * blocks + b] = max_value / 127.0f;
      const v128_t inv_scale = wasm_f32x4_splat(127.0f / max_value);
      v128_t q32[8];
      for (int j = 0; j < 8; ++j) {
        // |v * inv_scale| <= 127 * (1 + 2^-23), so the sum's bits are magic's plus the code.
        q32[j] = wasm_i32x4_sub(wasm_f32x4_add(wasm_f32x4_mul(v[j], inv_scale), magic), magic);
      }
      const v128_t q16_0 = wasm_i16x8_narrow_i32x4(q32[0], q32[1]);
      const v128_t q16_1 = wasm_i16x8_narrow_i32x4(q32[2], q32[3]);
      const v128_t q16_2 = wasm_i16x8_narrow_i32x4(q32[4], q32[5]);
      const v128_t q16_3 = wasm_i16x8_narrow_i32x4(q32[6], q32[7]);
      const v128_t low = wasm_i8x16_splat(-127);
      wasm_v128_store(dst, wasm_i8x16_max(wasm_i8x16_narrow_i16x8(q16_0, q16_1), low));
      wasm_v128_store(dst + 16, wasm_i8x16_max(wasm_i8x16_narrow_i16x8(q16_2, q16_3), low));
    }
  }
}

#else  // KITE_WASM_RELAXED: the relaxed Q4 kernel and the set that uses it

void qs4_gemm_f32__wasm_relaxed(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                int64_t group_size, const int8_t* xq, const float* x_scales) {
  Q4GemmRows(a, w, w_scales_f16, group_size, xq, x_scales);
}

// The same over rows in transposed groups (kernels/quant_formats.h).
void qs4t_gemm_f32__wasm_relaxed(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                 int64_t group_size, const int8_t* xq, const float* x_scales) {
  Q4GemmRows<true>(a, w, w_scales_f16, group_size, xq, x_scales);
}

void qs8_gemm_f32__wasm_relaxed(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                                const float* x_scales) {
  GemmRows<false, 0>(MakeQuantGemmTile(a, w, w_scales, 0, xq, x_scales));
}

// The float formats and the quantizer are the baseline's (in the module's other, clang-14 object).
extern const GemmKernels kWasmRelaxedGemmKernels = {
    "wasm-relaxed-simd", f32_gemm_f32__wasm_simd128, f16_gemm_f32__wasm_simd128, bf16_gemm_f32__wasm_simd128,
    qs8_gemm_f32__wasm_relaxed, qs4_gemm_f32__wasm_relaxed, f32_qd8_quantize__wasm_simd128, 4, nullptr, nullptr,
    qs4t_gemm_f32__wasm_relaxed};

#endif  // KITE_WASM_RELAXED

}  // namespace kernels
}  // namespace kite
