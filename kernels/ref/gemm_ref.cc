// The scalar reference gemm kernels: the truth every SIMD kernel is tested
// against, so they are written to be read, not to be fast. The quantized ones
// fix the arithmetic the SIMD twins reproduce: an exact int32 dot product per
// 32-column block, then f32 scaling and accumulation.
#include <cmath>

#include "kernels/gemm_microkernels.h"
#include "kernels/quant_formats.h"
#include "kernels/quantize.h"

namespace kite {
namespace kernels {

// y[m][n] = sum_k x[m][k] * w[n][k]
void f32_gemm_f32__scalar(const GemmArgs& a, const float* w, const float* x) {
  for (int64_t m = 0; m < a.m; ++m) {
    const float* xm = x + m * a.k;  // x: [M][K]
    for (int64_t n = a.n_begin; n < a.n_end; ++n) {
      const float* wn = w + n * a.k;  // w: [N][K]
      float acc = 0.0f;
      for (int64_t k = 0; k < a.k; ++k) acc += xm[k] * wn[k];
      a.y[m * a.ldy + n] = acc;
    }
  }
}

void f16_gemm_f32__scalar(const GemmArgs& a, const uint16_t* w, const float* x) {
  for (int64_t m = 0; m < a.m; ++m) {
    const float* xm = x + m * a.k;  // x: [M][K]
    for (int64_t n = a.n_begin; n < a.n_end; ++n) {
      const uint16_t* wn = w + n * a.k;  // w: [N][K] f16
      float acc = 0.0f;
      for (int64_t k = 0; k < a.k; ++k) acc += xm[k] * HalfToFloat(wn[k]);
      a.y[m * a.ldy + n] = acc;
    }
  }
}

void bf16_gemm_f32__scalar(const GemmArgs& a, const uint16_t* w, const float* x) {
  for (int64_t m = 0; m < a.m; ++m) {
    const float* xm = x + m * a.k;  // x: [M][K]
    for (int64_t n = a.n_begin; n < a.n_end; ++n) {
      const uint16_t* wn = w + n * a.k;  // w: [N][K] bf16
      float acc = 0.0f;
      for (int64_t k = 0; k < a.k; ++k) acc += xm[k] * Bf16ToFloat(wn[k]);
      a.y[m * a.ldy + n] = acc;
    }
  }
}

// y[m][n] = w_scale[n] * sum_b x_scale[m][b] * sum_{j<32} w[n][32b+j] * xq[m][32b+j]
void qs8_gemm_f32__scalar(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                          const float* x_scales) {
  const int64_t k_pad = Q8RowBytes(a.k);
  const int64_t blocks = k_pad / kQuantBlock;
  for (int64_t m = 0; m < a.m; ++m) {
    const int8_t* xm = xq + m * k_pad;           // xq: [M][K_pad]
    const float* xs = x_scales + m * blocks;     // x_scales: [M][blocks]
    for (int64_t n = a.n_begin; n < a.n_end; ++n) {
      const int8_t* wn = w + n * k_pad;  // w: [N][K_pad]
      float acc = 0.0f;
      for (int64_t b = 0; b < blocks; ++b) {
        int32_t dot = 0;  // exact: |dot| <= 32 * 128 * 127
        for (int64_t j = b * kQuantBlock; j < (b + 1) * kQuantBlock; ++j) dot += wn[j] * xm[j];
        acc += static_cast<float>(dot) * xs[b];
      }
      a.y[m * a.ldy + n] = acc * w_scales[n];
    }
  }
}

// y[m][n] = sum_b w_scale[n][32b / G] * x_scale[m][b] * sum_{j<32} q4[n][32b+j] * xq[m][32b+j]
void qs4_gemm_f32__scalar(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16, int64_t group_size,
                          const int8_t* xq, const float* x_scales) {
  const int64_t k_pad = Q8RowBytes(a.k);  // activation columns; the weight row may be padded further
  const int64_t blocks = k_pad / kQuantBlock;
  const int64_t w_row_bytes = Q4RowBytes(a.k, group_size);
  const int64_t groups = Q4GroupsPerRow(a.k, group_size);
  for (int64_t m = 0; m < a.m; ++m) {
    const int8_t* xm = xq + m * k_pad;        // xq: [M][K_pad]
    const float* xs = x_scales + m * blocks;  // x_scales: [M][blocks]
    for (int64_t n = a.n_begin; n < a.n_end; ++n) {
      const uint8_t* wn = w + n * w_row_bytes;                 // w: [N][K_pad_G / 2]
      const uint16_t* ws = w_scales_f16 + n * groups;          // w_scales: [N][groups] f16
      float acc = 0.0f;
      for (int64_t b = 0; b < blocks; ++b) {
        int32_t dot = 0;
        for (int64_t j = b * kQuantBlock; j < (b + 1) * kQuantBlock; ++j) dot += Q4CodeAt(wn, j) * xm[j];
        const float scale = HalfToFloat(ws[b * kQuantBlock / group_size]) * xs[b];
        acc += static_cast<float>(dot) * scale;
      }
      a.y[m * a.ldy + n] = acc;
    }
  }
}

// Per 32-column block: scale = max|x| / 127, q = round(x * (127 / max|x|)), ties to even.
// Multiplying by the reciprocal (not dividing by the scale) is what the SIMD twins do too, so all
// ISAs produce the same bytes.
void f32_qd8_quantize__scalar(const float* x, int64_t m, int64_t k, int8_t* xq, float* x_scales) {
  const int64_t k_pad = Q8RowBytes(k);
  const int64_t blocks = k_pad / kQuantBlock;
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t c0 = b * kQuantBlock;
      const int64_t count = k - c0 < kQuantBlock ? k - c0 : kQuantBlock;  // padding reads as 0
      const float* src = x + r * k + c0;
      int8_t* dst = xq + r * k_pad + c0;
      float abs_max = 0.0f;
      for (int64_t j = 0; j < count; ++j) abs_max = std::fmax(abs_max, std::fabs(src[j]));
      if (!(abs_max >= kQ8ActivationMinAbsMax)) {  // also catches NaN
        x_scales[r * blocks + b] = 0.0f;
        for (int64_t j = 0; j < kQuantBlock; ++j) dst[j] = 0;
        continue;
      }
      x_scales[r * blocks + b] = abs_max / 127.0f;
      const float inv_scale = 127.0f / abs_max;
      // |x * inv_scale| <= 127 * (1 + 2^-23): rounds to at most 127, no clamp needed. Non-finite input
      // gives unspecified codes on every ISA; the NaN check only keeps the conversion defined.
      for (int64_t j = 0; j < count; ++j) {
        const float v = src[j] * inv_scale;
        dst[j] = static_cast<int8_t>(v == v ? std::nearbyint(v) : 0.0f);
      }
      for (int64_t j = count; j < kQuantBlock; ++j) dst[j] = 0;
    }
  }
}

}  // namespace kernels
}  // namespace kite
