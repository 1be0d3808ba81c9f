#include "runtime/model/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/ref/transformer_ops.h"

namespace kite {
namespace {

// Indices of the k largest values, highest first, ties to the lower index.
void TopK(const float* values, int64_t n, int64_t k, int32_t* out) {
  for (int64_t slot = 0; slot < k; ++slot) {
    int32_t best = -1;
    for (int64_t i = 0; i < n; ++i) {
      if (std::find(out, out + slot, static_cast<int32_t>(i)) != out + slot) continue;
      if (best < 0 || values[i] > values[best]) best = static_cast<int32_t>(i);
    }
    out[slot] = best;
  }
}

// One SwiGLU MLP over m rows: y = down(silu(gate x) * up x).  x: [m][D], y: [m][D].
void SwiGlu(const MlpWeights& mlp, const kernels::GemmKernels& kr, ThreadPool& pool, MatMulScratch& matmul,
            const float* x, int64_t m, float* gate, float* up, float* y) {
  const int64_t F = mlp.gate.rows, D = mlp.down.rows;
  MatMul(kr, pool, matmul, mlp.gate, x, m, gate, F);
  MatMul(kr, pool, matmul, mlp.up, x, m, up, F);
  for (int64_t t = 0; t < m; ++t) kernels::SiluMul(gate + t * F, up + t * F, F);
  MatMul(kr, pool, matmul, mlp.down, gate, m, y, D);
}

}  // namespace

Status CheckMoeConfig(const ModelConfig& c, const std::string& where) {
  const std::string at = where + ": config: ";
  if (c.num_experts == 0 || c.num_experts_per_tok == 0 || c.num_experts_per_tok > c.num_experts) {
    return CorruptArtifact(at + "num_experts_per_tok " + std::to_string(c.num_experts_per_tok) +
                           " must be in [1, num_experts = " + std::to_string(c.num_experts) + "]");
  }
  if (c.moe_intermediate_size == 0) return CorruptArtifact(at + "moe_intermediate_size is 0");
  if (c.moe_scoring != "softmax" && c.moe_scoring != "sigmoid") {
    return Unsupported(at + "moe_scoring '" + c.moe_scoring + "' (supported: softmax, sigmoid)");
  }
  const std::string& m = c.moe_topk_method;
  if (m != "greedy" && m != "group_limited_greedy" && m != "noaux_tc") {
    return Unsupported(at + "moe_topk_method '" + m + "' (supported: greedy, group_limited_greedy, noaux_tc)");
  }
  if (m != "greedy") {
    const int64_t groups = c.moe_n_group;
    if (groups < 1 || groups > kMaxExpertGroups || c.num_experts % groups != 0 || c.moe_topk_group < 1 ||
        c.moe_topk_group > groups ||
        int64_t{c.moe_topk_group} * (c.num_experts / groups) < int64_t{c.num_experts_per_tok}) {
      return CorruptArtifact(at + "n_group " + std::to_string(c.moe_n_group) + " / topk_group " +
                             std::to_string(c.moe_topk_group) + " do not divide " + std::to_string(c.num_experts) +
                             " experts into groups that can supply " + std::to_string(c.num_experts_per_tok) +
                             " choices (at most " + std::to_string(kMaxExpertGroups) + " groups)");
    }
  }
  return Status::Ok();
}

void MoeScratch::Reserve(const ModelConfig& c, int64_t max_batch) {
  const int64_t E = c.num_experts, k = c.num_experts_per_tok, D = c.hidden_size;
  const int64_t F = std::max<int64_t>(c.moe_intermediate_size, static_cast<int64_t>(c.shared_expert_width()));
  router_logits.assign(max_batch * E, 0.0f);
  scores.assign(2 * E, 0.0f);
  chosen.assign(max_batch * k, 0);
  chosen_weight.assign(max_batch * k, 0.0f);
  expert_tokens.assign(max_batch * k, 0);
  expert_weights.assign(max_batch * k, 0.0f);
  expert_begin.assign(E + 1, 0);
  x_gathered.assign(max_batch * D, 0.0f);
  gate.assign(max_batch * F, 0.0f);
  up.assign(max_batch * F, 0.0f);
  y_expert.assign(max_batch * D, 0.0f);
  shared_gate.assign(max_batch, 0.0f);
}

int64_t MoeScratch::MaxMatMulCols(const ModelConfig& c) {
  return std::max<int64_t>({c.hidden_size, c.moe_intermediate_size, static_cast<int64_t>(c.shared_expert_width())});
}

void RouteToken(const ModelConfig& c, const float* logits, const float* score_bias, int32_t* experts, float* weights,
                float* scratch) {
  const int64_t E = c.num_experts, k = c.num_experts_per_tok;
  float* p = scratch;           // [E] routing probabilities: the weights come from these
  float* choice = scratch + E;  // [E] what selection ranks (bias-corrected for noaux_tc; -inf: masked group)
  if (c.moe_scoring == "sigmoid") {
    for (int64_t e = 0; e < E; ++e) p[e] = 1.0f / (1.0f + std::exp(-logits[e]));
  } else {
    std::copy(logits, logits + E, p);
    kernels::Softmax(p, E);
  }
  for (int64_t e = 0; e < E; ++e) choice[e] = p[e] + (score_bias != nullptr ? score_bias[e] : 0.0f);
  const int64_t groups = c.moe_n_group;
  const bool grouped = (c.moe_topk_method == "group_limited_greedy" || c.moe_topk_method == "noaux_tc") &&
                       groups > 1 && groups <= kMaxExpertGroups && E % groups == 0 && c.moe_topk_group < groups;
  if (grouped) {
    const int64_t per_group = E / groups;
    float group_score[kMaxExpertGroups];
    for (int64_t g = 0; g < groups; ++g) {
      const float* s = choice + g * per_group;
      if (c.moe_topk_method == "noaux_tc") {  // the sum of the group's two best
        int32_t best2[2] = {0, 0};
        const int64_t take = std::min<int64_t>(2, per_group);
        TopK(s, per_group, take, best2);
        group_score[g] = 0;
        for (int64_t i = 0; i < take; ++i) group_score[g] += s[best2[i]];
      } else {  // group_limited_greedy: the group's best
        group_score[g] = *std::max_element(s, s + per_group);
      }
    }
    int32_t kept[kMaxExpertGroups];
    TopK(group_score, groups, c.moe_topk_group, kept);
    for (int64_t g = 0; g < groups; ++g) {
      if (std::find(kept, kept + c.moe_topk_group, static_cast<int32_t>(g)) != kept + c.moe_topk_group) continue;
      std::fill(choice + g * per_group, choice + (g + 1) * per_group, -INFINITY);
    }
  }
  TopK(choice, E, k, experts);
  double sum = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    weights[i] = p[experts[i]];
    sum += weights[i];
  }
  const float norm = c.norm_topk_prob ? static_cast<float>(1.0 / (sum + 1e-20)) : 1.0f;
  for (int64_t i = 0; i < k; ++i) weights[i] *= norm * c.routed_scaling_factor;
}

