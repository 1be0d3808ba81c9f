#include "runtime/model/llama_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ref/transformer_ops.h"

namespace kite {

Result<std::unique_ptr<LlamaModel>> LlamaModel::Create(const Artifact& artifact, const kernels::GemmKernels& kernels) {
  std::unique_ptr<LlamaModel> model(new LlamaModel());
  model->config_ = artifact.config();
  KITE_ASSIGN_OR_RETURN(model->weights_, BindLlamaFamilyWeights(artifact));
  KITE_ASSIGN_OR_RETURN(model->rope_, MakeRopeTable(model->config_, model->config_.head_dim, model->config_.rope_theta));
  model->kernels_ = &kernels;
  return model;
}

uint64_t LlamaModel::kv_bytes_per_token() const {
  return 2ull * config_.num_layers * config_.num_kv_heads * config_.head_dim * sizeof(float);
}

Result<std::unique_ptr<ForwardState>> LlamaModel::NewState(int64_t context_tokens, int64_t max_batch,
                                                           int n_threads) const {
  if (context_tokens <= 0 || max_batch <= 0) return InvalidArgument("context and batch sizes must be positive");
  std::unique_ptr<LlamaState> state(new LlamaState());
  LlamaState& s = *state;
  const ModelConfig& c = config_;
  const int64_t D = c.hidden_size, hd = c.head_dim, H = c.num_heads, KV = c.num_kv_heads, F = c.intermediate_size;
  const uint64_t kv_bytes = kv_bytes_per_token() * static_cast<uint64_t>(context_tokens);
  if (kv_bytes > (1ull << 40)) return InvalidArgument("context of " + std::to_string(context_tokens) + " tokens needs too much KV memory");
  s.kv.capacity_tokens = context_tokens;
  s.kv.row = KV * hd;
  s.kv.k.assign(static_cast<size_t>(c.num_layers) * context_tokens * KV * hd, 0.0f);
  s.kv.v.assign(s.kv.k.size(), 0.0f);
  s.max_batch = max_batch;
  s.x.assign(max_batch * D, 0.0f);
  s.xn.assign(max_batch * D, 0.0f);
  s.q.assign(max_batch * H * hd, 0.0f);
  s.k.assign(max_batch * KV * hd, 0.0f);
  s.v.assign(max_batch * KV * hd, 0.0f);
  s.attn.assign(max_batch * H * hd, 0.0f);
  s.gate.assign(max_batch * F, 0.0f);
  s.up.assign(max_batch * F, 0.0f);
  s.last_logits_row.assign(c.vocab_size, 0.0f);
  s.scores.assign(static_cast<size_t>(std::max(1, n_threads)) * context_tokens, 0.0f);
  s.rope_cos.assign(max_batch * hd / 2, 0.0f);
  s.rope_sin.assign(max_batch * hd / 2, 0.0f);
  s.matmul.Reserve(max_batch, std::max<int64_t>({D, F, H * hd}));
  return std::unique_ptr<ForwardState>(std::move(state));
}

Status LlamaModel::Forward(ForwardState& base, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                           float* logits, bool all_rows) const {
  LlamaState& s = static_cast<LlamaState&>(base);
  if (n <= 0) return InvalidArgument("no tokens to evaluate");
  if (pos < 0 || pos + n > s.kv.capacity_tokens) {
    return Status(StatusCode::kContextFull, "evaluating " + std::to_string(n) + " tokens at position " +
                                                std::to_string(pos) + " exceeds the context of " +
                                                std::to_string(s.kv.capacity_tokens) + " tokens");
  }
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= static_cast<int32_t>(config_.vocab_size)) {
      return OutOfRange("token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                        " is outside the vocabulary [0, " + std::to_string(config_.vocab_size) + ")");
    }
  }
  const int64_t V = config_.vocab_size;
  for (int64_t done = 0; done < n; done += s.max_batch) {
    const int64_t b = std::min(s.max_batch, n - done);
    const bool last_chunk = done + b == n;
    float* out = nullptr;
    if (logits != nullptr && all_rows) out = logits + done * V;
    if (logits != nullptr && !all_rows && last_chunk) out = logits;
    ForwardBatch(s, pool, tokens + done, b, pos + done, out, all_rows);
  }
  return Status::Ok();
}

