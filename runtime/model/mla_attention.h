// Multi-head latent attention (DeepSeek-V2/V3) over a cache that keeps, per
// position, only the normalised KV latent c [kv_lora_rank] and the shared
// RoPE key k_pe [qk_rope_head_dim] - instead of H keys and values.
//
// kv_b_proj [H * (dn + dv), r] holds per head h the up-projections
// W_uk_h = rows [h(dn+dv), h(dn+dv)+dn) and W_uv_h = the next dv rows. The
// decompressed form is k_nope_j = W_uk_h c_j, v_j = W_uv_h c_j; the absorbed
// form used here never builds them:
//   s_j = (W_uk_h^T q_nope) . c_j + q_pe . k_pe_j        (scaled)
//   o_h = W_uv_h (sum_j softmax(s)_j c_j)
// The score and weighted-sum loops run on kernels/mla.h (AVX2 / NEON, or the scalar set when the
// gemm kernels are the scalar reference). MlaAttentionExpanded computes the decompressed form, for tests.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/gemm.h"
#include "runtime/backend/cpu/cpu_matmul.h"
#include "runtime/core/thread_pool.h"
#include "runtime/model/weights.h"

namespace kite {

struct MlaShape {
  int64_t n_heads = 0;
  int64_t nope_dim = 0;  // dn
  int64_t rope_dim = 0;  // dr
  int64_t v_dim = 0;     // dv
  int64_t latent = 0;    // r = kv_lora_rank
  float scale = 1.0f;    // softmax scale (x mscale^2 with yarn)
  int64_t cache_row() const { return latent + rope_dim; }
};

// Working memory, sized for max_batch queries over `capacity` positions.
struct MlaScratch {
  std::vector<float> q_latent;   // [n][H][r]   W_uk^T q_nope per head
  std::vector<float> context;    // [H][n][r]   softmax-weighted latents, head-major for the W_uv products
  std::vector<float> row;        // [r] one dequantized W_uk row
  std::vector<float> scores;     // [threads][capacity]
  int64_t capacity = 0;
  int threads = 1;
  void Reserve(const MlaShape& shape, int64_t max_batch, int64_t capacity, int n_threads);
};

// q: [n][H][dn + dr] (q_pe already rotated); cache: [pos + n][r + dr] rows of this layer
// (c normalised, k_pe rotated), the queries' own rows included; out: [n][H * dv].
void MlaAttentionAbsorbed(const MlaShape& shape, const Matrix& kv_b, const kernels::GemmKernels& kernels,
                          ThreadPool& pool, MatMulScratch& matmul, MlaScratch& scratch, const float* q,
                          const float* cache, int64_t n, int64_t pos, float* out);

// The same result through per-position keys and values (HF's decompressed form). Allocates.
void MlaAttentionExpanded(const MlaShape& shape, const Matrix& kv_b, const float* q, const float* cache, int64_t n,
                          int64_t pos, float* out);

}  // namespace kite
