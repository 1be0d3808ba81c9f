// AVX-512 (F/BW/VL) tile operations of the attention driver (kernels/attention_tiles.h): the
// algorithm of attention_avx2.cc with 16 floats per vector. CMake compiles this file alone with
// those flags; kernels/attention.cc calls f32_attention__avx512 after the cpuid/XCR0 check.
// head_dim must be a multiple of 16 here; other multiples of 8 go to the AVX2 kernel.
//
//   scores      8 keys at a time per lane: 8 accumulators over head_dim, each folded to 256 bits,
//               then the hadd tree of the AVX2 kernel.
//   softmax     16 keys per vector, mask registers for the lane's valid keys; the same exp
//               (Cephes-style, within 2 ulp above FLT_MIN, 0 below) and tanh as the AVX2 kernel.
//   accumulate  up to 128 output dims per pass in 8 registers, one broadcast p_j per key.
// GCC 12's AVX-512 intrinsics trip -Wuninitialized (see gemm_avx512.cc), hence the pragmas.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
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
      for (int64_t d = 0; d < hd; d += 16) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + j * kv.row_stride + d));
        _mm512_storeu_ps(out + j * hd + d, _mm512_cvtph_ps(h));
      }
    }
    return;
  }
  const int8_t* src = static_cast<const int8_t*>(values ? kv.v : kv.k) + offset;
  const float* scales = (values ? kv.v_scales : kv.k_scales) + row0 * kv.scale_row_stride + kv_head;
  for (int64_t j = 0; j < n; ++j) {
    const __m512 scale = _mm512_set1_ps(scales[j * kv.scale_row_stride]);
    for (int64_t d = 0; d < hd; d += 16) {
      const __m128i codes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j * kv.row_stride + d));
      _mm512_storeu_ps(out + j * hd + d, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(codes)), scale));
    }
  }
}

KITE_ALWAYS_INLINE __m256 Fold(__m512 v) {
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

// [sum(a0), ..., sum(a7)] of 8-float vectors
KITE_ALWAYS_INLINE __m256 ReduceEight(const __m256* a) {
  const __m256 s01 = _mm256_hadd_ps(a[0], a[1]), s23 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 s45 = _mm256_hadd_ps(a[4], a[5]), s67 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
  const __m256 low = _mm256_permute2f128_ps(s0123, s4567, 0x20), high = _mm256_permute2f128_ps(s0123, s4567, 0x31);
  return _mm256_add_ps(low, high);
}

void Scores(const float* const* q, int lanes, const float* k, int64_t k_stride, int64_t n, int64_t hd, float* scores,
            int64_t stride) {
  for (int l = 0; l < lanes; ++l) {
    const float* ql = q[l];
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
      __m512 acc[8];
      for (int u = 0; u < 8; ++u) acc[u] = _mm512_setzero_ps();
      for (int64_t d = 0; d < hd; d += 16) {
        const __m512 qv = _mm512_loadu_ps(ql + d);
        for (int u = 0; u < 8; ++u) acc[u] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k + (j + u) * k_stride + d), acc[u]);
      }
      __m256 folded[8];
      for (int u = 0; u < 8; ++u) folded[u] = Fold(acc[u]);
      _mm256_storeu_ps(scores + l * stride + j, ReduceEight(folded));
    }
    for (; j < n; ++j) {
      __m512 acc = _mm512_setzero_ps();
      for (int64_t d = 0; d < hd; d += 16) {
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(ql + d), _mm512_loadu_ps(k + j * k_stride + d), acc);
      }
      scores[l * stride + j] = _mm512_reduce_add_ps(acc);
    }
  }
}

// e^x for x <= 88.7 (clamped above); 0 below -87.33 (e^x < FLT_MIN there), so -inf gives 0.
KITE_ALWAYS_INLINE __m512 Exp(__m512 x_in) {
  const __m512 min_x = _mm512_set1_ps(-87.33654f);
  const __m512 x = _mm512_min_ps(_mm512_max_ps(x_in, min_x), _mm512_set1_ps(88.72283f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i two_n = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  const __mmask16 above = _mm512_cmp_ps_mask(x_in, min_x, _CMP_GE_OQ);
  return _mm512_maskz_mul_ps(above, p, _mm512_castsi512_ps(two_n));
}

// cap * tanh(x / cap)
KITE_ALWAYS_INLINE __m512 SoftCap(__m512 x, float cap) {
  const __m512 y = _mm512_mul_ps(x, _mm512_set1_ps(1.0f / cap));
  const __m512 t = Exp(_mm512_mul_ps(_mm512_abs_ps(y), _mm512_set1_ps(-2.0f)));  // e^(-2|y|) in (0, 1]
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 tanh_abs = _mm512_div_ps(_mm512_sub_ps(one, t), _mm512_add_ps(one, t));
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(y), _mm512_set1_epi32(static_cast<int>(0x80000000u)));
  return _mm512_mul_ps(_mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(tanh_abs), sign)), _mm512_set1_ps(cap));
}

