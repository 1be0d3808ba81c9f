// The Llama-family decoder (Llama, SmolLM2, Mistral, Qwen2, Qwen3, and the
// sparse Qwen3-MoE, Qwen2-MoE and Mixtral): weights bound from an artifact, and a
// forward pass over a batch of tokens that appends to a session's KV cache.
// Sliding-window layers (Mistral; Qwen2/Qwen3 with use_sliding_window or
// layer_types) run on KvCache's ring buffers; sparse layers on moe.h.
// The model itself is read-only and shared by sessions; everything that
// changes lives in ForwardState.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/gemm.h"
#include "runtime/artifact/artifact.h"
#include "runtime/backend/cpu/cpu_matmul.h"
#include "runtime/core/status.h"
#include "runtime/core/thread_pool.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model.h"
#include "runtime/model/moe.h"
#include "runtime/model/rope.h"
#include "runtime/model/weights.h"

namespace kite {

// Per-session working memory, sized once when the session starts.
struct LlamaState final : public ForwardState {
  int64_t capacity_tokens() const override { return kv.capacity_tokens(); }
  uint64_t kv_cache_bytes() const override { return kv.bytes(); }
  KvCache kv;
  int64_t max_batch = 0;
  std::vector<float> x, xn, q, k, v, attn, gate, up;
  std::vector<float> rope_cos, rope_sin;  // [max_batch][head_dim / 2]
  MatMulScratch matmul;
  MoeScratch moe;
  std::vector<float> moe_out;  // [max_batch][hidden], sparse layers' MLP output
};

class LlamaModel final : public Model {
 public:
  static Result<std::unique_ptr<LlamaModel>> Create(const Artifact& artifact, const kernels::GemmKernels& kernels);

  const ModelConfig& config() const override { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const kernels::GemmKernels& kernels() const override { return *kernels_; }
  uint64_t weight_bytes_per_token() const override { return weights_.weight_bytes_per_token; }
  uint64_t kv_bytes_per_token() const override;
  uint64_t kv_window_bytes(int64_t max_batch) const override;
  Result<std::unique_ptr<ForwardState>> NewState(int64_t context_tokens, int64_t max_batch, int n_threads,
                                                 kernels::KvFormat kv_format = kernels::KvFormat::kF32) const override;
  // ring_for_windowed = false: sliding-window layers keep every position (tests compare both caches).
  Result<std::unique_ptr<ForwardState>> NewStateWithCache(int64_t context_tokens, int64_t max_batch, int n_threads,
                                                          bool ring_for_windowed,
                                                          kernels::KvFormat kv_format = kernels::KvFormat::kF32) const;
  // wq, wk, wv, wo and the dense layers' gate, up, down (inputs xn, attn, gate are padded).
  std::vector<Matrix*> PackableMatrices() override;
  // The packable ones, the sparse layers' (moe.h), the embedding and the output head.
  std::vector<Matrix*> KernelLayoutMatrices() override;
  Status Forward(ForwardState& state, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                 float* logits, bool all_rows) const override;

 private:
  LlamaModel() = default;
  void ForwardBatch(LlamaState& s, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos, float* logits,
                    bool all_rows) const;

  ModelConfig config_;
  ModelWeights weights_;
  RopeTable rope_;
  const kernels::GemmKernels* kernels_ = nullptr;
};

}  // namespace kite
