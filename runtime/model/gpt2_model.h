// GPT-2 (GPT2LMHeadModel): learned absolute position embeddings, pre-LayerNorm
// blocks with biases everywhere, GELU (tanh) MLP, multi-head attention, output
// head tied to the token embedding. The converter has already transposed the
// Conv1D weights to [out, in] and split c_attn into q/k/v (model_tensors.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/gemm.h"
#include "runtime/artifact/artifact.h"
#include "runtime/backend/cpu/cpu_matmul.h"
#include "runtime/model/kv_cache.h"
#include "runtime/model/model.h"
#include "runtime/model/weights.h"

namespace kite {

struct Gpt2LayerWeights {
  const float* ln_1_w = nullptr;  // [D]
  const float* ln_1_b = nullptr;
  Matrix wq, wk, wv;              // [D, D] each
  const float* bq = nullptr;      // [D] each
  const float* bk = nullptr;
  const float* bv = nullptr;
  Matrix wo;                      // attn.c_proj [D, D]
  const float* bo = nullptr;
  const float* ln_2_w = nullptr;
  const float* ln_2_b = nullptr;
  Matrix fc;                      // mlp.c_fc [F, D]
  const float* b_fc = nullptr;    // [F]
  Matrix proj;                    // mlp.c_proj [D, F]
  const float* b_proj = nullptr;  // [D]
};

struct Gpt2State final : public ForwardState {
  int64_t capacity_tokens() const override { return kv.capacity_tokens(); }
  uint64_t kv_cache_bytes() const override { return kv.bytes(); }
  KvCache kv;
  int64_t max_batch = 0;
  std::vector<float> x, xn, q, k, v, attn, ffn, pos_row;
  MatMulScratch matmul;
};

class Gpt2Model final : public Model {
 public:
  static Result<std::unique_ptr<Gpt2Model>> Create(const Artifact& artifact, const kernels::GemmKernels& kernels);

  const ModelConfig& config() const override { return config_; }
  const kernels::GemmKernels& kernels() const override { return *kernels_; }
  uint64_t weight_bytes_per_token() const override { return weight_bytes_per_token_; }
  uint64_t kv_bytes_per_token() const override;
  Result<std::unique_ptr<ForwardState>> NewState(int64_t context_tokens, int64_t max_batch, int n_threads,
                                                 kernels::KvFormat kv_format = kernels::KvFormat::kF32) const override;
  // Every matrix: both embedding tables, the output head, each layer's attention and MLP.
  std::vector<Matrix*> KernelLayoutMatrices() override;
  Status Forward(ForwardState& state, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                 float* logits, bool all_rows) const override;

 private:
  Gpt2Model() = default;
  void ForwardBatch(Gpt2State& s, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos, float* logits,
                    bool all_rows) const;

  ModelConfig config_;
  Matrix wte_;  // [V, D], also the output head unless lm_head is separate
  Matrix wpe_;  // [n_positions, D]
  Matrix lm_head_;
  const float* ln_f_w_ = nullptr;
  const float* ln_f_b_ = nullptr;
  std::vector<Gpt2LayerWeights> layers_;
  uint64_t weight_bytes_per_token_ = 0;
  const kernels::GemmKernels* kernels_ = nullptr;
};

}  // namespace kite
