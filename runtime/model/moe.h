// Mixture-of-experts MLP (Qwen3-MoE, Qwen2-MoE, Mixtral, DeepSeek-V2/V3): a router
// picks k of E experts per token, and the layer's output is the weighted sum
// of those experts' SwiGLU MLPs, plus shared experts when the model has them
// (Qwen2-MoE scales its shared expert by a per-token sigmoid gate).
//
// Decode reads only the chosen experts' weights. Prefill groups the batch's
// tokens by expert, so each chosen expert's matrices are read once per batch
// and multiplied with all of its tokens together.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/gemm.h"
#include "runtime/backend/cpu/cpu_matmul.h"
#include "runtime/core/status.h"
#include "runtime/core/thread_pool.h"
#include "runtime/model/model_config.h"
#include "runtime/model/weights.h"

namespace kite {

// Working memory of MoeForward, sized once per session.
struct MoeScratch {
  std::vector<float> router_logits;   // [max_batch][E]
  std::vector<float> scores;          // [2 * E] routing work space
  std::vector<int32_t> chosen;        // [max_batch][k] expert ids
  std::vector<float> chosen_weight;   // [max_batch][k]
  std::vector<int32_t> expert_tokens; // tokens grouped by expert: [max_batch * k]
  std::vector<float> expert_weights;  // the matching routing weights
  std::vector<int64_t> expert_begin;  // [E + 1] offsets into expert_tokens
  std::vector<float> x_gathered;      // [max_batch][hidden]
  std::vector<float> gate, up;        // [max_batch][max(moe_inter, shared_inter)]
  std::vector<float> y_expert;        // [max_batch][hidden]
  std::vector<float> shared_gate;     // [max_batch] Qwen2-MoE: shared_expert_gate . x
  void Reserve(const ModelConfig& config, int64_t max_batch);
  // Largest activation width a MatMul inside MoeForward sees (for MatMulScratch::Reserve).
  static int64_t MaxMatMulCols(const ModelConfig& config);
};

// Routes one token. router_logits: [E] (x . router rows); score_bias: [E] or null.
//   softmax scoring: p = softmax(logits); sigmoid scoring: p = sigmoid(logits)
//   topk_method greedy: top-k of p
//               group_limited_greedy: keep topk_group of n_group groups by max p, top-k inside
//               noaux_tc: s = p + bias; keep topk_group groups by the sum of their 2 best s, top-k of s
//   weights = p of the chosen experts, / their sum if norm_topk_prob, x routed_scaling_factor
// Ties go to the lower expert id. experts, weights: [k]; scratch: [2 * E]. Allocates nothing.
void RouteToken(const ModelConfig& config, const float* router_logits, const float* score_bias, int32_t* experts,
                float* weights, float* scratch);

// Grouped routing supports up to this many expert groups (DeepSeek uses 8).
constexpr int64_t kMaxExpertGroups = 64;
// Checks the routing fields RouteToken relies on; errors name the field.
Status CheckMoeConfig(const ModelConfig& config, const std::string& where);

// y[t] = sum_{e chosen for t} w_{t,e} * Expert_e(x[t]) + g_t * Shared(x[t]), with
// g_t = sigmoid(shared_gate . x[t]) when the model has that gate (Qwen2-MoE), else 1.
// x, y: [n][hidden]; y is overwritten.
void MoeForward(const ModelConfig& config, const MoeWeights& w, const kernels::GemmKernels& kernels, ThreadPool& pool,
                MatMulScratch& matmul, MoeScratch& scratch, const float* x, int64_t n, float* y);

// Every matrix of a sparse layer (router, shared-expert gate, shared experts, routed experts; the absent
// ones too): MoeForward reads them all only through MatMul, so families list them in
// Model::KernelLayoutMatrices.
std::vector<Matrix*> MoeMatrices(MoeWeights& w);

}  // namespace kite
