// Causal attention of one layer over its K/V cache: the query rows of a
// forward pass (1 in decode, M in prefill, at consecutive positions) against
// every key their position may see, with grouped-query head sharing, an
// optional sliding window and optional soft-capping of the scores.
//
// For query row i (position p = pos0 + i) and query head h, with KV head g = h / (n_heads / n_kv_heads):
//   s_j   = scale * (q[i][h] . K[j][g])                 for keys j in [lo, p], lo = window ? max(0, p - window + 1) : 0
//   s_j   = soft_cap * tanh(s_j / soft_cap)             if soft_cap > 0
//   out[i][h] = sum_j softmax(s)_j * V[j][g]
//
// Shapes (all f32 unless the cache says otherwise):
//   q, out  [M][n_heads][head_dim], contiguous; out must not alias q.
//   cache   position j's row is `j` (or `j % ring_rows` for a ring, as the runtime's sliding-window layers
//           keep them); KV head g of a row starts g * head_dim elements in; rows are row_stride apart.
//
// The kernels are single-threaded; a caller splits a call across threads by KV heads
// ([kv_head_begin, kv_head_end): each computes those KV heads' query heads) or by query rows (a
// later row block is q + i * n_heads * head_dim at pos0 + i). They allocate nothing: per-call state
// lives on the stack (about 42 KB: two widened 4096-float K/V tiles, scores, accumulators).
//
// The SIMD kernels (flash-style: key tiles, online softmax) handle head_dim a multiple of 16
// (AVX-512), 8 (AVX2) or 4 (NEON) up to kMaxAttentionHeadDim; other shapes get the next narrower
// kernel, down to the scalar reference, from the same call.
#pragma once

#include <cstdint>

namespace kite {
namespace kernels {

constexpr int64_t kMaxAttentionHeadDim = 256;

enum class KvFormat : int32_t {
  kF32 = 0,
  kF16 = 1,  // IEEE half (FloatToHalf of kernels/quantize.h)
  kQ8 = 2,   // int8 codes, value = code * scale; one f32 scale per token row and KV head (QuantizeKvRowQ8)
};

struct KvCacheView {
  KvFormat format = KvFormat::kF32;
  const void* k = nullptr;  // [rows][row_stride] elements of `format` (Q8: int8)
  const void* v = nullptr;
  int64_t row_stride = 0;   // elements from one token row to the next (>= n_kv_heads * head_dim)
  const float* k_scales = nullptr;  // Q8 only: [rows][scale_row_stride], KV head g at g
  const float* v_scales = nullptr;
  int64_t scale_row_stride = 0;
  int64_t ring_rows = 0;  // > 0: position j lives in row j % ring_rows; 0: in row j
};

struct AttentionArgs {
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;  // divides n_heads
  int64_t head_dim = 0;
  int64_t m = 1;        // query rows
  int64_t pos0 = 0;     // position of query row 0; row i is at pos0 + i
  float scale = 1.0f;   // multiplies q . k (usually 1 / sqrt(head_dim))
  float soft_cap = 0;   // > 0: s = soft_cap * tanh(s / soft_cap) after scaling (Gemma 2); 0: off
  int64_t window = 0;   // > 0: position p sees keys p - window < j <= p; 0: keys 0..p
  int64_t kv_head_begin = 0;  // the KV heads (with their query heads) to compute;
  int64_t kv_head_end = -1;   // -1: up to n_kv_heads
};

// q: [m][n_heads][head_dim]; out: [m][n_heads][head_dim] (only the heads of the KV-head range are
// written). The cache must hold every position in [lo(pos0), pos0 + m - 1] (in a ring: not yet
// overwritten). A call that breaks the contract above (n_kv_heads not dividing n_heads, a ring
// smaller than the keys one row needs, head_dim <= 0) writes nothing.
using AttentionFn = void (*)(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out);

struct AttentionKernels {
  const char* isa;  // "scalar", "avx2", "avx512", "neon", "wasm-simd128"
  AttentionFn attention;
};

// The scalar reference (kernels/ref/attention_ref.cc): the truth the others are tested against.
const AttentionKernels& ReferenceAttentionKernels();
// The fastest kernels this CPU supports.
const AttentionKernels& BestAttentionKernels();
// All kernel sets this CPU can run, reference first, best last; returns how many it stored.
constexpr int kMaxAttentionKernelSets = 3;
int AvailableAttentionKernels(const AttentionKernels** out, int capacity);

// Writes one token's K (or V) row of n_kv_heads heads as Q8: per head, scale = max|x| / 127 and
// code = round(x / scale) (a zero head gets scale 0 and zero codes). x: [n_kv_heads][head_dim];
// codes: [n_kv_heads][head_dim]; scales: [n_kv_heads].
void QuantizeKvRowQ8(const float* x, int64_t n_kv_heads, int64_t head_dim, int8_t* codes, float* scales);

}  // namespace kernels
}  // namespace kite
