// Gemma 3 text decoder (Gemma3ForCausalLM): interleaved local (sliding-window)
// and global attention layers, each with its own RoPE base; Gemma's (1 + w)
// RMSNorm before and after both the attention and the MLP; QK-norm; GeGLU
// (gelu_tanh) MLP; embeddings scaled by sqrt(hidden); scores scaled by
// query_pre_attn_scalar^-1/2; optional soft-capping of attention scores and
// final logits. Local layers keep their K/V in ring buffers (kv_cache.h), so
// a long chat's memory grows only with the global layers.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/gemm.h"
#include "runtime/artifact/artifact.h"
#include "runtime/backend/cpu/cpu_matmul.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model.h"
#include "runtime/model/rope.h"
#include "runtime/model/weights.h"

namespace kite {

struct Gemma3LayerWeights {
  // Norm weights are stored zero-centred; these point at 1 + w, computed once at load.
  const float* input_norm = nullptr;          // [D]
  const float* post_attention_norm = nullptr; // [D]
  const float* pre_ffn_norm = nullptr;        // [D]
  const float* post_ffn_norm = nullptr;       // [D]
  const float* q_norm = nullptr;              // [hd]
  const float* k_norm = nullptr;              // [hd]
  Matrix wq, wk, wv, wo;                      // [H*hd, D], [KV*hd, D] x2, [D, H*hd]
  const float* bq = nullptr;                  // optional (attention_bias)
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* bo = nullptr;
  MlpWeights mlp;                             // GeGLU
  bool sliding = false;
};

struct Gemma3State final : public ForwardState {
  int64_t capacity_tokens() const override { return kv.capacity_tokens(); }
  uint64_t kv_cache_bytes() const override { return kv.bytes(); }
  KvCache kv;
  int64_t max_batch = 0;
  std::vector<float> x, xn, q, k, v, attn, gate, up;
  std::vector<float> cos_local, sin_local, cos_global, sin_global;  // [max_batch][hd / 2]
  MatMulScratch matmul;
};

class Gemma3Model final : public Model {
 public:
  static Result<std::unique_ptr<Gemma3Model>> Create(const Artifact& artifact, const kernels::GemmKernels& kernels);

  const ModelConfig& config() const override { return config_; }
  const kernels::GemmKernels& kernels() const override { return *kernels_; }
  uint64_t weight_bytes_per_token() const override { return weight_bytes_per_token_; }
  // Global layers only: each local layer's ring holds a fixed sliding_window + max_batch - 1 rows.
  uint64_t kv_bytes_per_token() const override;
  uint64_t kv_window_bytes(int64_t max_batch) const override;
  Result<std::unique_ptr<ForwardState>> NewState(int64_t context_tokens, int64_t max_batch, int n_threads,
                                                 kernels::KvFormat kv_format = kernels::KvFormat::kF32) const override;
  // ring_for_windowed = false keeps every position of local layers too (tests compare both).
  Result<std::unique_ptr<ForwardState>> NewStateWithCache(int64_t context_tokens, int64_t max_batch, int n_threads,
                                                          bool ring_for_windowed,
                                                          kernels::KvFormat kv_format = kernels::KvFormat::kF32) const;
  // Every matrix: the embedding, the output head, each layer's attention and MLP.
  std::vector<Matrix*> KernelLayoutMatrices() override;
  Status Forward(ForwardState& state, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                 float* logits, bool all_rows) const override;

 private:
  Gemma3Model() = default;
  void ForwardBatch(Gemma3State& s, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos, float* logits,
                    bool all_rows) const;

  ModelConfig config_;
  Matrix embed_, lm_head_;
  const float* final_norm_ = nullptr;
  std::vector<Gemma3LayerWeights> layers_;
  std::vector<float> norm_storage_;  // every 1 + w
  RopeTable rope_local_, rope_global_;
  float embed_scale_ = 1.0f;
  uint64_t weight_bytes_per_token_ = 0;
  const kernels::GemmKernels* kernels_ = nullptr;
};

}  // namespace kite
