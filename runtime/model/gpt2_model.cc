#include "runtime/model/gpt2_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ref/transformer_ops.h"
#include "runtime/model/attention.h"
#include "runtime/model/forward_util.h"

namespace kite {

Result<std::unique_ptr<Gpt2Model>> Gpt2Model::Create(const Artifact& artifact, const kernels::GemmKernels& kernels) {
  std::unique_ptr<Gpt2Model> m(new Gpt2Model());
  const ModelConfig& c = artifact.config();
  m->config_ = c;
  m->kernels_ = &kernels;
  const int64_t D = c.hidden_size, F = c.intermediate_size, V = c.vocab_size, P = c.max_position_embeddings;
  if (c.hidden_act != "gelu_pytorch_tanh") {
    return Unsupported(artifact.path() + ": GPT-2 with hidden_act '" + c.hidden_act + "' (only gelu_pytorch_tanh)");
  }
  if (D <= 0 || P <= 0 || c.num_heads == 0 || c.num_kv_heads != c.num_heads || c.head_dim * c.num_heads != D) {
    return CorruptArtifact(artifact.path() + ": config: GPT-2 needs num_heads == num_kv_heads, head_dim * num_heads "
                           "== hidden_size and max_position_embeddings > 0");
  }
  KITE_RETURN_IF_ERROR(CheckLayerCount(artifact));
  WeightBinder b(artifact);
  KITE_ASSIGN_OR_RETURN(m->wte_, b.MatrixNamed("wte.weight", V, D));
  KITE_ASSIGN_OR_RETURN(m->wpe_, b.MatrixNamed("wpe.weight", P, D));
  if (c.tie_word_embeddings) {
    m->lm_head_ = m->wte_;
  } else {
    KITE_ASSIGN_OR_RETURN(m->lm_head_, b.MatrixNamed("lm_head.weight", V, D));
  }
  KITE_ASSIGN_OR_RETURN(m->ln_f_w_, b.VectorNamed("ln_f.weight", D));
  KITE_ASSIGN_OR_RETURN(m->ln_f_b_, b.VectorNamed("ln_f.bias", D));
  // One token reads: every matrix once, one row of each embedding table, the output head.
  uint64_t bytes = m->lm_head_.bytes + m->wte_.bytes / V + m->wpe_.bytes / P + 2 * D * 4;
  m->layers_.resize(c.num_layers);
  for (uint32_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    Gpt2LayerWeights& L = m->layers_[l];
    KITE_ASSIGN_OR_RETURN(L.ln_1_w, b.VectorNamed(p + "ln_1.weight", D));
    KITE_ASSIGN_OR_RETURN(L.ln_1_b, b.VectorNamed(p + "ln_1.bias", D));
    KITE_ASSIGN_OR_RETURN(L.wq, b.MatrixNamed(p + "attn.q_proj.weight", D, D));
    KITE_ASSIGN_OR_RETURN(L.wk, b.MatrixNamed(p + "attn.k_proj.weight", D, D));
    KITE_ASSIGN_OR_RETURN(L.wv, b.MatrixNamed(p + "attn.v_proj.weight", D, D));
    KITE_ASSIGN_OR_RETURN(L.bq, b.VectorNamed(p + "attn.q_proj.bias", D));
    KITE_ASSIGN_OR_RETURN(L.bk, b.VectorNamed(p + "attn.k_proj.bias", D));
    KITE_ASSIGN_OR_RETURN(L.bv, b.VectorNamed(p + "attn.v_proj.bias", D));
    KITE_ASSIGN_OR_RETURN(L.wo, b.MatrixNamed(p + "attn.c_proj.weight", D, D));
    KITE_ASSIGN_OR_RETURN(L.bo, b.VectorNamed(p + "attn.c_proj.bias", D));
    KITE_ASSIGN_OR_RETURN(L.ln_2_w, b.VectorNamed(p + "ln_2.weight", D));
    KITE_ASSIGN_OR_RETURN(L.ln_2_b, b.VectorNamed(p + "ln_2.bias", D));
    KITE_ASSIGN_OR_RETURN(L.fc, b.MatrixNamed(p + "mlp.c_fc.weight", F, D));
    KITE_ASSIGN_OR_RETURN(L.b_fc, b.VectorNamed(p + "mlp.c_fc.bias", F));
    KITE_ASSIGN_OR_RETURN(L.proj, b.MatrixNamed(p + "mlp.c_proj.weight", D, F));
    KITE_ASSIGN_OR_RETURN(L.b_proj, b.VectorNamed(p + "mlp.c_proj.bias", D));
    bytes += L.wq.bytes + L.wk.bytes + L.wv.bytes + L.wo.bytes + L.fc.bytes + L.proj.bytes;
    bytes += (10 * D + F) * 4;  // LayerNorms and biases
  }
  m->weight_bytes_per_token_ = bytes;
  return m;
}

uint64_t Gpt2Model::kv_bytes_per_token() const {
  return 2ull * config_.num_layers * config_.hidden_size * sizeof(float);
}

Result<std::unique_ptr<ForwardState>> Gpt2Model::NewState(int64_t context_tokens, int64_t max_batch,
                                                          int n_threads, kernels::KvFormat kv_format) const {
  if (context_tokens <= 0 || max_batch <= 0) return InvalidArgument("context and batch sizes must be positive");
  if (context_tokens > config_.max_position_embeddings) {
    return InvalidArgument("context of " + std::to_string(context_tokens) + " tokens exceeds GPT-2's " +
                           std::to_string(config_.max_position_embeddings) + " learned positions");
  }
  std::unique_ptr<Gpt2State> state(new Gpt2State());
  Gpt2State& s = *state;
  const int64_t D = config_.hidden_size, F = config_.intermediate_size;
  KITE_RETURN_IF_ERROR(s.kv.Init(std::vector<KvLayerSpec>(config_.num_layers), D, D / config_.num_heads, context_tokens, max_batch,
                                 /*ring_for_windowed=*/true, kv_format));
  s.max_batch = max_batch;
  for (auto* buffer : {&s.x, &s.xn, &s.q, &s.k, &s.v, &s.attn}) buffer->assign(max_batch * D, 0.0f);
  s.ffn.assign(max_batch * F, 0.0f);
  s.pos_row.assign(D, 0.0f);
  s.matmul.Reserve(max_batch, std::max(D, F));
  return std::unique_ptr<ForwardState>(std::move(state));
}

std::vector<Matrix*> Gpt2Model::KernelLayoutMatrices() {
  // wte, wpe: DequantizeRow; lm_head: MatMul (wte itself when tied).
  std::vector<Matrix*> out = {&wte_, &wpe_, &lm_head_};
  for (Gpt2LayerWeights& L : layers_) {
    for (Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.fc, &L.proj}) out.push_back(m);
  }
  return out;
}

