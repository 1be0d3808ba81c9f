// DeepSeek-V2/V3 (DeepseekV2ForCausalLM, DeepseekV3ForCausalLM): multi-head
// latent attention (mla_attention.h) with an optional low-rank query
// (q_lora_rank), a decoupled RoPE key shared by all heads (interleaved pairs,
// yarn with mscale), and DeepSeekMoE: dense MLPs for the first
// first_k_dense_replace layers, then routed experts plus shared experts
// (moe.h; V3's sigmoid router with grouped top-k and correction bias). The
// cache keeps per position only the latent and the rope key.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/gemm.h"
#include "runtime/artifact/artifact.h"
#include "runtime/backend/cpu/cpu_matmul.h"
#include "runtime/model/mla_attention.h"
#include "runtime/model/model.h"
#include "runtime/model/moe.h"
#include "runtime/model/rope.h"
#include "runtime/model/weights.h"

namespace kite {

struct DeepseekLayerWeights {
  const float* attn_norm = nullptr;  // [D]
  const float* ffn_norm = nullptr;   // [D]
  Matrix q_proj;                     // [H*(dn+dr), D] when q_lora_rank == 0
  Matrix q_a;                        // [q_lora_rank, D]
  const float* q_a_norm = nullptr;   // [q_lora_rank]
  Matrix q_b;                        // [H*(dn+dr), q_lora_rank]
  Matrix kv_a;                       // [r + dr, D]: latent, then the rope key
  const float* kv_a_norm = nullptr;  // [r]
  Matrix kv_b;                       // [H*(dn+dv), r]
  Matrix wo;                         // [D, H*dv]
  bool sparse = false;
  MlpWeights mlp;                    // dense layers
  MoeWeights moe;                    // sparse layers
};

struct DeepseekState final : public ForwardState {
  int64_t capacity_tokens() const override { return capacity; }
  uint64_t kv_cache_bytes() const override { return cache.size() * sizeof(float); }
  int64_t capacity = 0;
  std::vector<float> cache;  // [layers][capacity][r + dr]: normalised latent | rotated k_pe
  int64_t max_batch = 0;
  std::vector<float> x, xn, q_low, q, kv_a, attn, gate, up, mlp_out;
  std::vector<float> rope_cos, rope_sin;  // [max_batch][dr / 2]
  MlaScratch mla;
  MoeScratch moe;
  MatMulScratch matmul;
};

class DeepseekModel final : public Model {
 public:
  static Result<std::unique_ptr<DeepseekModel>> Create(const Artifact& artifact, const kernels::GemmKernels& kernels);

  const ModelConfig& config() const override { return config_; }
  const kernels::GemmKernels& kernels() const override { return *kernels_; }
  uint64_t weight_bytes_per_token() const override { return weight_bytes_per_token_; }
  // Latent + rope key per layer: (kv_lora_rank + qk_rope_head_dim) floats.
  uint64_t kv_bytes_per_token() const override;
  // What a cache of the decompressed keys and values (H heads of dn+dr and dv) would hold.
  uint64_t expanded_kv_bytes_per_token() const;
  Result<std::unique_ptr<ForwardState>> NewState(int64_t context_tokens, int64_t max_batch, int n_threads,
                                                 kernels::KvFormat kv_format = kernels::KvFormat::kF32) const override;
  // Every matrix: the embedding, the output head, each layer's MLA projections (kv_b included) and
  // dense MLP or sparse layer (moe.h).
  std::vector<Matrix*> KernelLayoutMatrices() override;
  Status Forward(ForwardState& state, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                 float* logits, bool all_rows) const override;

  const std::vector<DeepseekLayerWeights>& layers() const { return layers_; }
  const MlaShape& mla_shape() const { return mla_; }

 private:
  DeepseekModel() = default;
  void ForwardBatch(DeepseekState& s, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos, float* logits,
                    bool all_rows) const;

  ModelConfig config_;
  Matrix embed_, lm_head_;
  const float* final_norm_ = nullptr;
  std::vector<DeepseekLayerWeights> layers_;
  RopeTable rope_;
  MlaShape mla_;
  uint64_t weight_bytes_per_token_ = 0;
  const kernels::GemmKernels* kernels_ = nullptr;
};

}  // namespace kite
