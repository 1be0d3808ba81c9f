// The argument checks and batching every family's Forward shares.
#pragma once

#include <algorithm>
#include <cstdint>

#include "runtime/core/status.h"
#include "runtime/core/thread_pool.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model_config.h"

namespace kite {

// n > 0, [pos, pos + n) inside the context, every token id inside the vocabulary.
Status CheckForwardInputs(const ModelConfig& config, const int32_t* tokens, int64_t n, int64_t pos,
                          int64_t capacity_tokens);

// f32 KV bytes (K and V) per token of the layers that keep every position; sliding-window layers
// hold a fixed ring (window + batch - 1 rows) whatever the context, counted by SlidingKvBytes.
uint64_t FullAttentionKvBytesPerToken(const ModelConfig& config);
uint64_t SlidingKvBytes(const ModelConfig& config, int64_t max_batch);

// Calls row(t) for t in [0, n): across the pool for a prompt's rows, inline for a few (decode).
// The row-wise steps between matrix products (norms, SwiGLU, residual adds) otherwise leave every
// thread but one idle: ~5% of a 2-thread q4 prefill went to the idle worker.
void ForEachRow(ThreadPool& pool, int64_t n, FunctionRef<void(int64_t)> row);

// What one attention layer adds to its fresh q/k/v rows before attending; null fields are absent.
struct QkvExtras {
  const float* bq = nullptr;      // [n_heads * head_dim]
  const float* bk = nullptr;      // [n_kv_heads * head_dim]
  const float* bv = nullptr;
  const float* q_norm = nullptr;  // [head_dim], applied per head (QK-norm)
  const float* k_norm = nullptr;
};

// The step between the q/k/v projections and attention that the Llama and Gemma 3 families share:
// for each of n tokens at positions pos.., add the biases, RMS-normalize each head (QK-norm), rotate
// q and k (rotate-half RoPE with cos/sin tables [n][head_dim / 2]) and store k and v in the cache.
// q: [n][n_heads * head_dim], k, v: [n][n_kv_heads * head_dim], all updated in place.
void PrepareQkv(const QkvExtras& extras, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, float eps,
                const float* cos, const float* sin, int64_t n, int64_t pos, int64_t layer, float* q, float* k, float* v,
                KvCache& cache);

// Splits tokens[0..n) into chunks of at most max_batch and calls
// chunk(tokens + done, b, pos + done, logits_out) -> Status for each, where logits_out is where
// that chunk's logits go: all rows ([b][vocab]) when all_rows, the last row of the last chunk
// otherwise, or null. A template so that decode builds no std::function (no allocation).
template <typename Chunk>
Status ForEachChunk(const int32_t* tokens, int64_t n, int64_t pos, int64_t max_batch, int64_t vocab, float* logits,
                    bool all_rows, const Chunk& chunk) {
  for (int64_t done = 0; done < n; done += max_batch) {
    const int64_t b = std::min(max_batch, n - done);
    const bool last_chunk = done + b == n;
    float* out = nullptr;
    if (logits != nullptr && all_rows) out = logits + done * vocab;
    if (logits != nullptr && !all_rows && last_chunk) out = logits;
    KITE_RETURN_IF_ERROR(chunk(tokens + done, b, pos + done, out));
  }
  return Status::Ok();
}

}  // namespace kite
