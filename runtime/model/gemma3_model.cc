#include "runtime/model/gemma3_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ref/transformer_ops.h"
#include "runtime/model/attention.h"
#include "runtime/model/forward_util.h"

namespace kite {

Result<std::unique_ptr<Gemma3Model>> Gemma3Model::Create(const Artifact& artifact,
                                                         const kernels::GemmKernels& kernels) {
  std::unique_ptr<Gemma3Model> m(new Gemma3Model());
  const ModelConfig& c = artifact.config();
  m->config_ = c;
  m->kernels_ = &kernels;
  const std::string at = artifact.path() + ": config: ";
  const int64_t D = c.hidden_size, V = c.vocab_size, F = c.intermediate_size, H = c.num_heads, KV = c.num_kv_heads,
                hd = c.head_dim;
  if (c.hidden_act != "gelu_pytorch_tanh") {
    return Unsupported(artifact.path() + ": Gemma 3 with hidden_act '" + c.hidden_act + "' (only gelu_pytorch_tanh)");
  }
  if (H % KV != 0 || hd % 2 != 0) return CorruptArtifact(at + "num_heads must be a multiple of num_kv_heads, head_dim even");
  if (!(c.query_pre_attn_scalar > 0)) return CorruptArtifact(at + "query_pre_attn_scalar must be positive");
  for (uint32_t l = 0; l < c.num_layers; ++l) {
    if (c.layer_is_sliding(l) && c.sliding_window == 0) {
      return CorruptArtifact(at + "layer " + std::to_string(l) + " slides but sliding_window is 0");
    }
  }
  m->embed_scale_ = std::sqrt(static_cast<float>(D));

  KITE_RETURN_IF_ERROR(CheckLayerCount(artifact));
  WeightBinder b(artifact);
  KITE_ASSIGN_OR_RETURN(m->embed_, b.MatrixNamed("model.embed_tokens.weight", V, D));
  if (c.tie_word_embeddings) {
    m->lm_head_ = m->embed_;
  } else {
    KITE_ASSIGN_OR_RETURN(m->lm_head_, b.MatrixNamed("lm_head.weight", V, D));
  }
  // Norm weights are bound as stored (w) and turned into 1 + w once every shape has checked out,
  // so that no buffer is sized from unverified config numbers.
  std::vector<std::pair<const float**, int64_t>> norms;
  KITE_ASSIGN_OR_RETURN(m->final_norm_, b.VectorNamed("model.norm.weight", D));
  norms.push_back({&m->final_norm_, D});
  uint64_t bytes = m->lm_head_.bytes + m->embed_.bytes / V + D * 4;
  m->layers_.resize(c.num_layers);
  for (uint32_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    Gemma3LayerWeights& L = m->layers_[l];
    L.sliding = c.layer_is_sliding(l);
    KITE_ASSIGN_OR_RETURN(L.input_norm, b.VectorNamed(p + "input_layernorm.weight", D));
    norms.push_back({&L.input_norm, D});
    KITE_ASSIGN_OR_RETURN(L.post_attention_norm, b.VectorNamed(p + "post_attention_layernorm.weight", D));
    norms.push_back({&L.post_attention_norm, D});
    KITE_ASSIGN_OR_RETURN(L.pre_ffn_norm, b.VectorNamed(p + "pre_feedforward_layernorm.weight", D));
    norms.push_back({&L.pre_ffn_norm, D});
    KITE_ASSIGN_OR_RETURN(L.post_ffn_norm, b.VectorNamed(p + "post_feedforward_layernorm.weight", D));
    norms.push_back({&L.post_ffn_norm, D});
    KITE_ASSIGN_OR_RETURN(L.q_norm, b.VectorNamed(p + "self_attn.q_norm.weight", hd));
    norms.push_back({&L.q_norm, hd});
    KITE_ASSIGN_OR_RETURN(L.k_norm, b.VectorNamed(p + "self_attn.k_norm.weight", hd));
    norms.push_back({&L.k_norm, hd});
    KITE_ASSIGN_OR_RETURN(L.wq, b.MatrixNamed(p + "self_attn.q_proj.weight", H * hd, D));
    KITE_ASSIGN_OR_RETURN(L.wk, b.MatrixNamed(p + "self_attn.k_proj.weight", KV * hd, D));
    KITE_ASSIGN_OR_RETURN(L.wv, b.MatrixNamed(p + "self_attn.v_proj.weight", KV * hd, D));
    KITE_ASSIGN_OR_RETURN(L.wo, b.MatrixNamed(p + "self_attn.o_proj.weight", D, H * hd));
    KITE_ASSIGN_OR_RETURN(L.bq, b.VectorNamed(p + "self_attn.q_proj.bias", H * hd, c.attention_bias));
    KITE_ASSIGN_OR_RETURN(L.bk, b.VectorNamed(p + "self_attn.k_proj.bias", KV * hd, c.attention_bias));
    KITE_ASSIGN_OR_RETURN(L.bv, b.VectorNamed(p + "self_attn.v_proj.bias", KV * hd, c.attention_bias));
    KITE_ASSIGN_OR_RETURN(L.bo, b.VectorNamed(p + "self_attn.o_proj.bias", D, c.attention_out_bias));
    KITE_ASSIGN_OR_RETURN(L.mlp, BindMlp(b, p + "mlp.", D, F));
    bytes += L.wq.bytes + L.wk.bytes + L.wv.bytes + L.wo.bytes + L.mlp.bytes() + (4 * D + 2 * hd) * 4;
  }
  m->weight_bytes_per_token_ = bytes;
  int64_t total = 0;
  for (const auto& norm : norms) total += norm.second;
  m->norm_storage_.resize(static_cast<size_t>(total));  // sized once: the pointers below stay valid
  float* next = m->norm_storage_.data();
  for (const auto& norm : norms) {
    for (int64_t i = 0; i < norm.second; ++i) next[i] = 1.0f + (*norm.first)[i];
    *norm.first = next;
    next += norm.second;
  }
  // Local layers: their own base, no scaling; global layers: rope_theta with rope_scaling.
  ModelConfig local = c;
  local.rope_scaling = RopeScalingConfig();
  const float local_base = c.rope_local_base_freq > 0 ? c.rope_local_base_freq : c.rope_theta;
  KITE_ASSIGN_OR_RETURN(m->rope_local_, MakeRopeTable(local, hd, local_base));
  KITE_ASSIGN_OR_RETURN(m->rope_global_, MakeRopeTable(c, hd, c.rope_theta));
  return m;
}

uint64_t Gemma3Model::kv_bytes_per_token() const { return FullAttentionKvBytesPerToken(config_); }

uint64_t Gemma3Model::kv_window_bytes(int64_t max_batch) const { return SlidingKvBytes(config_, max_batch); }

Result<std::unique_ptr<ForwardState>> Gemma3Model::NewState(int64_t context_tokens, int64_t max_batch,
                                                            int n_threads, kernels::KvFormat kv_format) const {
  return NewStateWithCache(context_tokens, max_batch, n_threads, /*ring_for_windowed=*/true, kv_format);
}

Result<std::unique_ptr<ForwardState>> Gemma3Model::NewStateWithCache(int64_t context_tokens, int64_t max_batch,
                                                                     int n_threads, bool ring_for_windowed,
      kernels::KvFormat kv_format) const {
  if (context_tokens <= 0 || max_batch <= 0) return InvalidArgument("context and batch sizes must be positive");
  const ModelConfig& c = config_;
  const int64_t D = c.hidden_size, hd = c.head_dim, H = c.num_heads, KV = c.num_kv_heads, F = c.intermediate_size;
  std::unique_ptr<Gemma3State> state(new Gemma3State());
  Gemma3State& s = *state;
  std::vector<KvLayerSpec> layers(c.num_layers);
  for (uint32_t l = 0; l < c.num_layers; ++l) layers[l].window = layers_[l].sliding ? c.sliding_window : 0;
  KITE_RETURN_IF_ERROR(s.kv.Init(layers, KV * hd, hd, context_tokens, max_batch, ring_for_windowed, kv_format));
  s.max_batch = max_batch;
  s.x.assign(max_batch * D, 0.0f);
  s.xn.assign(max_batch * D, 0.0f);
  s.q.assign(max_batch * H * hd, 0.0f);
  s.k.assign(max_batch * KV * hd, 0.0f);
  s.v.assign(max_batch * KV * hd, 0.0f);
  s.attn.assign(max_batch * H * hd, 0.0f);
  s.gate.assign(max_batch * F, 0.0f);
  s.up.assign(max_batch * F, 0.0f);
  for (auto* table : {&s.cos_local, &s.sin_local, &s.cos_global, &s.sin_global}) table->assign(max_batch * hd / 2, 0.0f);
  s.matmul.Reserve(max_batch, std::max<int64_t>({D, F, H * hd}));
  return std::unique_ptr<ForwardState>(std::move(state));
}

std::vector<Matrix*> Gemma3Model::KernelLayoutMatrices() {
  std::vector<Matrix*> out = {&embed_, &lm_head_};  // DequantizeRow, MatMul (one tensor when tied)
  for (Gemma3LayerWeights& L : layers_) {
    for (Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.mlp.gate, &L.mlp.up, &L.mlp.down}) out.push_back(m);
  }
  return out;
}

