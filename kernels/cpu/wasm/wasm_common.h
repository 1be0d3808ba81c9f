// Helpers shared by the WebAssembly SIMD128 kernel files (static inline: one copy per file).
#pragma once

#include <wasm_simd128.h>

#include <cstdint>

#define KITE_WASM_INLINE static inline __attribute__((always_inline))

namespace kite {
namespace kernels {
namespace wasm {

// a0 + a1 + a2 + a3 as (a0 + a2) + (a1 + a3).
KITE_WASM_INLINE float HorizontalSum(v128_t v) {
  const v128_t sum2 = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  return wasm_f32x4_extract_lane(wasm_f32x4_add(sum2, wasm_i32x4_shuffle(sum2, sum2, 1, 0, 3, 2)), 0);
}

KITE_WASM_INLINE float HorizontalMax(v128_t v) {
  const v128_t max2 = wasm_f32x4_max(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  return wasm_f32x4_extract_lane(wasm_f32x4_max(max2, wasm_i32x4_shuffle(max2, max2, 1, 0, 3, 2)), 0);
}

// e^x (Cephes-style: range reduction by ln 2, degree-6 polynomial, as avx_common.inc's) for
// x <= 88.7 (clamped above); 0 below -87.33, so -inf (a masked key) gives 0.
KITE_WASM_INLINE v128_t Exp(v128_t x_in) {
  const v128_t min_x = wasm_f32x4_splat(-87.33654f);
  const v128_t x = wasm_f32x4_min(wasm_f32x4_max(x_in, min_x), wasm_f32x4_splat(88.72283f));
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));  // x - n ln2, ln2 in two parts
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_splat(1.3981999507e-3f), wasm_f32x4_mul(p, r));
  p = wasm_f32x4_add(wasm_f32x4_splat(8.3334519073e-3f), wasm_f32x4_mul(p, r));
  p = wasm_f32x4_add(wasm_f32x4_splat(4.1665795894e-2f), wasm_f32x4_mul(p, r));
  p = wasm_f32x4_add(wasm_f32x4_splat(1.6666665459e-1f), wasm_f32x4_mul(p, r));
  p = wasm_f32x4_add(wasm_f32x4_splat(5.0000001201e-1f), wasm_f32x4_mul(p, r));
  p = wasm_f32x4_add(wasm_f32x4_add(r, wasm_f32x4_splat(1.0f)), wasm_f32x4_mul(wasm_f32x4_mul(p, r), r));
  const v128_t two_n = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  const v128_t result = wasm_f32x4_mul(p, two_n);
  return wasm_v128_and(result, wasm_f32x4_ge(x_in, min_x));
}

// f32's exponent bias minus f16's is 127 - 15 = 112: the factor the conversions below end with.
constexpr float kHalfToFloatRebias = 0x1p112f;

// 4 IEEE halves (in the low 16 bits of each 32-bit lane; the high bits are ignored) to f32, exactly.
// (sign, exponent, mantissa) moved to (bit 31, bits 23-27, bits 13-22) is the value / 2^112 as an
// f32 (subnormal halves included: wasm keeps f32 subnormals), and multiplying by 2^112 is exact.
// Inf/NaN (exponent 31) come out of the multiply with the f32 exponent 143 and the right sign and
// mantissa: setting all exponent bits makes them Inf/NaN. (Checked against HalfToFloat for all
// 65536 halves.)
// FiniteHalfLanesToFloat is the same without that last step: exact for finite halves only.
// FiniteHighHalfLanesToFloat takes the halves in the high 16 bits of each lane instead (the low bits
// are ignored), as an interleave with zeros leaves them.
// FiniteHighHalfLanesToFloatOver2p112 stops short of the multiply: each lane is the half times 2^-112,
// exactly (a caller that folds 2^112 into another factor saves the multiply).
KITE_WASM_INLINE v128_t FiniteHighHalfLanesToFloatOver2p112(v128_t high) {
  const v128_t spread = wasm_i32x4_shr(high, 3);  // sign in bits 28-31
  return wasm_v128_and(spread, wasm_i32x4_splat(static_cast<int32_t>(0x8fffe000)));
}

KITE_WASM_INLINE v128_t FiniteHighHalfLanesToFloat(v128_t high) {
  return wasm_f32x4_mul(FiniteHighHalfLanesToFloatOver2p112(high), wasm_f32x4_splat(kHalfToFloatRebias));
}

KITE_WASM_INLINE v128_t FiniteHalfLanesToFloat(v128_t h) { return FiniteHighHalfLanesToFloat(wasm_i32x4_shl(h, 16)); }

KITE_WASM_INLINE v128_t HalfLanesToFloat(v128_t h) {
  const v128_t f = FiniteHalfLanesToFloat(h);
  const v128_t exponent = wasm_v128_and(h, wasm_i32x4_splat(0x7c00));
  const v128_t inf_nan = wasm_i32x4_eq(exponent, wasm_i32x4_splat(0x7c00));
  return wasm_v128_or(f, wasm_v128_and(inf_nan, wasm_i32x4_splat(0x7f800000)));
}

// 4 halves at p to f32.
KITE_WASM_INLINE v128_t LoadHalf4(const uint16_t* p) { return HalfLanesToFloat(wasm_u32x4_load16x4(p)); }

}  // namespace wasm
}  // namespace kernels
}  // namespace kite
