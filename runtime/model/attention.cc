#include "runtime/model/attention.h"

#include <algorithm>
#include <cstring>

namespace kite {

const kernels::AttentionKernels& AttentionKernelsFor(const kernels::GemmKernels& gemm) {
  if (std::strcmp(gemm.isa, "scalar") == 0) return kernels::ReferenceAttentionKernels();
  return kernels::BestAttentionKernels();
}

void CausalAttention(const AttentionShape& shape, const KvCache& cache, int64_t layer, const float* q, int64_t n,
                     int64_t pos, float* out, ThreadPool& pool) {
  const kernels::AttentionKernels& k = shape.kernels != nullptr ? *shape.kernels : kernels::BestAttentionKernels();
  const kernels::KvCacheView view = cache.View(layer);
  kernels::AttentionArgs args;
  args.n_heads = shape.n_heads;
  args.n_kv_heads = shape.n_kv_heads;
  args.head_dim = shape.head_dim;
  args.scale = shape.scale;
  args.soft_cap = shape.softcap;
  args.window = cache.window(layer);
  const int64_t KV = shape.n_kv_heads, row = shape.n_heads * shape.head_dim;

  // Work items: (block of query rows) x (KV head with its query heads). Decode has only the KV
  // heads to share out; prefill cuts the rows into blocks small enough that the later, longer
  // rows (causal) spread over every thread when items are dealt round robin.
  const int threads = pool.size();
  const int64_t keys = args.window > 0 ? std::min<int64_t>(args.window, pos + n) : pos + n;
  const int64_t flops = n * shape.n_heads * keys * shape.head_dim * 4;
  // Waking threads costs microseconds: only worth it when there is enough to compute.
  if (threads == 1 || flops < (1 << 17)) {
    args.m = n;
    args.pos0 = pos;
    k.attention(args, view, q, out);
    return;
  }
  int64_t row_block = n;
  if (n > 1) row_block = std::max<int64_t>(1, std::min<int64_t>(32, n / (4 * threads)));
  const int64_t blocks = (n + row_block - 1) / row_block;
  const int64_t items = blocks * KV;
  pool.Run([&](int t, int nt) {
    for (int64_t item = t; item < items; item += nt) {
      const int64_t b = item / KV, g = item % KV;
      kernels::AttentionArgs a = args;
      const int64_t i0 = b * row_block;
      a.m = std::min(row_block, n - i0);
      a.pos0 = pos + i0;
      a.kv_head_begin = g;
      a.kv_head_end = g + 1;
      k.attention(a, view, q + i0 * row, out + i0 * row);
    }
  });
}

}  // namespace kite
