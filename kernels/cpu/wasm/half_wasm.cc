// WebAssembly SIMD128 f32 -> IEEE half rows (kernels::FloatToHalfRow in wasm builds), for the f16
// KV cache's writes: the scalar FloatToHalf's branches cost about 1% of a SmolLM2-135M decode step
// under node 20. Same bits as FloatToHalf for every input (tests/kernels/quantize_test.cc).
#include <wasm_simd128.h>

#include <cstdint>

#include "kernels/quantize.h"

namespace kite {
namespace kernels {
namespace {

// 4 floats to halves in the low 16 bits of each 32-bit lane. Branch-free round to nearest even:
// scaling |f| by 2^112 then 2^-110 rounds away the bits a half cannot hold for subnormal halves and
// turns overflow into inf; adding a power of two picked from f's exponent (at least 2^-14 * 2^11)
// makes the f32 addition itself round the mantissa to the half's 10 bits, ties to even, and the
// half's exponent and mantissa are then read off the sum's bits.
inline v128_t FloatToHalfLanes(v128_t f) {
  const v128_t shl1 = wasm_i32x4_add(f, f);  // the bits without the sign
  v128_t base = wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_abs(f), wasm_f32x4_splat(0x1p+112f)),
                               wasm_f32x4_splat(0x1p-110f));
  const v128_t bias = wasm_u32x4_max(wasm_v128_and(shl1, wasm_i32x4_splat(static_cast<int32_t>(0xff000000u))),
                                     wasm_i32x4_splat(0x71000000));
  base = wasm_f32x4_add(wasm_i32x4_add(wasm_u32x4_shr(bias, 1), wasm_i32x4_splat(0x07800000)), base);
  const v128_t nonsign = wasm_i32x4_add(wasm_v128_and(wasm_u32x4_shr(base, 13), wasm_i32x4_splat(0x7c00)),
                                        wasm_v128_and(base, wasm_i32x4_splat(0x0fff)));
  // NaN (bits above inf's, sign aside): a quiet NaN with the top payload bits, as FloatToHalf.
  const v128_t is_nan = wasm_u32x4_gt(shl1, wasm_i32x4_splat(static_cast<int32_t>(0xff000000u)));
  const v128_t nan =
      wasm_v128_or(wasm_i32x4_splat(0x7e00), wasm_v128_and(wasm_u32x4_shr(f, 13), wasm_i32x4_splat(0x3ff)));
  const v128_t sign = wasm_u32x4_shr(wasm_v128_and(f, wasm_i32x4_splat(static_cast<int32_t>(0x80000000u))), 16);
  return wasm_v128_or(sign, wasm_v128_bitselect(nan, nonsign, is_nan));
}

}  // namespace

void FloatToHalfRowWasm(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v128_t lo = FloatToHalfLanes(wasm_v128_load(src + i)), hi = FloatToHalfLanes(wasm_v128_load(src + i + 4));
    wasm_v128_store(dst + i, wasm_u16x8_narrow_i32x4(lo, hi));  // lanes are in [0, 0xffff]: exact
  }
  for (; i < n; ++i) dst[i] = FloatToHalf(src[i]);
}

}  // namespace kernels
}  // namespace kite
