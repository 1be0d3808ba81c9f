#include "runtime/model/llama_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ref/transformer_ops.h"
#include "runtime/model/attention.h"
#include "runtime/model/forward_util.h"

namespace kite {

Result<std::unique_ptr<LlamaModel>> LlamaModel::Create(const Artifact& artifact, const kernels::GemmKernels& kernels) {
  std::unique_ptr<LlamaModel> model(new LlamaModel());
  model->config_ = artifact.config();
  if (!model->config_.moe_layers.empty()) KITE_RETURN_IF_ERROR(CheckMoeConfig(model->config_, artifact.path()));
  KITE_ASSIGN_OR_RETURN(model->weights_, BindLlamaFamilyWeights(artifact));
  KITE_ASSIGN_OR_RETURN(model->rope_, MakeRopeTable(model->config_, model->config_.head_dim, model->config_.rope_theta));
  model->kernels_ = &kernels;
  return model;
}

uint64_t LlamaModel::kv_bytes_per_token() const { return FullAttentionKvBytesPerToken(config_); }

uint64_t LlamaModel::kv_window_bytes(int64_t max_batch) const { return SlidingKvBytes(config_, max_batch); }

Result<std::unique_ptr<ForwardState>> LlamaModel::NewState(int64_t context_tokens, int64_t max_batch,
                                                           int n_threads, kernels::KvFormat kv_format) const {
  return NewStateWithCache(context_tokens, max_batch, n_threads, /*ring_for_windowed=*/true, kv_format);
}

Result<std::unique_ptr<ForwardState>> LlamaModel::NewStateWithCache(int64_t context_tokens, int64_t max_batch,
                                                                    int n_threads, bool ring_for_windowed,
      kernels::KvFormat kv_format) const {
  if (context_tokens <= 0 || max_batch <= 0) return InvalidArgument("context and batch sizes must be positive");
  std::unique_ptr<LlamaState> state(new LlamaState());
  LlamaState& s = *state;
  const ModelConfig& c = config_;
  const int64_t D = c.hidden_size, hd = c.head_dim, H = c.num_heads, KV = c.num_kv_heads, F = c.intermediate_size;
  std::vector<KvLayerSpec> layers(c.num_layers);
  for (uint32_t l = 0; l < c.num_layers; ++l) layers[l].window = c.layer_is_sliding(l) ? c.sliding_window : 0;
  KITE_RETURN_IF_ERROR(s.kv.Init(layers, KV * hd, hd, context_tokens, max_batch, ring_for_windowed, kv_format));
  s.max_batch = max_batch;
  s.x.assign(max_batch * D, 0.0f);
  s.xn.assign(max_batch * D + kMatMulInputPadFloats, 0.0f);  // MatMul input
  s.q.assign(max_batch * H * hd, 0.0f);
  s.k.assign(max_batch * KV * hd, 0.0f);
  s.v.assign(max_batch * KV * hd, 0.0f);
  s.attn.assign(max_batch * H * hd + kMatMulInputPadFloats, 0.0f);  // MatMul input
  s.gate.assign(max_batch * F + kMatMulInputPadFloats, 0.0f);  // MatMul input
  s.up.assign(max_batch * F, 0.0f);
  s.rope_cos.assign(max_batch * hd / 2, 0.0f);
  s.rope_sin.assign(max_batch * hd / 2, 0.0f);
  int64_t max_cols = std::max<int64_t>({D, F, H * hd});
  if (!c.moe_layers.empty()) {
    s.moe.Reserve(c, max_batch);
    s.moe_out.assign(max_batch * D, 0.0f);
    max_cols = std::max(max_cols, MoeScratch::MaxMatMulCols(c));
  }
  s.matmul.Reserve(max_batch, max_cols);
  return std::unique_ptr<ForwardState>(std::move(state));
}

std::vector<Matrix*> LlamaModel::PackableMatrices() {
  std::vector<Matrix*> out;
  for (LayerWeights& L : weights_.layers) {
    for (Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo}) out.push_back(m);
    if (!L.sparse) {
      for (Matrix* m : {&L.gate, &L.up, &L.down}) out.push_back(m);
    }
  }
  return out;
}

std::vector<Matrix*> LlamaModel::KernelLayoutMatrices() {
  std::vector<Matrix*> out = PackableMatrices();
  for (LayerWeights& L : weights_.layers) {
    if (!L.sparse) continue;
    for (Matrix* m : MoeMatrices(L.moe)) out.push_back(m);
  }
  out.push_back(&weights_.embed);  // DequantizeRow
  out.push_back(&weights_.lm_head);
  return out;
}

