// The scalar reference attention: the truth the SIMD kernels are tested
// against, written to be read. One query row and head at a time, one key at a
// time, with the online softmax (running max m, running sum l, output
// rescaled whenever m grows) so it needs no scratch for the scores.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/attention.h"
#include "kernels/attention_tiles.h"
#include "kernels/quantize.h"

namespace kite {
namespace kernels {
namespace {

// Element d of KV head g in cache row `row`, as f32 (f16 and Q8 widen exactly; Q8 then scales).
float CacheValue(const KvCacheView& kv, bool values, int64_t row, int64_t g, int64_t head_dim, int64_t d) {
  const int64_t index = row * kv.row_stride + g * head_dim + d;
  const void* base = values ? kv.v : kv.k;
  switch (kv.format) {
    case KvFormat::kF32: return static_cast<const float*>(base)[index];
    case KvFormat::kF16: return HalfToFloat(static_cast<const uint16_t*>(base)[index]);
    case KvFormat::kQ8: {
      const float* scales = values ? kv.v_scales : kv.k_scales;
      return static_cast<float>(static_cast<const int8_t*>(base)[index]) * scales[row * kv.scale_row_stride + g];
    }
  }
  return 0.0f;
}

}  // namespace

void f32_attention__scalar(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out) {
  if (!AttentionArgsValid(a, kv)) return;
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const int64_t kv_end = a.kv_head_end < 0 ? a.n_kv_heads : a.kv_head_end;
  for (int64_t i = 0; i < a.m; ++i) {
    const int64_t p = a.pos0 + i;  // this row's position: keys lo..p
    const int64_t lo = a.window > 0 ? std::max<int64_t>(0, p - a.window + 1) : 0;
    for (int64_t h = a.kv_head_begin * group; h < kv_end * group; ++h) {
      const int64_t g = h / group;
      const float* qh = q + (i * a.n_heads + h) * hd;  // q: [m][n_heads][hd]
      float* o = out + (i * a.n_heads + h) * hd;       // out: [m][n_heads][hd], the running sum of p_j v_j
      std::fill(o, o + hd, 0.0f);
      float m = -std::numeric_limits<float>::infinity(), l = 0.0f;
      for (int64_t j = lo; j <= p; ++j) {
        const int64_t row = kv.ring_rows > 0 ? j % kv.ring_rows : j;
        float s = 0.0f;
        for (int64_t d = 0; d < hd; ++d) s += qh[d] * CacheValue(kv, false, row, g, hd, d);
        s *= a.scale;
        if (a.soft_cap > 0.0f) s = a.soft_cap * std::tanh(s / a.soft_cap);
        if (s > m) {  // a new max: rescale what was summed so far (nothing, the first time)
          const float c = std::isinf(m) ? 0.0f : std::exp(m - s);
          l *= c;
          for (int64_t d = 0; d < hd; ++d) o[d] *= c;
          m = s;
        }
        const float w = std::exp(s - m);
        l += w;
        for (int64_t d = 0; d < hd; ++d) o[d] += w * CacheValue(kv, true, row, g, hd, d);
      }
      for (int64_t d = 0; d < hd; ++d) o[d] /= l;  // l >= 1: the max key contributes exp(0)
    }
  }
}

}  // namespace kernels
}  // namespace kite
