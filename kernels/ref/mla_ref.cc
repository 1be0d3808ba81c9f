// Scalar reference of the MLA inner loops (kernels/mla.h). The dot products use the same four
// partial sums as kernels::Dot (kernels/ref/transformer_ops.cc), so the runtime's scalar path
// gives the values it gave before these kernels existed.
#include "kernels/mla.h"

namespace kite {
namespace kernels {
namespace {

float Dot4(const float* a, const float* b, int64_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

}  // namespace

void f32_mla_scores__scalar(const float* q_latent, const float* q_pe, const float* cache, int64_t len,
                            int64_t row_stride, int64_t latent, int64_t rope_dim, float scale, float* scores) {
  for (int64_t j = 0; j < len; ++j) {
    const float* row = cache + j * row_stride;  // [c (latent) | k_pe (rope_dim)]
    scores[j] = (Dot4(q_latent, row, latent) + Dot4(q_pe, row + latent, rope_dim)) * scale;
  }
}

void f32_mla_context__scalar(const float* p, const float* cache, int64_t len, int64_t row_stride, int64_t latent,
                             float* out) {
  for (int64_t i = 0; i < latent; ++i) out[i] = 0.0f;
  for (int64_t j = 0; j < len; ++j) {
    const float pj = p[j];
    const float* row = cache + j * row_stride;
    for (int64_t i = 0; i < latent; ++i) out[i] += pj * row[i];
  }
}

void f32_axpy__scalar(float a, const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace kernels
}  // namespace kite
