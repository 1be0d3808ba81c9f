#include "runtime/model/forward_util.h"

#include <algorithm>
#include <string>

#include "kernels/ref/transformer_ops.h"

namespace kite {

Status CheckForwardInputs(const ModelConfig& config, const int32_t* tokens, int64_t n, int64_t pos,
                          int64_t capacity_tokens) {
  if (n <= 0) return InvalidArgument("no tokens to evaluate");
  if (pos < 0 || pos + n > capacity_tokens) {
    return Status(StatusCode::kContextFull, "evaluating " + std::to_string(n) + " tokens at position " +
                                                std::to_string(pos) + " exceeds the context of " +
                                                std::to_string(capacity_tokens) + " tokens");
  }
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= static_cast<int32_t>(config.vocab_size)) {
      return OutOfRange("token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                        " is outside the vocabulary [0, " + std::to_string(config.vocab_size) + ")");
    }
  }
  return Status::Ok();
}

void PrepareQkv(const QkvExtras& e, int64_t H, int64_t KV, int64_t hd, float eps, const float* cos_table,
                const float* sin_table, int64_t n, int64_t pos, int64_t layer, float* q_rows, float* k_rows,
                float* v_rows, KvCache& cache) {
  for (int64_t t = 0; t < n; ++t) {
    float* q = q_rows + t * H * hd;
    float* k = k_rows + t * KV * hd;
    float* v = v_rows + t * KV * hd;
    if (e.bq != nullptr) kernels::AddInPlace(q, e.bq, H * hd);
    if (e.bk != nullptr) kernels::AddInPlace(k, e.bk, KV * hd);
    if (e.bv != nullptr) kernels::AddInPlace(v, e.bv, KV * hd);
    const float* cos = cos_table + t * hd / 2;
    const float* sin = sin_table + t * hd / 2;
    for (int64_t h = 0; h < H; ++h) {
      if (e.q_norm != nullptr) kernels::RmsNorm(q + h * hd, e.q_norm, hd, eps, q + h * hd);
      kernels::RopeRotateHalf(q + h * hd, hd, cos, sin);
    }
    for (int64_t h = 0; h < KV; ++h) {
      if (e.k_norm != nullptr) kernels::RmsNorm(k + h * hd, e.k_norm, hd, eps, k + h * hd);
      kernels::RopeRotateHalf(k + h * hd, hd, cos, sin);
    }
    cache.Write(layer, pos + t, k, v);
  }
}

uint64_t FullAttentionKvBytesPerToken(const ModelConfig& config) {
  uint64_t layers = 0;
  for (uint32_t l = 0; l < config.num_layers; ++l) layers += config.layer_is_sliding(l) ? 0 : 1;
  return 2ull * layers * config.num_kv_heads * config.head_dim * sizeof(float);
}

uint64_t SlidingKvBytes(const ModelConfig& config, int64_t max_batch) {
  uint64_t layers = 0;
  for (uint32_t l = 0; l < config.num_layers; ++l) layers += config.layer_is_sliding(l) ? 1 : 0;
  const uint64_t rows = config.sliding_window + static_cast<uint64_t>(std::max<int64_t>(1, max_batch)) - 1;
  return 2ull * layers * rows * config.num_kv_heads * config.head_dim * sizeof(float);
}

void ForEachRow(ThreadPool& pool, int64_t n, FunctionRef<void(int64_t)> row) {
  if (n < 8 || pool.size() <= 1) {
    for (int64_t t = 0; t < n; ++t) row(t);
    return;
  }
  pool.ParallelFor(n, 2, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) row(t);
  });
}

}  // namespace kite