void LlamaModel::ForwardBatch(LlamaState& s, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                              float* logits, bool all_rows) const {
  const ModelConfig& c = config_;
  const kernels::GemmKernels& kr = *kernels_;
  const int64_t D = c.hidden_size, hd = c.head_dim, H = c.num_heads, KV = c.num_kv_heads, F = c.intermediate_size;
  const float eps = c.norm_eps;

  // x: [n][D] token embeddings
  for (int64_t t = 0; t < n; ++t) DequantizeRow(weights_.embed, tokens[t], s.x.data() + t * D);
  // cos/sin: [n][hd/2] for positions pos..pos+n-1, shared by every layer and head
  for (int64_t t = 0; t < n; ++t) rope_.CosSin(pos + t, s.rope_cos.data() + t * hd / 2, s.rope_sin.data() + t * hd / 2);

  for (uint32_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& L = weights_.layers[l];
    // xn = RMSNorm(x)
    for (int64_t t = 0; t < n; ++t) kernels::RmsNorm(s.x.data() + t * D, L.attn_norm, D, eps, s.xn.data() + t * D);
    // q: [n][H*hd], k, v: [n][KV*hd]
    MatMul(kr, pool, s.matmul, L.wq, s.xn.data(), n, s.q.data(), H * hd);
    MatMul(kr, pool, s.matmul, L.wk, s.xn.data(), n, s.k.data(), KV * hd);
    MatMul(kr, pool, s.matmul, L.wv, s.xn.data(), n, s.v.data(), KV * hd);
    for (int64_t t = 0; t < n; ++t) {
      float* q = s.q.data() + t * H * hd;
      float* k = s.k.data() + t * KV * hd;
      float* v = s.v.data() + t * KV * hd;
      if (L.bq != nullptr) kernels::AddInPlace(q, L.bq, H * hd);
      if (L.bk != nullptr) kernels::AddInPlace(k, L.bk, KV * hd);
      if (L.bv != nullptr) kernels::AddInPlace(v, L.bv, KV * hd);
      const float* cos = s.rope_cos.data() + t * hd / 2;
      const float* sin = s.rope_sin.data() + t * hd / 2;
      for (int64_t h = 0; h < H; ++h) {
        if (L.q_norm != nullptr) kernels::RmsNorm(q + h * hd, L.q_norm, hd, eps, q + h * hd);
        kernels::RopeRotateHalf(q + h * hd, hd, cos, sin);
      }
      for (int64_t h = 0; h < KV; ++h) {
        if (L.k_norm != nullptr) kernels::RmsNorm(k + h * hd, L.k_norm, hd, eps, k + h * hd);
        kernels::RopeRotateHalf(k + h * hd, hd, cos, sin);
      }
      std::memcpy(s.kv.K(l, pos + t), k, KV * hd * sizeof(float));
      std::memcpy(s.kv.V(l, pos + t), v, KV * hd * sizeof(float));
    }
    Attention(s, pool, l, n, pos);
    // x += attn @ Wo^T (+ bo)
    MatMul(kr, pool, s.matmul, L.wo, s.attn.data(), n, s.xn.data(), D);
    for (int64_t t = 0; t < n; ++t) {
      if (L.bo != nullptr) kernels::AddInPlace(s.xn.data() + t * D, L.bo, D);
      kernels::AddInPlace(s.x.data() + t * D, s.xn.data() + t * D, D);
    }
    // x += down(silu(gate(xn)) * up(xn))
    for (int64_t t = 0; t < n; ++t) kernels::RmsNorm(s.x.data() + t * D, L.ffn_norm, D, eps, s.xn.data() + t * D);
    MatMul(kr, pool, s.matmul, L.gate, s.xn.data(), n, s.gate.data(), F);
    MatMul(kr, pool, s.matmul, L.up, s.xn.data(), n, s.up.data(), F);
    for (int64_t t = 0; t < n; ++t) {
      if (L.b_gate != nullptr) kernels::AddInPlace(s.gate.data() + t * F, L.b_gate, F);
      if (L.b_up != nullptr) kernels::AddInPlace(s.up.data() + t * F, L.b_up, F);
      kernels::SiluMul(s.gate.data() + t * F, s.up.data() + t * F, F);
    }
    MatMul(kr, pool, s.matmul, L.down, s.gate.data(), n, s.xn.data(), D);
    for (int64_t t = 0; t < n; ++t) {
      if (L.b_down != nullptr) kernels::AddInPlace(s.xn.data() + t * D, L.b_down, D);
      kernels::AddInPlace(s.x.data() + t * D, s.xn.data() + t * D, D);
    }
  }
  if (logits == nullptr) return;
  // Only the rows asked for go through the final norm and the (large) output head.
  const int64_t first = all_rows ? 0 : n - 1;
  const int64_t rows = n - first;
  for (int64_t t = first; t < n; ++t) {
    kernels::RmsNorm(s.x.data() + t * D, weights_.final_norm, D, eps, s.xn.data() + (t - first) * D);
  }
  MatMul(kr, pool, s.matmul, weights_.lm_head, s.xn.data(), rows, logits, c.vocab_size);
}

void LlamaModel::Attention(LlamaState& s, ThreadPool& pool, int64_t layer, int64_t n, int64_t pos) const {
  const ModelConfig& c = config_;
  const int64_t hd = c.head_dim, H = c.num_heads, KV = c.num_kv_heads;
  const int64_t group = H / KV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int64_t tasks = n * H;
  const int64_t capacity = s.kv.capacity_tokens;
  const float* k_base = s.kv.K(layer, 0);
  const float* v_base = s.kv.V(layer, 0);
  const int64_t row = s.kv.row;
  auto work = [&](int thread, int n_threads) {
    float* scores = s.scores.data() + static_cast<int64_t>(thread) * capacity;
    for (int64_t task = thread; task < tasks; task += n_threads) {
      const int64_t t = task / H, h = task % H;
      const int64_t g = h / group;               // the KV head this query head shares
      const int64_t len = pos + t + 1;           // causal: keys 0..pos+t
      const float* q = s.q.data() + (t * H + h) * hd;
      for (int64_t j = 0; j < len; ++j) scores[j] = kernels::Dot(q, k_base + j * row + g * hd, hd) * scale;
      kernels::Softmax(scores, len);
      kernels::WeightedSum(scores, v_base + g * hd, len, row, hd, s.attn.data() + (t * H + h) * hd);
    }
  };
  // Waking threads costs microseconds: only worth it when there are enough keys to read.
  const int64_t flops = tasks * (pos + n) * hd * 4;
  if (flops < (1 << 17)) {
    work(0, 1);
  } else {
    pool.Run(work);
  }
}

}  // namespace kite