void MoeForward(const ModelConfig& c, const MoeWeights& w, const kernels::GemmKernels& kr, ThreadPool& pool,
                MatMulScratch& matmul, MoeScratch& s, const float* x, int64_t n, float* y) {
  const int64_t E = c.num_experts, k = c.num_experts_per_tok, D = c.hidden_size;
  // 1. Route: router_logits [n][E], then k experts and weights per token.
  MatMul(kr, pool, matmul, w.router, x, n, s.router_logits.data(), E);
  for (int64_t t = 0; t < n; ++t) {
    RouteToken(c, s.router_logits.data() + t * E, w.score_bias, s.chosen.data() + t * k, s.chosen_weight.data() + t * k,
               s.scores.data());
  }
  // 2. Group (token, weight) pairs by expert: a counting sort keeps tokens in order.
  std::fill(s.expert_begin.begin(), s.expert_begin.end(), 0);
  for (int64_t i = 0; i < n * k; ++i) ++s.expert_begin[s.chosen[i] + 1];
  std::partial_sum(s.expert_begin.begin(), s.expert_begin.end(), s.expert_begin.begin());
  std::vector<int64_t>& fill = s.expert_begin;  // advanced while filling, restored below
  for (int64_t i = 0; i < n * k; ++i) {
    const int64_t slot = fill[s.chosen[i]]++;
    s.expert_tokens[slot] = static_cast<int32_t>(i / k);
    s.expert_weights[slot] = s.chosen_weight[i];
  }
  for (int64_t e = E; e > 0; --e) fill[e] = fill[e - 1];  // fill[e] now holds the end of e-1's run
  fill[0] = 0;
  // 3. Shared experts (every token), or zeros.
  if (w.shared.gate.present()) {
    SwiGlu(w.shared, kr, pool, matmul, x, n, s.gate.data(), s.up.data(), y);
    if (w.shared_gate.present()) {
      // Qwen2-MoE: y[t] *= sigmoid(shared_gate . x[t]); shared_gate: [n] (a 1-output projection).
      MatMul(kr, pool, matmul, w.shared_gate, x, n, s.shared_gate.data(), 1);
      for (int64_t t = 0; t < n; ++t) {
        const float g = 1.0f / (1.0f + std::exp(-s.shared_gate[t]));
        for (int64_t i = 0; i < D; ++i) y[t * D + i] *= g;
      }
    }
  } else {
    std::fill(y, y + n * D, 0.0f);
  }
  // 4. Each expert that was chosen at all runs once on its gathered tokens; unchosen experts are never read.
  for (int64_t e = 0; e < E; ++e) {
    const int64_t begin = s.expert_begin[e], count = s.expert_begin[e + 1] - begin;
    if (count == 0) continue;
    for (int64_t r = 0; r < count; ++r) {
      const float* src = x + static_cast<int64_t>(s.expert_tokens[begin + r]) * D;
      std::copy(src, src + D, s.x_gathered.data() + r * D);
    }
    SwiGlu(w.experts[e], kr, pool, matmul, s.x_gathered.data(), count, s.gate.data(), s.up.data(), s.y_expert.data());
    for (int64_t r = 0; r < count; ++r) {
      float* dst = y + static_cast<int64_t>(s.expert_tokens[begin + r]) * D;
      const float weight = s.expert_weights[begin + r];
      const float* src = s.y_expert.data() + r * D;
      for (int64_t i = 0; i < D; ++i) dst[i] += weight * src[i];
    }
  }
}

std::vector<Matrix*> MoeMatrices(MoeWeights& w) {
  std::vector<Matrix*> out = {&w.router, &w.shared_gate, &w.shared.gate, &w.shared.up, &w.shared.down};
  for (MlpWeights& expert : w.experts) {
    for (Matrix* m : {&expert.gate, &expert.up, &expert.down}) out.push_back(m);
  }
  return out;
}

}  // namespace kite
