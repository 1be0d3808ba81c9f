// Baseline ARMv8-A NEON tile operations of the attention driver (kernels/attention_tiles.h); every
// aarch64 CPU runs them. The same algorithm as kernels/cpu/x86/attention_avx2.cc with 4-float
// vectors: scores 8 keys at a time per lane (8 accumulators reduced by pairwise adds), a vectorized
// softmax over the tile (Cephes-style exp: within 2 ulp of expf for results above FLT_MIN, 0 below;
// tanh through exp for soft-capping), and the weighted value sum 64 dimensions per pass.
// f16 caches widen with fcvtl (baseline ARMv8), Q8 ones with sxtl + scvtf and the row's scale.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/attention_tiles.h"
#include "kernels/cpu/neon/neon_common.h"

namespace kite {
namespace kernels {
namespace {

void LoadRows(const KvCacheView& kv, bool values, int64_t row0, int64_t n, int64_t kv_head, int64_t hd, float* out) {
  const int64_t offset = row0 * kv.row_stride + kv_head * hd;
  if (kv.format == KvFormat::kF16) {
    const uint16_t* src = static_cast<const uint16_t*>(values ? kv.v : kv.k) + offset;
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t d = 0; d < hd; d += 4) {
        const float16x4_t h = vreinterpret_f16_u16(vld1_u16(src + j * kv.row_stride + d));
        vst1q_f32(out + j * hd + d, vcvt_f32_f16(h));
      }
    }
    return;
  }
  const int8_t* src = static_cast<const int8_t*>(values ? kv.v : kv.k) + offset;
  const float* scales = (values ? kv.v_scales : kv.k_scales) + row0 * kv.scale_row_stride + kv_head;
  for (int64_t j = 0; j < n; ++j) {
    const float scale = scales[j * kv.scale_row_stride];
    const int8_t* row = src + j * kv.row_stride;
    int64_t d = 0;
    for (; d + 8 <= hd; d += 8) {
      const int16x8_t wide = vmovl_s8(vld1_s8(row + d));
      vst1q_f32(out + j * hd + d, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(wide))), scale));
      vst1q_f32(out + j * hd + d + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(wide)), scale));
    }
    for (; d < hd; ++d) out[j * hd + d] = static_cast<float>(row[d]) * scale;  // head_dim % 8 == 4
  }
}

// [sum(a0), sum(a1), sum(a2), sum(a3)]
KITE_NEON_INLINE float32x4_t ReduceFour(const float32x4_t* a) {
  return vpaddq_f32(vpaddq_f32(a[0], a[1]), vpaddq_f32(a[2], a[3]));
}

void Scores(const float* const* q, int lanes, const float* k, int64_t k_stride, int64_t n, int64_t hd, float* scores,
            int64_t stride) {
  for (int l = 0; l < lanes; ++l) {
    const float* ql = q[l];
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
      float32x4_t acc[8];
      for (int u = 0; u < 8; ++u) acc[u] = vdupq_n_f32(0.0f);
      for (int64_t d = 0; d < hd; d += 4) {
        const float32x4_t qv = vld1q_f32(ql + d);
        for (int u = 0; u < 8; ++u) acc[u] = vfmaq_f32(acc[u], qv, vld1q_f32(k + (j + u) * k_stride + d));
      }
      vst1q_f32(scores + l * stride + j, ReduceFour(acc));
      vst1q_f32(scores + l * stride + j + 4, ReduceFour(acc + 4));
    }
    for (; j < n; ++j) {
      float32x4_t acc = vdupq_n_f32(0.0f);
      for (int64_t d = 0; d < hd; d += 4) acc = vfmaq_f32(acc, vld1q_f32(ql + d), vld1q_f32(k + j * k_stride + d));
      scores[l * stride + j] = vaddvq_f32(acc);
    }
  }
}

// e^x for x <= 88.7 (clamped above); 0 below -87.33, so -inf (a masked key) gives 0.
KITE_NEON_INLINE float32x4_t Exp(float32x4_t x_in) {
  const float32x4_t min_x = vdupq_n_f32(-87.33654f);
  const float32x4_t x = vminq_f32(vmaxq_f32(x_in, min_x), vdupq_n_f32(88.72283f));
  const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));  // x - n ln2, ln2 in two parts
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), vmulq_f32(p, r), r);
  const int32x4_t two_n = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  const float32x4_t result = vmulq_f32(p, vreinterpretq_f32_s32(two_n));
  return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(result), vcgeq_f32(x_in, min_x)));
}

// cap * tanh(x / cap)
KITE_NEON_INLINE float32x4_t SoftCap(float32x4_t x, float cap) {
  const float32x4_t y = vmulq_n_f32(x, 1.0f / cap);
  const float32x4_t t = Exp(vmulq_n_f32(vabsq_f32(y), -2.0f));  // e^(-2|y|) in (0, 1]
  const float32x4_t one = vdupq_n_f32(1.0f);
  const float32x4_t tanh_abs = vdivq_f32(vsubq_f32(one, t), vaddq_f32(one, t));
  const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(y), vdupq_n_u32(0x80000000u));
  return vmulq_n_f32(vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(tanh_abs), sign)), cap);
}

