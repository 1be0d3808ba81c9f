#include "runtime/model/mla_attention.h"

#include <algorithm>
#include <cstring>

#include "kernels/mla.h"
#include "kernels/ref/transformer_ops.h"

namespace kite {
namespace {

// The scalar MLA loops go with the scalar gemm set (reference runs stay scalar end to end);
// otherwise the fastest set this CPU has.
const kernels::MlaKernels& MlaKernelsFor(const kernels::GemmKernels& gemm) {
  return std::strcmp(gemm.isa, "scalar") == 0 ? kernels::ReferenceMlaKernels() : kernels::BestMlaKernels();
}

}  // namespace

void MlaScratch::Reserve(const MlaShape& s, int64_t max_batch, int64_t capacity, int n_threads) {
  q_latent.assign(max_batch * s.n_heads * s.latent, 0.0f);
  context.assign(s.n_heads * max_batch * s.latent, 0.0f);
  row.assign(s.latent, 0.0f);
  threads = std::max(1, n_threads);
  this->capacity = capacity;
  scores.assign(static_cast<size_t>(threads) * capacity, 0.0f);
}

void MlaAttentionAbsorbed(const MlaShape& shape, const Matrix& kv_b, const kernels::GemmKernels& kr, ThreadPool& pool,
                          MatMulScratch& matmul, MlaScratch& s, const float* q, const float* cache, int64_t n,
                          int64_t pos, float* out) {
  const int64_t H = shape.n_heads, dn = shape.nope_dim, dr = shape.rope_dim, dv = shape.v_dim, r = shape.latent;
  const int64_t qk = dn + dr, row = shape.cache_row(), head_rows = dn + dv;
  const kernels::MlaKernels& mk = MlaKernelsFor(kr);
  // 1. q_latent[t][h] = W_uk_h^T q_nope[t][h]: each W_uk row is read once for the whole batch.
  std::fill(s.q_latent.begin(), s.q_latent.begin() + n * H * r, 0.0f);
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t i = 0; i < dn; ++i) {
      DequantizeRow(kv_b, h * head_rows + i, s.row.data());  // W_uk_h[i, :]  [r]
      for (int64_t t = 0; t < n; ++t) {
        // q_latent[t][h] += q_nope[t][h][i] * W_uk_h[i, :]
        mk.axpy(q[(t * H + h) * qk + i], s.row.data(), r, s.q_latent.data() + (t * H + h) * r);
      }
    }
  }
  // 2. Scores against the latents and rope keys; context = softmax-weighted latents.
  const int64_t tasks = n * H;
  const int64_t capacity = s.capacity;
  auto work = [&](int thread, int n_threads) {
    float* scores = s.scores.data() + static_cast<int64_t>(thread) * capacity;
    for (int64_t task = thread; task < tasks; task += n_threads) {
      const int64_t t = task / H, h = task % H;
      const int64_t len = pos + t + 1;  // causal
      const float* ql = s.q_latent.data() + (t * H + h) * r;
      const float* q_pe = q + (t * H + h) * qk + dn;
      // scores[j] = scale * (q_latent . c_j + q_pe . k_pe_j); cache rows [c (r) | k_pe (dr)]
      mk.scores(ql, q_pe, cache, len, row, r, dr, shape.scale, scores);
      kernels::Softmax(scores, len);
      // context[h][t] = sum_j p_j c_j  [r]
      mk.context(scores, cache, len, row, r, s.context.data() + (h * n + t) * r);
    }
  };
  // Waking threads pays only with enough keys; never more threads than the scratch was sized for.
  if (tasks * (pos + n) * (r + dr) * 4 < (1 << 17) || pool.size() > s.threads) {
    work(0, 1);
  } else {
    pool.Run(work);
  }
  // 3. out[t][h] = W_uv_h context[h][t]: one matrix product per head over the batch.
  for (int64_t h = 0; h < H; ++h) {
    const Matrix w_uv = RowSlice(kv_b, h * head_rows + dn, dv);  // [dv, r]
    MatMul(kr, pool, matmul, w_uv, s.context.data() + h * n * r, n, out + h * dv, H * dv);
  }
}

void MlaAttentionExpanded(const MlaShape& shape, const Matrix& kv_b, const float* q, const float* cache, int64_t n,
                          int64_t pos, float* out) {
  const int64_t H = shape.n_heads, dn = shape.nope_dim, dr = shape.rope_dim, dv = shape.v_dim, r = shape.latent;
  const int64_t qk = dn + dr, row = shape.cache_row(), head_rows = dn + dv, positions = pos + n;
  // kv: [positions][H][dn + dv] = kv_b c_j  (k_nope and v of every position and head)
  std::vector<float> w(kv_b.rows * r), kv(positions * H * head_rows);
  for (int64_t i = 0; i < kv_b.rows; ++i) DequantizeRow(kv_b, i, w.data() + i * r);
  for (int64_t j = 0; j < positions; ++j) {
    for (int64_t i = 0; i < kv_b.rows; ++i) kv[j * kv_b.rows + i] = kernels::Dot(w.data() + i * r, cache + j * row, r);
  }
  std::vector<float> scores(positions), k(qk);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < H; ++h) {
      const int64_t len = pos + t + 1;
      for (int64_t j = 0; j < len; ++j) {
        // k_j = [k_nope_j,h | k_pe_j]
        std::copy(kv.begin() + (j * H + h) * head_rows, kv.begin() + (j * H + h) * head_rows + dn, k.begin());
        std::copy(cache + j * row + r, cache + j * row + r + dr, k.begin() + dn);
        scores[j] = kernels::Dot(q + (t * H + h) * qk, k.data(), qk) * shape.scale;
      }
      kernels::Softmax(scores.data(), len);
      kernels::WeightedSum(scores.data(), kv.data() + h * head_rows + dn, len, H * head_rows, dv,
                           out + (t * H + h) * dv);
    }
  }
}

}  // namespace kite
