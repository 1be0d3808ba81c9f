#include "runtime/model/attention.h"

#include <algorithm>
#include <cmath>

#include "kernels/ref/transformer_ops.h"

namespace kite {

void CausalAttention(const AttentionShape& shape, const KvCache& cache, int64_t layer, const float* q, int64_t n,
                     int64_t pos, float* out, std::vector<float>& scores, ThreadPool& pool) {
  const int64_t H = shape.n_heads, hd = shape.head_dim;
  const int64_t group = H / shape.n_kv_heads;
  const int64_t tasks = n * H;
  const int64_t capacity = cache.capacity_tokens();
  const int64_t window = cache.window(layer);
  const int64_t slots = cache.slots(layer);
  const int64_t row = cache.row();
  const float* k_base = cache.K(layer, 0);
  const float* v_base = cache.V(layer, 0);
  auto work = [&](int thread, int n_threads) {
    float* s = scores.data() + static_cast<int64_t>(thread) * capacity;
    for (int64_t task = thread; task < tasks; task += n_threads) {
      const int64_t t = task / H, h = task % H;
      const int64_t g = h / group;                 // the kv head this query head shares
      const int64_t last = pos + t;                // causal: keys up to the query itself
      const int64_t first = window > 0 ? std::max<int64_t>(0, last - window + 1) : 0;
      const int64_t len = last - first + 1;
      const float* qh = q + (t * H + h) * hd;
      // Keys first..last sit in slots (first % slots)...; a ring wraps at most once.
      for (int64_t j = 0; j < len; ++j) {
        const int64_t slot = (first + j) % slots;
        s[j] = kernels::Dot(qh, k_base + slot * row + g * hd, hd) * shape.scale;
      }
      if (shape.softcap > 0.0f) {
        for (int64_t j = 0; j < len; ++j) s[j] = shape.softcap * std::tanh(s[j] / shape.softcap);
      }
      kernels::Softmax(s, len);
      // out_h = sum_j p_j v_j, in at most two contiguous runs of slots.
      float* oh = out + (t * H + h) * hd;
      const int64_t first_slot = first % slots;
      const int64_t run1 = std::min(len, slots - first_slot);
      kernels::WeightedSum(s, v_base + first_slot * row + g * hd, run1, row, hd, oh);
      for (int64_t j = run1; j < len; ++j) {  // the wrapped run starts at slot 0
        const float* v = v_base + (j - run1) * row + g * hd;
        for (int64_t i = 0; i < hd; ++i) oh[i] += s[j] * v[i];
      }
    }
  };
  // Waking threads costs microseconds: only worth it when there are enough keys to read.
  const int64_t keys = window > 0 ? std::min<int64_t>(window, pos + n) : pos + n;
  const int64_t flops = tasks * keys * hd * 4;
  const bool scratch_for_all_threads = static_cast<int64_t>(scores.size()) >= pool.size() * capacity;
  if (flops < (1 << 17) || !scratch_for_all_threads) {
    work(0, 1);
  } else {
    pool.Run(work);
  }
}

}  // namespace kite