void Softmax(float* scores, int64_t stride, int lanes, int64_t n, const int64_t* valid_begin, const int64_t* valid_end,
             float scale, float soft_cap, float* running_max, float* running_sum, float* rescale) {
  const float neg_inf = -__builtin_inff();
  const int32_t index_init[4] = {0, 1, 2, 3};
  const int32x4_t index0 = vld1q_s32(index_init);
  for (int l = 0; l < lanes; ++l) {
    float* s = scores + l * stride;
    const int64_t begin = valid_begin[l], end = valid_end[l];
    if (end <= begin) {  // no key of this tile is visible to the lane
      rescale[l] = 1.0f;
      for (int64_t j = 0; j < n; ++j) s[j] = 0.0f;
      continue;
    }
    const int32x4_t vb = vdupq_n_s32(static_cast<int32_t>(begin)), ve = vdupq_n_s32(static_cast<int32_t>(end));
    float32x4_t tile_max = vdupq_n_f32(neg_inf);
    for (int64_t j = 0; j < n; j += 4) {
      const int32x4_t index = vaddq_s32(index0, vdupq_n_s32(static_cast<int32_t>(j)));
      const uint32x4_t valid = vandq_u32(vcgeq_s32(index, vb), vcltq_s32(index, ve));
      float32x4_t x = vmulq_n_f32(vld1q_f32(s + j), scale);
      if (soft_cap > 0.0f) x = SoftCap(x, soft_cap);
      x = vbslq_f32(valid, x, vdupq_n_f32(neg_inf));
      vst1q_f32(s + j, x);
      tile_max = vmaxq_f32(tile_max, x);
    }
    const float old_max = running_max[l];
    const float new_max = __builtin_fmaxf(old_max, vmaxvq_f32(tile_max));
    rescale[l] = old_max == neg_inf ? 0.0f : __builtin_expf(old_max - new_max);
    const float32x4_t max_v = vdupq_n_f32(new_max);
    float32x4_t sum = vdupq_n_f32(0.0f);
    for (int64_t j = 0; j < n; j += 4) {
      const float32x4_t p = Exp(vsubq_f32(vld1q_f32(s + j), max_v));  // invalid keys hold -inf: p = 0
      vst1q_f32(s + j, p);
      sum = vaddq_f32(sum, p);
    }
    running_sum[l] = running_sum[l] * rescale[l] + vaddvq_f32(sum);
    running_max[l] = new_max;
  }
}

// acc[0 .. 4 * chunks) of one lane += sum_j p[j] * v[j][0 .. 4 * chunks), after acc *= rescale.
template <int chunks>
KITE_NEON_INLINE void AccumulateChunks(const float* p, const float* v, int64_t v_stride, int64_t n, float rescale,
                                       float* acc) {
  float32x4_t sum[chunks];
  for (int u = 0; u < chunks; ++u) sum[u] = vmulq_n_f32(vld1q_f32(acc + 4 * u), rescale);
  for (int64_t j = 0; j < n; ++j) {
    const float w = p[j];
    for (int u = 0; u < chunks; ++u) sum[u] = vfmaq_n_f32(sum[u], vld1q_f32(v + j * v_stride + 4 * u), w);
  }
  for (int u = 0; u < chunks; ++u) vst1q_f32(acc + 4 * u, sum[u]);
}

void Accumulate(const float* p, int64_t stride, int lanes, const float* v, int64_t v_stride, int64_t n, int64_t hd,
                const float* rescale, float* acc) {
  for (int l = 0; l < lanes; ++l) {
    for (int64_t d = 0; d < hd; d += 64) {
      const float* pl = p + l * stride;
      float* al = acc + l * hd + d;
      const int64_t chunks = (hd - d) >= 64 ? 16 : (hd - d) / 4;
      if (chunks == 16) {
        AccumulateChunks<16>(pl, v + d, v_stride, n, rescale[l], al);
      } else if (chunks >= 8) {  // 8..15: one 8-chunk pass, then the rest
        AccumulateChunks<8>(pl, v + d, v_stride, n, rescale[l], al);
        for (int64_t c = 8; c < chunks; ++c) {
          AccumulateChunks<1>(pl, v + d + 4 * c, v_stride, n, rescale[l], al + 4 * c);
        }
      } else {
        for (int64_t c = 0; c < chunks; ++c) {
          AccumulateChunks<1>(pl, v + d + 4 * c, v_stride, n, rescale[l], al + 4 * c);
        }
      }
    }
  }
}

const AttentionTileOps kOps = {LoadRows, Scores, Softmax, Accumulate};

}  // namespace

void f32_attention__neon(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out) {
  if (!AttentionArgsValid(a, kv)) return;
  if (a.head_dim % 4 != 0 || a.head_dim > kMaxAttentionHeadDim) {  // outside the tiles' shapes
    f32_attention__scalar(a, kv, q, out);
    return;
  }
  RunAttentionTiles(a, kv, q, out, kOps);
}

}  // namespace kernels
}  // namespace kite
