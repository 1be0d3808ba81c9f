#include "runtime/model/deepseek_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ref/transformer_ops.h"
#include "runtime/model/forward_util.h"

namespace kite {
namespace {

// DeepSeek's q_a_layernorm and kv_a_layernorm use RMSNorm's default eps whatever rms_norm_eps says.
constexpr float kLowRankNormEps = 1e-6f;

double YarnMscale(double factor, double mscale) { return factor <= 1.0 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0; }

}  // namespace

Result<std::unique_ptr<DeepseekModel>> DeepseekModel::Create(const Artifact& artifact,
                                                              const kernels::GemmKernels& kernels) {
  std::unique_ptr<DeepseekModel> m(new DeepseekModel());
  const ModelConfig& c = artifact.config();
  m->config_ = c;
  m->kernels_ = &kernels;
  const std::string at = artifact.path() + ": config: ";
  const int64_t D = c.hidden_size, V = c.vocab_size, F = c.intermediate_size, H = c.num_heads;
  const int64_t dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim, dv = c.v_head_dim, r = c.kv_lora_rank;
  const int64_t qr = c.q_lora_rank;
  if (c.hidden_act != "silu") return Unsupported(artifact.path() + ": DeepSeek with hidden_act '" + c.hidden_act + "'");
  if (r <= 0 || dr <= 0 || dr % 2 != 0 || dn <= 0 || dv <= 0) {
    return CorruptArtifact(at + "MLA needs kv_lora_rank, qk_nope_head_dim, v_head_dim > 0 and an even "
                           "qk_rope_head_dim > 0");
  }
  if (!c.moe_layers.empty()) KITE_RETURN_IF_ERROR(CheckMoeConfig(c, artifact.path()));
  m->mla_.n_heads = H;
  m->mla_.nope_dim = dn;
  m->mla_.rope_dim = dr;
  m->mla_.v_dim = dv;
  m->mla_.latent = r;
  // Softmax scale (dn + dr)^-1/2, times mscale(factor, mscale_all_dim)^2 under yarn (DeepSeek's
  // own code for V2/V2-Lite and HF's DeepseekV3; see the reference README's "Known differences").
  double scale = 1.0 / std::sqrt(static_cast<double>(dn + dr));
  if (c.rope_scaling.type == "yarn" && c.rope_scaling.mscale_all_dim > 0) {
    const double mscale = YarnMscale(c.rope_scaling.factor, c.rope_scaling.mscale_all_dim);
    scale *= mscale * mscale;
  }
  m->mla_.scale = static_cast<float>(scale);

  KITE_RETURN_IF_ERROR(CheckLayerCount(artifact));
  WeightBinder b(artifact);
  KITE_ASSIGN_OR_RETURN(m->embed_, b.MatrixNamed("model.embed_tokens.weight", V, D));
  if (c.tie_word_embeddings) {
    m->lm_head_ = m->embed_;
  } else {
    KITE_ASSIGN_OR_RETURN(m->lm_head_, b.MatrixNamed("lm_head.weight", V, D));
  }
  KITE_ASSIGN_OR_RETURN(m->final_norm_, b.VectorNamed("model.norm.weight", D));
  uint64_t bytes = m->lm_head_.bytes + m->embed_.bytes / V + D * 4;
  m->layers_.resize(c.num_layers);
  for (uint32_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    DeepseekLayerWeights& L = m->layers_[l];
    KITE_ASSIGN_OR_RETURN(L.attn_norm, b.VectorNamed(p + "input_layernorm.weight", D));
    KITE_ASSIGN_OR_RETURN(L.ffn_norm, b.VectorNamed(p + "post_attention_layernorm.weight", D));
    if (qr == 0) {
      KITE_ASSIGN_OR_RETURN(L.q_proj, b.MatrixNamed(p + "self_attn.q_proj.weight", H * (dn + dr), D));
    } else {
      KITE_ASSIGN_OR_RETURN(L.q_a, b.MatrixNamed(p + "self_attn.q_a_proj.weight", qr, D));
      KITE_ASSIGN_OR_RETURN(L.q_a_norm, b.VectorNamed(p + "self_attn.q_a_layernorm.weight", qr));
      KITE_ASSIGN_OR_RETURN(L.q_b, b.MatrixNamed(p + "self_attn.q_b_proj.weight", H * (dn + dr), qr));
    }
    KITE_ASSIGN_OR_RETURN(L.kv_a, b.MatrixNamed(p + "self_attn.kv_a_proj_with_mqa.weight", r + dr, D));
    KITE_ASSIGN_OR_RETURN(L.kv_a_norm, b.VectorNamed(p + "self_attn.kv_a_layernorm.weight", r));
    KITE_ASSIGN_OR_RETURN(L.kv_b, b.MatrixNamed(p + "self_attn.kv_b_proj.weight", H * (dn + dv), r));
    KITE_ASSIGN_OR_RETURN(L.wo, b.MatrixNamed(p + "self_attn.o_proj.weight", D, H * dv));
    bytes += L.q_proj.bytes + L.q_a.bytes + L.q_b.bytes + L.kv_a.bytes + L.kv_b.bytes + L.wo.bytes;
    bytes += (2 * D + qr + r) * 4;
    L.sparse = c.layer_is_moe(l);
    if (L.sparse) {
      KITE_ASSIGN_OR_RETURN(L.moe, BindMoe(b, c, p + "mlp."));
      bytes += MoeBytesPerToken(c, L.moe);
    } else {
      KITE_ASSIGN_OR_RETURN(L.mlp, BindMlp(b, p + "mlp.", D, F));
      bytes += L.mlp.bytes();
    }
  }
  m->weight_bytes_per_token_ = bytes;
  KITE_ASSIGN_OR_RETURN(m->rope_, MakeRopeTable(c, dr, c.rope_theta));  // dr verified by kv_a's shape
  return m;
}

uint64_t DeepseekModel::kv_bytes_per_token() const {
  return static_cast<uint64_t>(config_.num_layers) * mla_.cache_row() * sizeof(float);
}

uint64_t DeepseekModel::expanded_kv_bytes_per_token() const {
  return static_cast<uint64_t>(config_.num_layers) * mla_.n_heads * (mla_.nope_dim + mla_.rope_dim + mla_.v_dim) *
         sizeof(float);
}

Result<std::unique_ptr<ForwardState>> DeepseekModel::NewState(int64_t context_tokens, int64_t max_batch,
                                                              int n_threads, kernels::KvFormat kv_format) const {
  if (context_tokens <= 0 || max_batch <= 0) return InvalidArgument("context and batch sizes must be positive");
  (void)kv_format;  // the latent cache (mla_attention.h) stays f32: it is already 1/10 of a GQA cache
  const ModelConfig& c = config_;
  if (kv_bytes_per_token() * static_cast<uint64_t>(context_tokens) > (1ull << 40)) {
    return InvalidArgument("context of " + std::to_string(context_tokens) + " tokens needs too much KV memory");
  }
  const int64_t D = c.hidden_size, F = c.intermediate_size, H = c.num_heads;
  const int64_t qk = mla_.nope_dim + mla_.rope_dim, row = mla_.cache_row();
  std::unique_ptr<DeepseekState> state(new DeepseekState());
  DeepseekState& s = *state;
  s.capacity = context_tokens;
  s.cache.assign(static_cast<size_t>(c.num_layers) * context_tokens * row, 0.0f);
  s.max_batch = max_batch;
  s.x.assign(max_batch * D, 0.0f);
  s.xn.assign(max_batch * D, 0.0f);
  s.q_low.assign(max_batch * std::max<int64_t>(1, c.q_lora_rank), 0.0f);
  s.q.assign(max_batch * H * qk, 0.0f);
  s.kv_a.assign(max_batch * row, 0.0f);
  s.attn.assign(max_batch * H * mla_.v_dim, 0.0f);
  s.gate.assign(max_batch * F, 0.0f);
  s.up.assign(max_batch * F, 0.0f);
  s.mlp_out.assign(max_batch * D, 0.0f);
  s.rope_cos.assign(max_batch * mla_.rope_dim / 2, 0.0f);
  s.rope_sin.assign(max_batch * mla_.rope_dim / 2, 0.0f);
  s.mla.Reserve(mla_, max_batch, context_tokens, n_threads);
  int64_t max_cols = std::max<int64_t>({D, F, H * mla_.v_dim, c.q_lora_rank, mla_.latent});
  if (!c.moe_layers.empty()) {
    s.moe.Reserve(c, max_batch);
    max_cols = std::max(max_cols, MoeScratch::MaxMatMulCols(c));
  }
  s.matmul.Reserve(max_batch, max_cols);
  return std::unique_ptr<ForwardState>(std::move(state));
}

std::vector<Matrix*> DeepseekModel::KernelLayoutMatrices() {
  std::vector<Matrix*> out = {&embed_, &lm_head_};  // DequantizeRow, MatMul
  for (DeepseekLayerWeights& L : layers_) {
    // q_proj or q_a + q_b (the absent ones are skipped as not present). kv_b is read by
    // MlaAttentionAbsorbed through DequantizeRow (W_uk rows) and MatMul on RowSlice views (W_uv):
    // whole rows only, and the rearrangement stays inside each row.
    for (Matrix* m : {&L.q_proj, &L.q_a, &L.q_b, &L.kv_a, &L.kv_b, &L.wo}) out.push_back(m);
    if (L.sparse) {
      for (Matrix* m : MoeMatrices(L.moe)) out.push_back(m);
    } else {
      for (Matrix* m : {&L.mlp.gate, &L.mlp.up, &L.mlp.down}) out.push_back(m);
    }
  }
  return out;
}

Status DeepseekModel::Forward(ForwardState& base, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                              float* logits, bool all_rows) const {
  DeepseekState& s = static_cast<DeepseekState&>(base);
  KITE_RETURN_IF_ERROR(CheckForwardInputs(config_, tokens, n, pos, s.capacity));
  return ForEachChunk(tokens, n, pos, s.max_batch, config_.vocab_size, logits, all_rows,
                      [&](const int32_t* t, int64_t b, int64_t p, float* out) {
                        ForwardBatch(s, pool, t, b, p, out, all_rows);
                        return Status::Ok();
                      });
}

void DeepseekModel::ForwardBatch(DeepseekState& s, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                                 float* logits, bool all_rows) const {
  const ModelConfig& c = config_;
  const kernels::GemmKernels& kr = *kernels_;
  const int64_t D = c.hidden_size, F = c.intermediate_size, H = c.num_heads, qr = c.q_lora_rank;
  const int64_t dn = mla_.nope_dim, dr = mla_.rope_dim, r = mla_.latent;
  const int64_t qk = dn + dr, row = mla_.cache_row(), half = dr / 2;
  const float eps = c.norm_eps;
  // x: [n][D] token embeddings; cos/sin: [n][dr/2]
  for (int64_t t = 0; t < n; ++t) DequantizeRow(embed_, tokens[t], s.x.data() + t * D);
  for (int64_t t = 0; t < n; ++t) rope_.CosSin(pos + t, s.rope_cos.data() + t * half, s.rope_sin.data() + t * half);

  for (uint32_t l = 0; l < c.num_layers; ++l) {
    const DeepseekLayerWeights& L = layers_[l];
    float* layer_cache = s.cache.data() + static_cast<int64_t>(l) * s.capacity * row;  // [capacity][r + dr]
    ForEachRow(pool, n, [&](int64_t t) {
      kernels::RmsNorm(s.x.data() + t * D, L.attn_norm, D, eps, s.xn.data() + t * D);
    });
    // q: [n][H][dn + dr] = q_proj(xn), or q_b(RMSNorm(q_a(xn)))
    if (qr == 0) {
      MatMul(kr, pool, s.matmul, L.q_proj, s.xn.data(), n, s.q.data(), H * qk);
    } else {
      MatMul(kr, pool, s.matmul, L.q_a, s.xn.data(), n, s.q_low.data(), qr);
      for (int64_t t = 0; t < n; ++t) {
        kernels::RmsNorm(s.q_low.data() + t * qr, L.q_a_norm, qr, kLowRankNormEps, s.q_low.data() + t * qr);
      }
      MatMul(kr, pool, s.matmul, L.q_b, s.q_low.data(), n, s.q.data(), H * qk);
    }
    // kv_a: [n][r + dr] = [latent c | k_pe]; the cache keeps RMSNorm(c) and RoPE(k_pe)
    MatMul(kr, pool, s.matmul, L.kv_a, s.xn.data(), n, s.kv_a.data(), row);
    for (int64_t t = 0; t < n; ++t) {
      const float* cos = s.rope_cos.data() + t * half;
      const float* sin = s.rope_sin.data() + t * half;
      float* cached = layer_cache + (pos + t) * row;
      kernels::RmsNorm(s.kv_a.data() + t * row, L.kv_a_norm, r, kLowRankNormEps, cached);
      std::memcpy(cached + r, s.kv_a.data() + t * row + r, dr * sizeof(float));
      kernels::RopeInterleaved(cached + r, dr, cos, sin);
      for (int64_t h = 0; h < H; ++h) kernels::RopeInterleaved(s.q.data() + (t * H + h) * qk + dn, dr, cos, sin);
    }
    // attn: [n][H * dv] through the latent cache (absorbed W_uk / W_uv)
    MlaAttentionAbsorbed(mla_, L.kv_b, kr, pool, s.matmul, s.mla, s.q.data(), layer_cache, n, pos, s.attn.data());
    // x += attn Wo^T
    MatMul(kr, pool, s.matmul, L.wo, s.attn.data(), n, s.xn.data(), D);
    for (int64_t t = 0; t < n; ++t) kernels::AddInPlace(s.x.data() + t * D, s.xn.data() + t * D, D);
    // x += MLP(RMSNorm(x)): routed + shared experts on sparse layers, SwiGLU on dense ones
    ForEachRow(pool, n, [&](int64_t t) {
      kernels::RmsNorm(s.x.data() + t * D, L.ffn_norm, D, eps, s.xn.data() + t * D);
    });
    if (L.sparse) {
      MoeForward(c, L.moe, kr, pool, s.matmul, s.moe, s.xn.data(), n, s.mlp_out.data());
    } else {
      MatMul(kr, pool, s.matmul, L.mlp.gate, s.xn.data(), n, s.gate.data(), F);
      MatMul(kr, pool, s.matmul, L.mlp.up, s.xn.data(), n, s.up.data(), F);
      ForEachRow(pool, n, [&](int64_t t) { kernels::SiluMul(s.gate.data() + t * F, s.up.data() + t * F, F); });
      MatMul(kr, pool, s.matmul, L.mlp.down, s.gate.data(), n, s.mlp_out.data(), D);
    }
    for (int64_t t = 0; t < n; ++t) kernels::AddInPlace(s.x.data() + t * D, s.mlp_out.data() + t * D, D);
  }
  if (logits == nullptr) return;
  const int64_t first = all_rows ? 0 : n - 1;
  for (int64_t t = first; t < n; ++t) {
    kernels::RmsNorm(s.x.data() + t * D, final_norm_, D, eps, s.xn.data() + (t - first) * D);
  }
  MatMul(kr, pool, s.matmul, lm_head_, s.xn.data(), n - first, logits, c.vocab_size);
}

}  // namespace kite
