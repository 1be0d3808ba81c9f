// NEON versions of the MLA inner loops (kernels/mla.h): the AVX2 structure with 4-lane vectors
// (four cache rows per score block, 16 context outputs in registers). Remainders are scalar.
#include <arm_neon.h>

#include "kernels/mla.h"

namespace kite {
namespace kernels {
namespace {

inline float TailDot(const float* a, const float* b, int64_t from, int64_t n) {
  float s = 0;
  for (int64_t i = from; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline void Dot4Rows(const float* q, const float* r0, const float* r1, const float* r2, const float* r3, int64_t n4,
                     float32x4_t& a0, float32x4_t& a1, float32x4_t& a2, float32x4_t& a3) {
  for (int64_t i = 0; i < n4; i += 4) {
    const float32x4_t qv = vld1q_f32(q + i);
    a0 = vfmaq_f32(a0, qv, vld1q_f32(r0 + i));
    a1 = vfmaq_f32(a1, qv, vld1q_f32(r1 + i));
    a2 = vfmaq_f32(a2, qv, vld1q_f32(r2 + i));
    a3 = vfmaq_f32(a3, qv, vld1q_f32(r3 + i));
  }
}

}  // namespace

void f32_mla_scores__neon(const float* q_latent, const float* q_pe, const float* cache, int64_t len,
                          int64_t row_stride, int64_t latent, int64_t rope_dim, float scale, float* scores) {
  const int64_t r4 = latent & ~int64_t{3}, d4 = rope_dim & ~int64_t{3};
  int64_t j = 0;
  for (; j + 4 <= len; j += 4) {
    const float* rows[4] = {cache + j * row_stride, cache + (j + 1) * row_stride, cache + (j + 2) * row_stride,
                            cache + (j + 3) * row_stride};
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0), a2 = vdupq_n_f32(0), a3 = vdupq_n_f32(0);
    Dot4Rows(q_latent, rows[0], rows[1], rows[2], rows[3], r4, a0, a1, a2, a3);
    Dot4Rows(q_pe, rows[0] + latent, rows[1] + latent, rows[2] + latent, rows[3] + latent, d4, a0, a1, a2, a3);
    const float s[4] = {vaddvq_f32(a0), vaddvq_f32(a1), vaddvq_f32(a2), vaddvq_f32(a3)};
    for (int k = 0; k < 4; ++k) {
      const float tail = TailDot(q_latent, rows[k], r4, latent) + TailDot(q_pe, rows[k] + latent, d4, rope_dim);
      scores[j + k] = (s[k] + tail) * scale;
    }
  }
  for (; j < len; ++j) {
    const float* row = cache + j * row_stride;
    float32x4_t acc = vdupq_n_f32(0);
    for (int64_t i = 0; i < r4; i += 4) acc = vfmaq_f32(acc, vld1q_f32(q_latent + i), vld1q_f32(row + i));
    for (int64_t i = 0; i < d4; i += 4) acc = vfmaq_f32(acc, vld1q_f32(q_pe + i), vld1q_f32(row + latent + i));
    const float tail = TailDot(q_latent, row, r4, latent) + TailDot(q_pe, row + latent, d4, rope_dim);
    scores[j] = (vaddvq_f32(acc) + tail) * scale;
  }
}

void f32_mla_context__neon(const float* p, const float* cache, int64_t len, int64_t row_stride, int64_t latent,
                           float* out) {
  int64_t i = 0;
  for (; i + 16 <= latent; i += 16) {
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0), a2 = vdupq_n_f32(0), a3 = vdupq_n_f32(0);
    for (int64_t j = 0; j < len; ++j) {
      const float pj = p[j];
      const float* row = cache + j * row_stride + i;
      a0 = vfmaq_n_f32(a0, vld1q_f32(row), pj);
      a1 = vfmaq_n_f32(a1, vld1q_f32(row + 4), pj);
      a2 = vfmaq_n_f32(a2, vld1q_f32(row + 8), pj);
      a3 = vfmaq_n_f32(a3, vld1q_f32(row + 12), pj);
    }
    vst1q_f32(out + i, a0);
    vst1q_f32(out + i + 4, a1);
    vst1q_f32(out + i + 8, a2);
    vst1q_f32(out + i + 12, a3);
  }
  for (; i + 4 <= latent; i += 4) {
    float32x4_t acc = vdupq_n_f32(0);
    for (int64_t j = 0; j < len; ++j) acc = vfmaq_n_f32(acc, vld1q_f32(cache + j * row_stride + i), p[j]);
    vst1q_f32(out + i, acc);
  }
  for (; i < latent; ++i) {
    float s = 0;
    for (int64_t j = 0; j < len; ++j) s += p[j] * cache[j * row_stride + i];
    out[i] = s;
  }
}

void f32_axpy__neon(float a, const float* x, int64_t n, float* y) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
  for (; i < n; ++i) y[i] += a * x[i];
}

}  // namespace kernels
}  // namespace kite
