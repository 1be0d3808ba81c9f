// AVX2 + FMA + F16C tile operations of the attention driver (kernels/attention_tiles.h). Compiled
// with those flags alone; kernels/attention.cc calls f32_attention__avx2 after the cpuid check.
//
//   scores      8 keys at a time per lane: 8 accumulators over head_dim, reduced by a tree of
//               hadds into one vector of 8 scores.
//   softmax     vectorized over the tile: index masks for the lane's valid keys, a Cephes-style exp
//               (range reduction by ln 2, degree-6 polynomial: within 2 ulp of expf for results
//               above FLT_MIN, 0 below), tanh(y) = (1 - e^(-2|y|)) / (1 + e^(-2|y|)) for soft-capping.
//   accumulate  64 output dims per pass in 8 registers, one broadcast p_j per key.
// Scalar math uses __builtin_expf and the like, not <cmath>: an inline std:: function emitted here
// (at -O0) could be the copy the linker keeps for callers on CPUs without AVX2.
#include <immintrin.h>

#include <cstdint>

#include "kernels/attention_tiles.h"
#include "kernels/gemm_tiling.h"

namespace kite {
namespace kernels {
namespace {

#include "kernels/cpu/x86/avx_common.inc"

void LoadRows(const KvCacheView& kv, bool values, int64_t row0, int64_t n, int64_t kv_head, int64_t hd, float* out) {
  const int64_t offset = row0 * kv.row_stride + kv_head * hd;
  if (kv.format == KvFormat::kF16) {
    const uint16_t* src = static_cast<const uint16_t*>(values ? kv.v : kv.k) + offset;
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t d = 0; d < hd; d += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j * kv.row_stride + d));
        _mm256_storeu_ps(out + j * hd + d, _mm256_cvtph_ps(h));
      }
    }
    return;
  }
  // Q8: code * scale of the row and head.
  const int8_t* src = static_cast<const int8_t*>(values ? kv.v : kv.k) + offset;
  const float* scales = (values ? kv.v_scales : kv.k_scales) + row0 * kv.scale_row_stride + kv_head;
  for (int64_t j = 0; j < n; ++j) {
    const __m256 scale = _mm256_set1_ps(scales[j * kv.scale_row_stride]);
    for (int64_t d = 0; d < hd; d += 8) {
      const __m128i codes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + j * kv.row_stride + d));
      _mm256_storeu_ps(out + j * hd + d, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes)), scale));
    }
  }
}

// [sum(a0), ..., sum(a7)]
KITE_ALWAYS_INLINE __m256 ReduceEight(const __m256* a) {
  const __m256 s01 = _mm256_hadd_ps(a[0], a[1]), s23 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 s45 = _mm256_hadd_ps(a[4], a[5]), s67 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
  // s0123 = [a0 a1 a2 a3 (low halves) | a0 a1 a2 a3 (high halves)], the same for s4567.
  const __m256 low = _mm256_permute2f128_ps(s0123, s4567, 0x20), high = _mm256_permute2f128_ps(s0123, s4567, 0x31);
  return _mm256_add_ps(low, high);
}

void Scores(const float* const* q, int lanes, const float* k, int64_t k_stride, int64_t n, int64_t hd, float* scores,
            int64_t stride) {
  for (int l = 0; l < lanes; ++l) {
    const float* ql = q[l];
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
      __m256 acc[8];
      for (int u = 0; u < 8; ++u) acc[u] = _mm256_setzero_ps();
      for (int64_t d = 0; d < hd; d += 8) {
        const __m256 qv = _mm256_loadu_ps(ql + d);
        for (int u = 0; u < 8; ++u) acc[u] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + (j + u) * k_stride + d), acc[u]);
      }
      _mm256_storeu_ps(scores + l * stride + j, ReduceEight(acc));
    }
    for (; j < n; ++j) {
      __m256 acc = _mm256_setzero_ps();
      for (int64_t d = 0; d < hd; d += 8) {
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(ql + d), _mm256_loadu_ps(k + j * k_stride + d), acc);
      }
      scores[l * stride + j] = HorizontalSum(acc);
    }
  }
}

// cap * tanh(x / cap)
KITE_ALWAYS_INLINE __m256 SoftCap(__m256 x, float cap) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 y = _mm256_mul_ps(x, _mm256_set1_ps(1.0f / cap));
  const __m256 t = Exp(_mm256_mul_ps(_mm256_andnot_ps(sign, y), _mm256_set1_ps(-2.0f)));  // e^(-2|y|) in (0, 1]
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 tanh_abs = _mm256_div_ps(_mm256_sub_ps(one, t), _mm256_add_ps(one, t));
  return _mm256_mul_ps(_mm256_or_ps(tanh_abs, _mm256_and_ps(sign, y)), _mm256_set1_ps(cap));
}