Status LlamaModel::Forward(ForwardState& base, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                           float* logits, bool all_rows) const {
  LlamaState& s = static_cast<LlamaState&>(base);
  KITE_RETURN_IF_ERROR(CheckForwardInputs(config_, tokens, n, pos, s.kv.capacity_tokens()));
  KITE_RETURN_IF_ERROR(s.kv.CheckCanWrite(pos, n));
  return ForEachChunk(tokens, n, pos, s.max_batch, config_.vocab_size, logits, all_rows,
                      [&](const int32_t* t, int64_t b, int64_t p, float* out) {
                        ForwardBatch(s, pool, t, b, p, out, all_rows);
                        return Status::Ok();
                      });
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
  AttentionShape shape;
  shape.n_heads = H;
  shape.n_kv_heads = KV;
  shape.head_dim = hd;
  shape.kernels = &AttentionKernelsFor(kr);
  shape.scale = 1.0f / std::sqrt(static_cast<float>(hd));

  for (uint32_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& L = weights_.layers[l];
    // xn = RMSNorm(x)
    ForEachRow(pool, n, [&](int64_t t) {
      kernels::RmsNorm(s.x.data() + t * D, L.attn_norm, D, eps, s.xn.data() + t * D);
    });
    // q: [n][H*hd], k, v: [n][KV*hd]
    MatMul(kr, pool, s.matmul, L.wq, s.xn.data(), n, s.q.data(), H * hd);
    MatMul(kr, pool, s.matmul, L.wk, s.xn.data(), n, s.k.data(), KV * hd);
    MatMul(kr, pool, s.matmul, L.wv, s.xn.data(), n, s.v.data(), KV * hd);
    // + biases, QK-norm, RoPE; K/V into the cache
    PrepareQkv(QkvExtras{L.bq, L.bk, L.bv, L.q_norm, L.k_norm}, H, KV, hd, eps, s.rope_cos.data(),
               s.rope_sin.data(), n, pos, l, s.q.data(), s.k.data(), s.v.data(), s.kv);
    // attn: [n][H*hd] (windowed on Mistral's sliding layers)
    CausalAttention(shape, s.kv, l, s.q.data(), n, pos, s.attn.data(), pool);
    // x += attn @ Wo^T (+ bo)
    MatMul(kr, pool, s.matmul, L.wo, s.attn.data(), n, s.xn.data(), D);
    ForEachRow(pool, n, [&](int64_t t) {
      if (L.bo != nullptr) kernels::AddInPlace(s.xn.data() + t * D, L.bo, D);
      kernels::AddInPlace(s.x.data() + t * D, s.xn.data() + t * D, D);
      kernels::RmsNorm(s.x.data() + t * D, L.ffn_norm, D, eps, s.xn.data() + t * D);
    });
    if (L.sparse) {
      // x += MoE(xn): the routed experts' SwiGLU MLPs, weighted (moe.h)
      MoeForward(c, L.moe, kr, pool, s.matmul, s.moe, s.xn.data(), n, s.moe_out.data());
      for (int64_t t = 0; t < n; ++t) kernels::AddInPlace(s.x.data() + t * D, s.moe_out.data() + t * D, D);
      continue;
    }
    // x += down(silu(gate(xn)) * up(xn))
    MatMul(kr, pool, s.matmul, L.gate, s.xn.data(), n, s.gate.data(), F);
    MatMul(kr, pool, s.matmul, L.up, s.xn.data(), n, s.up.data(), F);
    ForEachRow(pool, n, [&](int64_t t) {
      if (L.b_gate != nullptr) kernels::AddInPlace(s.gate.data() + t * F, L.b_gate, F);
      if (L.b_up != nullptr) kernels::AddInPlace(s.up.data() + t * F, L.b_up, F);
      kernels::SiluMul(s.gate.data() + t * F, s.up.data() + t * F, F);
    });
    MatMul(kr, pool, s.matmul, L.down, s.gate.data(), n, s.xn.data(), D);
    for (int64_t t = 0; t < n; ++t) {
      if (L.b_down != nullptr) kernels::AddInPlace(s.xn.data() + t * D, L.b_down, D);
      kernels::AddInPlace(s.x.data() + t * D, s.xn.data() + t * D, D);
    }
  }
  s.kv.MarkWritten(pos, n);
  if (logits == nullptr) return;
  // Only the rows asked for go through the final norm and the (large) output head.
  const int64_t first = all_rows ? 0 : n - 1;
  const int64_t rows = n - first;
  for (int64_t t = first; t < n; ++t) {
    kernels::RmsNorm(s.x.data() + t * D, weights_.final_norm, D, eps, s.xn.data() + (t - first) * D);
  }
  MatMul(kr, pool, s.matmul, weights_.lm_head, s.xn.data(), rows, logits, c.vocab_size);
}

}  // namespace kite