void Softmax(float* scores, int64_t stride, int lanes, int64_t n, const int64_t* valid_begin, const int64_t* valid_end,
             float scale, float soft_cap, float* running_max, float* running_sum, float* rescale) {
  const float neg_inf = -__builtin_inff();
  const __m512i index0 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int l = 0; l < lanes; ++l) {
    float* s = scores + l * stride;
    const int64_t begin = valid_begin[l], end = valid_end[l];
    if (end <= begin) {  // no key of this tile is visible to the lane
      rescale[l] = 1.0f;
      for (int64_t j = 0; j < n; ++j) s[j] = 0.0f;
      continue;
    }
    const __m512i vb = _mm512_set1_epi32(static_cast<int>(begin)), ve = _mm512_set1_epi32(static_cast<int>(end));
    __m512 tile_max = _mm512_set1_ps(neg_inf);
    // The scores buffer is a multiple of 8 keys wide: the last 16-key step reads only its first 8.
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 in_buffer = static_cast<__mmask16>(n - j >= 9 ? 0xffff : 0x00ff);
      const __m512i index = _mm512_add_epi32(index0, _mm512_set1_epi32(static_cast<int>(j)));
      const __mmask16 valid = _mm512_cmpge_epi32_mask(index, vb) & _mm512_cmplt_epi32_mask(index, ve);
      __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(in_buffer, s + j), _mm512_set1_ps(scale));
      if (soft_cap > 0.0f) x = SoftCap(x, soft_cap);
      x = _mm512_mask_blend_ps(valid, _mm512_set1_ps(neg_inf), x);
      _mm512_mask_storeu_ps(s + j, in_buffer, x);
      tile_max = _mm512_max_ps(tile_max, x);
    }
    const float old_max = running_max[l];
    const float new_max = __builtin_fmaxf(old_max, _mm512_reduce_max_ps(tile_max));
    rescale[l] = old_max == neg_inf ? 0.0f : __builtin_expf(old_max - new_max);
    const __m512 max_v = _mm512_set1_ps(new_max);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 in_buffer = static_cast<__mmask16>(n - j >= 9 ? 0xffff : 0x00ff);
      const __m512 x = _mm512_maskz_loadu_ps(in_buffer, s + j);
      const __m512 p = _mm512_maskz_mov_ps(in_buffer, Exp(_mm512_sub_ps(x, max_v)));
      _mm512_mask_storeu_ps(s + j, in_buffer, p);  // invalid keys held -inf: p = 0
      sum = _mm512_add_ps(sum, p);
    }
    running_sum[l] = running_sum[l] * rescale[l] + _mm512_reduce_add_ps(sum);
    running_max[l] = new_max;
  }
}

template <int chunks>
KITE_ALWAYS_INLINE void AccumulateChunks(const float* p, const float* v, int64_t v_stride, int64_t n, float rescale,
                                         float* acc) {
  __m512 sum[chunks];
  const __m512 c = _mm512_set1_ps(rescale);
  for (int u = 0; u < chunks; ++u) sum[u] = _mm512_mul_ps(_mm512_loadu_ps(acc + 16 * u), c);
  for (int64_t j = 0; j < n; ++j) {
    const __m512 w = _mm512_set1_ps(p[j]);
    for (int u = 0; u < chunks; ++u) sum[u] = _mm512_fmadd_ps(w, _mm512_loadu_ps(v + j * v_stride + 16 * u), sum[u]);
  }
  for (int u = 0; u < chunks; ++u) _mm512_storeu_ps(acc + 16 * u, sum[u]);
}

void Accumulate(const float* p, int64_t stride, int lanes, const float* v, int64_t v_stride, int64_t n, int64_t hd,
                const float* rescale, float* acc) {
  for (int l = 0; l < lanes; ++l) {
    for (int64_t d = 0; d < hd; d += 128) {
      const float* pl = p + l * stride;
      float* al = acc + l * hd + d;
      switch ((hd - d) >= 128 ? 8 : (hd - d) / 16) {
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

void f32_attention__avx512(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out) {
  if (!AttentionArgsValid(a, kv)) return;
  if (a.head_dim % 16 != 0 || a.head_dim > kMaxAttentionHeadDim) {  // 16-wide tiles only
    f32_attention__avx2(a, kv, q, out);
    return;
  }
  RunAttentionTiles(a, kv, q, out, kOps);
}

}  // namespace kernels
}  // namespace kite