void Softmax(float* scores, int64_t stride, int lanes, int64_t n, const int64_t* valid_begin, const int64_t* valid_end,
             float scale, float soft_cap, float* running_max, float* running_sum, float* rescale) {
  const float neg_inf = -__builtin_inff();
  const __m256i index0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int l = 0; l < lanes; ++l) {
    float* s = scores + l * stride;
    const int64_t begin = valid_begin[l], end = valid_end[l];
    if (end <= begin) {  // no key of this tile is visible to the lane
      rescale[l] = 1.0f;
      for (int64_t j = 0; j < n; ++j) s[j] = 0.0f;
      continue;
    }
    const __m256i vb = _mm256_set1_epi32(static_cast<int>(begin) - 1), ve = _mm256_set1_epi32(static_cast<int>(end));
    __m256 tile_max = _mm256_set1_ps(neg_inf);
    for (int64_t j = 0; j < n; j += 8) {
      const __m256i index = _mm256_add_epi32(index0, _mm256_set1_epi32(static_cast<int>(j)));
      const __m256 valid =
          _mm256_castsi256_ps(_mm256_and_si256(_mm256_cmpgt_epi32(index, vb), _mm256_cmpgt_epi32(ve, index)));
      __m256 x = _mm256_mul_ps(_mm256_loadu_ps(s + j), _mm256_set1_ps(scale));
      if (soft_cap > 0.0f) x = SoftCap(x, soft_cap);
      x = _mm256_blendv_ps(_mm256_set1_ps(neg_inf), x, valid);
      _mm256_storeu_ps(s + j, x);
      tile_max = _mm256_max_ps(tile_max, x);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(tile_max), _mm256_extractf128_ps(tile_max, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float old_max = running_max[l];
    const float new_max = __builtin_fmaxf(old_max, _mm_cvtss_f32(m4));
    rescale[l] = old_max == neg_inf ? 0.0f : __builtin_expf(old_max - new_max);
    const __m256 max_v = _mm256_set1_ps(new_max);
    __m256 sum = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; j += 8) {
      const __m256 x = _mm256_loadu_ps(s + j);
      const __m256 p = Exp(_mm256_sub_ps(x, max_v));  // invalid keys hold -inf: p = 0
      _mm256_storeu_ps(s + j, p);
      sum = _mm256_add_ps(sum, p);
    }
    running_sum[l] = running_sum[l] * rescale[l] + HorizontalSum(sum);
    running_max[l] = new_max;
  }
}

// acc[0 .. 8 * chunks) of one lane += sum_j p[j] * v[j][0 .. 8 * chunks), after acc *= rescale.
template <int chunks>
KITE_ALWAYS_INLINE void AccumulateChunks(const float* p, const float* v, int64_t v_stride, int64_t n, float rescale,
                                         float* acc) {
  __m256 sum[chunks];
  const __m256 c = _mm256_set1_ps(rescale);
  for (int u = 0; u < chunks; ++u) sum[u] = _mm256_mul_ps(_mm256_loadu_ps(acc + 8 * u), c);
  for (int64_t j = 0; j < n; ++j) {
    const __m256 w = _mm256_broadcast_ss(p + j);
    for (int u = 0; u < chunks; ++u) sum[u] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + j * v_stride + 8 * u), sum[u]);
  }
  for (int u = 0; u < chunks; ++u) _mm256_storeu_ps(acc + 8 * u, sum[u]);
}

void Accumulate(const float* p, int64_t stride, int lanes, const float* v, int64_t v_stride, int64_t n, int64_t hd,
                const float* rescale, float* acc) {
  for (int l = 0; l < lanes; ++l) {
    for (int64_t d = 0; d < hd; d += 64) {
      const float* pl = p + l * stride;
      float* al = acc + l * hd + d;
      switch ((hd - d) >= 64 ? 8 : (hd - d) / 8) {
        case 8: AccumulateChunks<8>(pl, v + d, v_stride, n, rescale[l], al); break;
        case 7: AccumulateChunks<7>(pl, v + d, v_stride, n, rescale[l], al); break;
        case 6: AccumulateChunks<6>(pl, v + d, v_stride, n, rescale[l], al); break;
        case 5: AccumulateChunks<5>(pl, v + d, v_stride, n, rescale[l], al); break;
        case 4: AccumulateChunks<4>(pl, v + d, v_stride, n, rescale[l], al); break;
        case 3: AccumulateChunks<3>(pl, v + d, v_stride, n, rescale[l], al); break;
        case 2: AccumulateChunks<2>(pl, v + d, v_stride, n, rescale[l], al); break;
        default: AccumulateChunks<1>(pl, v + d, v_stride, n, rescale[l], al); break;
      }
    }
  }
}

const AttentionTileOps kOps = {LoadRows, Scores, Softmax, Accumulate};

}  // namespace

void f32_attention__avx2(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out) {
  if (!AttentionArgsValid(a, kv)) return;
  if (a.head_dim % 8 != 0 || a.head_dim > kMaxAttentionHeadDim) {  // outside the tiles' shapes
    f32_attention__scalar(a, kv, q, out);
    return;
  }
  RunAttentionTiles(a, kv, q, out, kOps);
}

}  // namespace kernels
}  // namespace kite
