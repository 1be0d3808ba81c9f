// Causal grouped-query attention over a KvCache, shared by the Llama/Qwen/
// Mistral, GPT-2 and Gemma 3 families: optional sliding window (the layer's
// KvCache window) and optional soft-capping of the scores (Gemma 2/3). The
// math is kernels/attention.h's online-softmax kernels; this file splits a
// call across the thread pool.
#pragma once

#include <cstdint>

#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "runtime/core/thread_pool.h"
#include "runtime/model/kv_cache.h"

namespace kite {

struct AttentionShape {
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;  // query head h reads kv head h / (n_heads / n_kv_heads)
  int64_t head_dim = 0;
  float scale = 1.0f;      // multiplies q.k
  float softcap = 0.0f;    // > 0: s = softcap * tanh(s / softcap) after scaling
  // The attention kernels to run; AttentionKernelsFor picks the set matching the GEMM kernels.
  const kernels::AttentionKernels* kernels = nullptr;
};

// The scalar attention kernels when `gemm` is the scalar reference (a model loaded with
// reference kernels stays scalar end to end), the fastest ones otherwise.
const kernels::AttentionKernels& AttentionKernelsFor(const kernels::GemmKernels& gemm);

// For each of n queries at positions pos..pos+n-1 and each head:
//   out = softmax_j(s_j) v_j over keys j in [pos+t-W+1 (W = layer window, if any), pos+t]
// q: [n][n_heads * head_dim]; out: [n][n_heads * head_dim]. Allocates nothing.
void CausalAttention(const AttentionShape& shape, const KvCache& cache, int64_t layer, const float* q, int64_t n,
                     int64_t pos, float* out, ThreadPool& pool);

}  // namespace kite
