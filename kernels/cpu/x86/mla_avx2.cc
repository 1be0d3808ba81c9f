// AVX2 + FMA versions of the MLA inner loops (kernels/mla.h). Scores take four cache rows at a
// time so each q_latent vector load serves four dot products; the context keeps 32 output floats
// in registers while it walks the rows. Remainders (lengths not a multiple of 8) are scalar.
#include <immintrin.h>

#include "kernels/mla.h"

namespace kite {
namespace kernels {
namespace {

// Sums of four vectors' lanes: [sum a0, sum a1, sum a2, sum a3].
inline __m128 HorizontalSum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

inline float HorizontalSum(__m256 a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// acc_k += q[0:n8] . rows_k[0:n8] for four rows; n8 a multiple of 8.
inline void Dot4Rows(const float* q, const float* r0, const float* r1, const float* r2, const float* r3, int64_t n8,
                     __m256& a0, __m256& a1, __m256& a2, __m256& a3) {
  for (int64_t i = 0; i < n8; i += 8) {
    const __m256 qv = _mm256_loadu_ps(q + i);
    a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r0 + i), a0);
    a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r1 + i), a1);
    a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r2 + i), a2);
    a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r3 + i), a3);
  }
}

inline float TailDot(const float* a, const float* b, int64_t from, int64_t n) {
  float s = 0;
  for (int64_t i = from; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

void f32_mla_scores__avx2(const float* q_latent, const float* q_pe, const float* cache, int64_t len,
                          int64_t row_stride, int64_t latent, int64_t rope_dim, float scale, float* scores) {
  const int64_t r8 = latent & ~int64_t{7}, d8 = rope_dim & ~int64_t{7};
  int64_t j = 0;
  for (; j + 4 <= len; j += 4) {
    const float* rows[4] = {cache + j * row_stride, cache + (j + 1) * row_stride, cache + (j + 2) * row_stride,
                            cache + (j + 3) * row_stride};
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    Dot4Rows(q_latent, rows[0], rows[1], rows[2], rows[3], r8, a0, a1, a2, a3);
    Dot4Rows(q_pe, rows[0] + latent, rows[1] + latent, rows[2] + latent, rows[3] + latent, d8, a0, a1, a2, a3);
    float s[4];
    _mm_storeu_ps(s, HorizontalSum4(a0, a1, a2, a3));
    for (int k = 0; k < 4; ++k) {
      const float tail = TailDot(q_latent, rows[k], r8, latent) + TailDot(q_pe, rows[k] + latent, d8, rope_dim);
      scores[j + k] = (s[k] + tail) * scale;
    }
  }
  for (; j < len; ++j) {
    const float* row = cache + j * row_stride;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < r8; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q_latent + i), _mm256_loadu_ps(row + i), acc);
    for (int64_t i = 0; i < d8; i += 8) {
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(q_pe + i), _mm256_loadu_ps(row + latent + i), acc);
    }
    const float tail = TailDot(q_latent, row, r8, latent) + TailDot(q_pe, row + latent, d8, rope_dim);
    scores[j] = (HorizontalSum(acc) + tail) * scale;
  }
}

void f32_mla_context__avx2(const float* p, const float* cache, int64_t len, int64_t row_stride, int64_t latent,
                           float* out) {
  int64_t i = 0;
  for (; i + 32 <= latent; i += 32) {  // 32 outputs in four registers
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t j = 0; j < len; ++j) {
      const __m256 pj = _mm256_set1_ps(p[j]);
      const float* row = cache + j * row_stride + i;
      a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(row), a0);
      a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(row + 8), a1);
      a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(row + 16), a2);
      a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(row + 24), a3);
    }
    _mm256_storeu_ps(out + i, a0);
    _mm256_storeu_ps(out + i + 8, a1);
    _mm256_storeu_ps(out + i + 16, a2);
    _mm256_storeu_ps(out + i + 24, a3);
  }
  for (; i + 8 <= latent; i += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t j = 0; j < len; ++j) {
      acc = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(cache + j * row_stride + i), acc);
    }
    _mm256_storeu_ps(out + i, acc);
  }
  for (; i < latent; ++i) {
    float s = 0;
    for (int64_t j = 0; j < len; ++j) s += p[j] * cache[j * row_stride + i];
    out[i] = s;
  }
}

void f32_axpy__avx2(float a, const float* x, int64_t n, float* y) {
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

}  // namespace kernels
}  // namespace kite
