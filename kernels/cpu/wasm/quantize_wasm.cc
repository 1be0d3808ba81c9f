// The WebAssembly SIMD128 activation quantizer of the Q8/Q4 gemm kernels (f32 rows to the Q8
// activation layout of kernels/quant_formats.h), shared by the baseline and relaxed kernel sets.
#include <cstdint>

#include "kernels/cpu/wasm/wasm_common.h"
#include "kernels/gemm_microkernels.h"
#include "kernels/quant_formats.h"

namespace kite {
namespace kernels {

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

}  // namespace kernels
}  // namespace kite