Status Gemma3Model::Forward(ForwardState& base, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                            float* logits, bool all_rows) const {
  Gemma3State& s = static_cast<Gemma3State&>(base);
  KITE_RETURN_IF_ERROR(CheckForwardInputs(config_, tokens, n, pos, s.kv.capacity_tokens()));
  KITE_RETURN_IF_ERROR(s.kv.CheckCanWrite(pos, n));
  return ForEachChunk(tokens, n, pos, s.max_batch, config_.vocab_size, logits, all_rows,
                      [&](const int32_t* t, int64_t b, int64_t p, float* out) {
                        ForwardBatch(s, pool, t, b, p, out, all_rows);
                        return Status::Ok();
                      });
}

void Gemma3Model::ForwardBatch(Gemma3State& s, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                               float* logits, bool all_rows) const {
  const ModelConfig& c = config_;
  const kernels::GemmKernels& kr = *kernels_;
  const int64_t D = c.hidden_size, hd = c.head_dim, H = c.num_heads, KV = c.num_kv_heads, F = c.intermediate_size;
  const int64_t half = hd / 2;
  const float eps = c.norm_eps;
  // x: [n][D] = embedding * sqrt(D)
  for (int64_t t = 0; t < n; ++t) {
    float* x = s.x.data() + t * D;
    DequantizeRow(embed_, tokens[t], x);
    for (int64_t i = 0; i < D; ++i) x[i] *= embed_scale_;
  }
  // cos/sin: [n][hd/2] per RoPE base
  for (int64_t t = 0; t < n; ++t) {
    rope_local_.CosSin(pos + t, s.cos_local.data() + t * half, s.sin_local.data() + t * half);
    rope_global_.CosSin(pos + t, s.cos_global.data() + t * half, s.sin_global.data() + t * half);
  }
  AttentionShape shape;
  shape.n_heads = H;
  shape.n_kv_heads = KV;
  shape.head_dim = hd;
  shape.kernels = &AttentionKernelsFor(kr);
  shape.scale = 1.0f / std::sqrt(c.query_pre_attn_scalar);
  shape.softcap = c.attn_logit_softcapping;

  for (uint32_t l = 0; l < c.num_layers; ++l) {
    const Gemma3LayerWeights& L = layers_[l];
    const float* cos_table = L.sliding ? s.cos_local.data() : s.cos_global.data();
    const float* sin_table = L.sliding ? s.sin_local.data() : s.sin_global.data();
    // xn = RMSNorm(x) (1 + w)
    ForEachRow(pool, n, [&](int64_t t) {
      kernels::RmsNorm(s.x.data() + t * D, L.input_norm, D, eps, s.xn.data() + t * D);
    });
    // q: [n][H*hd], k, v: [n][KV*hd]
    MatMul(kr, pool, s.matmul, L.wq, s.xn.data(), n, s.q.data(), H * hd);
    MatMul(kr, pool, s.matmul, L.wk, s.xn.data(), n, s.k.data(), KV * hd);
    MatMul(kr, pool, s.matmul, L.wv, s.xn.data(), n, s.v.data(), KV * hd);
    // + biases, per-head QK-norm (1 + w), RoPE with this layer's base; K/V into the cache
    PrepareQkv(QkvExtras{L.bq, L.bk, L.bv, L.q_norm, L.k_norm}, H, KV, hd, eps, cos_table, sin_table, n, pos, l,
               s.q.data(), s.k.data(), s.v.data(), s.kv);
    // attn: [n][H*hd]; local layers see the last sliding_window keys (ring buffer)
    CausalAttention(shape, s.kv, l, s.q.data(), n, pos, s.attn.data(), pool);
    // x += RMSNorm(attn Wo^T (+ bo)) (1 + w)
    MatMul(kr, pool, s.matmul, L.wo, s.attn.data(), n, s.xn.data(), D);
    for (int64_t t = 0; t < n; ++t) {
      float* o = s.xn.data() + t * D;
      if (L.bo != nullptr) kernels::AddInPlace(o, L.bo, D);
      kernels::RmsNorm(o, L.post_attention_norm, D, eps, o);
      kernels::AddInPlace(s.x.data() + t * D, o, D);
    }
    // x += RMSNorm(down(gelu_tanh(gate xn) * up xn)) (1 + w), xn = RMSNorm(x) (1 + w)
    ForEachRow(pool, n, [&](int64_t t) {
      kernels::RmsNorm(s.x.data() + t * D, L.pre_ffn_norm, D, eps, s.xn.data() + t * D);
    });
    MatMul(kr, pool, s.matmul, L.mlp.gate, s.xn.data(), n, s.gate.data(), F);
    MatMul(kr, pool, s.matmul, L.mlp.up, s.xn.data(), n, s.up.data(), F);
    ForEachRow(pool, n, [&](int64_t t) { kernels::GeluTanhMul(s.gate.data() + t * F, s.up.data() + t * F, F); });
    MatMul(kr, pool, s.matmul, L.mlp.down, s.gate.data(), n, s.xn.data(), D);
    for (int64_t t = 0; t < n; ++t) {
      float* m = s.xn.data() + t * D;
      kernels::RmsNorm(m, L.post_ffn_norm, D, eps, m);
      kernels::AddInPlace(s.x.data() + t * D, m, D);
    }
  }
  s.kv.MarkWritten(pos, n);
  if (logits == nullptr) return;
  // logits = RMSNorm(x) (1 + w) E^T, soft-capped when final_logit_softcapping is set
  const int64_t first = all_rows ? 0 : n - 1;
  const int64_t rows = n - first;
  for (int64_t t = first; t < n; ++t) {
    kernels::RmsNorm(s.x.data() + t * D, final_norm_, D, eps, s.xn.data() + (t - first) * D);
  }
  MatMul(kr, pool, s.matmul, lm_head_, s.xn.data(), rows, logits, c.vocab_size);
  if (c.final_logit_softcapping > 0) kernels::SoftCap(logits, rows * c.vocab_size, c.final_logit_softcapping);
}

}  // namespace kite
