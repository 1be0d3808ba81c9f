// The loop nest shared by the SIMD attention kernels (flash-style), and the
// per-ISA tile operations it calls. Like gemm_tiling.h: only the operations
// know the ISA; the driver (kernels/attention.cc) is portable C++.
//
// The driver takes the query heads of one KV head (up to kAttentionMaxLanes of
// them; more take several passes) and, when fewer, several consecutive query
// rows, as "lanes" that share every key and value tile: one pass over a KV
// head's keys serves all its query heads (GQA) and, in prefill, a block of
// rows. Per tile of keys: scores for every lane, an online-softmax update
// (running max and sum per lane, the accumulator rescaled when the max grows),
// then the weighted sum of the value rows. f16/Q8 tiles are widened to f32
// once per tile into a stack buffer; f32 tiles are read in place.
//
// No inline code here, not even default member initializers: SIMD files include this header.
#pragma once

#include <cstdint>

#include "kernels/attention.h"

namespace kite {
namespace kernels {

constexpr int kAttentionMaxLanes = 8;
constexpr int64_t kAttentionTileFloats = 4096;  // one widened K (or V) tile: key_tile * head_dim floats
constexpr int64_t kAttentionMaxKeyTile = 64;

struct AttentionTileOps {
  // Rows [row0, row0 + n) of the cache (contiguous: the driver splits a tile at the ring's end),
  // KV head kv_head, K (values = false) or V, widened to f32: out [n][head_dim].
  void (*load_rows)(const KvCacheView& kv, bool values, int64_t row0, int64_t n, int64_t kv_head,
                    int64_t head_dim, float* out);
  // scores[l * stride + j] = q[l] . k[j * k_stride ..]   for l < lanes, j < n
  void (*scores)(const float* const* q, int lanes, const float* k, int64_t k_stride, int64_t n, int64_t head_dim,
                 float* scores, int64_t stride);
  // Per lane l, over keys j in [valid_begin[l], valid_end[l]) (the others get p = 0): s = scale * score,
  // soft-capped when soft_cap > 0; new max M' = max(M, max_j s); rescale[l] = exp(M - M') (0 while M
  // was -inf); scores become p_j = exp(s_j - M'); sum[l] = sum[l] * rescale[l] + sum_j p_j. A lane
  // with no valid key keeps M and sum and gets rescale 1. Entries j < RoundUp(n, 8) may be touched.
  void (*softmax)(float* scores, int64_t stride, int lanes, int64_t n, const int64_t* valid_begin,
                  const int64_t* valid_end, float scale, float soft_cap, float* running_max, float* running_sum,
                  float* rescale);
  // acc[l * head_dim + d] = acc[..] * rescale[l] + sum_j p[l * stride + j] * v[j * v_stride + d]
  void (*accumulate)(const float* p, int64_t stride, int lanes, const float* v, int64_t v_stride, int64_t n,
                     int64_t head_dim, const float* rescale, float* acc);
};

// False when the arguments break the contract of kernels/attention.h (the kernel then writes nothing).
bool AttentionArgsValid(const AttentionArgs& a, const KvCacheView& kv);

// Runs the tiled kernel; a and kv must be valid, head_dim <= kMaxAttentionHeadDim.
void RunAttentionTiles(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out,
                       const AttentionTileOps& ops);

// The kernels of each ISA (kernels/ref/attention_ref.cc, kernels/cpu/x86/attention_avx2.cc and
// attention_avx512.cc, kernels/cpu/neon/attention_neon.cc).
void f32_attention__scalar(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out);
#if defined(__x86_64__) || defined(_M_X64)
void f32_attention__avx2(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out);
void f32_attention__avx512(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out);
#endif
#if defined(__aarch64__)
void f32_attention__neon(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out);
#endif
#if defined(__wasm_simd128__)
void f32_attention__wasm_simd128(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out);
#endif

}  // namespace kernels
}  // namespace kite