Status Gpt2Model::Forward(ForwardState& base, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                          float* logits, bool all_rows) const {
  Gpt2State& s = static_cast<Gpt2State&>(base);
  KITE_RETURN_IF_ERROR(CheckForwardInputs(config_, tokens, n, pos, s.kv.capacity_tokens()));
  return ForEachChunk(tokens, n, pos, s.max_batch, config_.vocab_size, logits, all_rows,
                      [&](const int32_t* t, int64_t b, int64_t p, float* out) {
                        ForwardBatch(s, pool, t, b, p, out, all_rows);
                        return Status::Ok();
                      });
}

void Gpt2Model::ForwardBatch(Gpt2State& s, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                             float* logits, bool all_rows) const {
  const ModelConfig& c = config_;
  const kernels::GemmKernels& kr = *kernels_;
  const int64_t D = c.hidden_size, F = c.intermediate_size, hd = c.head_dim;
  const float eps = c.norm_eps;
  // x: [n][D] = wte[token] + wpe[position]
  for (int64_t t = 0; t < n; ++t) {
    DequantizeRow(wte_, tokens[t], s.x.data() + t * D);
    DequantizeRow(wpe_, pos + t, s.pos_row.data());
    kernels::AddInPlace(s.x.data() + t * D, s.pos_row.data(), D);
  }
  AttentionShape shape;
  shape.n_heads = shape.n_kv_heads = c.num_heads;
  shape.head_dim = hd;
  shape.kernels = &AttentionKernelsFor(kr);
  const float scalar = c.query_pre_attn_scalar > 0 ? c.query_pre_attn_scalar : static_cast<float>(hd);
  for (uint32_t l = 0; l < c.num_layers; ++l) {
    const Gpt2LayerWeights& L = layers_[l];
    // xn = LayerNorm(x; ln_1)
    ForEachRow(pool, n, [&](int64_t t) {
      kernels::LayerNorm(s.x.data() + t * D, L.ln_1_w, L.ln_1_b, D, eps, s.xn.data() + t * D);
    });
    // q, k, v: [n][D] = xn W^T + b; heads are consecutive hd-slices
    MatMul(kr, pool, s.matmul, L.wq, s.xn.data(), n, s.q.data(), D);
    MatMul(kr, pool, s.matmul, L.wk, s.xn.data(), n, s.k.data(), D);
    MatMul(kr, pool, s.matmul, L.wv, s.xn.data(), n, s.v.data(), D);
    for (int64_t t = 0; t < n; ++t) {
      kernels::AddInPlace(s.q.data() + t * D, L.bq, D);
      kernels::AddInPlace(s.k.data() + t * D, L.bk, D);
      kernels::AddInPlace(s.v.data() + t * D, L.bv, D);
      s.kv.Write(l, pos + t, s.k.data() + t * D, s.v.data() + t * D);
    }
    // attn: [n][D]; scores x hd^-1/2 (x 1/(l+1) with scale_attn_by_inverse_layer_idx)
    shape.scale = 1.0f / std::sqrt(scalar);
    if (c.scale_attn_by_inverse_layer_idx) shape.scale /= static_cast<float>(l + 1);
    CausalAttention(shape, s.kv, l, s.q.data(), n, pos, s.attn.data(), pool);
    // x += attn Wo^T + bo
    MatMul(kr, pool, s.matmul, L.wo, s.attn.data(), n, s.xn.data(), D);
    for (int64_t t = 0; t < n; ++t) {
      kernels::AddInPlace(s.xn.data() + t * D, L.bo, D);
      kernels::AddInPlace(s.x.data() + t * D, s.xn.data() + t * D, D);
    }
    // x += proj(gelu_tanh(fc(LayerNorm(x; ln_2))))      ffn: [n][F]
    ForEachRow(pool, n, [&](int64_t t) {
      kernels::LayerNorm(s.x.data() + t * D, L.ln_2_w, L.ln_2_b, D, eps, s.xn.data() + t * D);
    });
    MatMul(kr, pool, s.matmul, L.fc, s.xn.data(), n, s.ffn.data(), F);
    for (int64_t t = 0; t < n; ++t) {
      kernels::AddInPlace(s.ffn.data() + t * F, L.b_fc, F);
      kernels::GeluTanh(s.ffn.data() + t * F, F);
    }
    MatMul(kr, pool, s.matmul, L.proj, s.ffn.data(), n, s.xn.data(), D);
    for (int64_t t = 0; t < n; ++t) {
      kernels::AddInPlace(s.xn.data() + t * D, L.b_proj, D);
      kernels::AddInPlace(s.x.data() + t * D, s.xn.data() + t * D, D);
    }
  }
  s.kv.MarkWritten(pos, n);
  if (logits == nullptr) return;
  // logits = LayerNorm(x; ln_f) wte^T, for the rows asked for
  const int64_t first = all_rows ? 0 : n - 1;
  for (int64_t t = first; t < n; ++t) {
    kernels::LayerNorm(s.x.data() + t * D, ln_f_w_, ln_f_b_, D, eps, s.xn.data() + (t - first) * D);
  }
  MatMul(kr, pool, s.matmul, lm_head_, s.xn.data(), n - first, logits, c.vocab_size);
}

}  // namespace kite
