#include "runtime/model/weights.h"

#include <sstream>

#include "kernels/quant_formats.h"

namespace kite {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::ostringstream ss;
  ss << "[";
  for (size_t i = 0; i < shape.size(); ++i) ss << (i ? ", " : "") << shape[i];
  ss << "]";
  return ss.str();
}

}  // namespace

Result<Matrix> WeightBinder::MatrixNamed(const std::string& name, int64_t rows, int64_t cols) const {
  const TensorView* t = artifact_.Find(name);
  if (t == nullptr) return CorruptArtifact(artifact_.path() + ": missing tensor '" + name + "'");
  std::vector<int64_t> want = {rows, cols};
  if (t->shape != want) {
    return CorruptArtifact(artifact_.path() + ": tensor '" + name + "' has shape " + ShapeString(t->shape) +
                           " but the config implies " + ShapeString(want));
  }
  if (t->dtype == DType::kI32) return CorruptArtifact(artifact_.path() + ": tensor '" + name + "' is i32, not a weight");
  Matrix m;
  m.dtype = t->dtype;
  m.data = t->data;
  m.scales = t->scales;
  m.rows = rows;
  m.cols = cols;
  m.group_size = t->group_size;
  m.bytes = t->data_bytes + t->scales_bytes;
  return m;
}

Result<const float*> WeightBinder::VectorNamed(const std::string& name, int64_t length, bool required) const {
  const TensorView* t = artifact_.Find(name);
  if (t == nullptr) {
    if (!required) return static_cast<const float*>(nullptr);
    return CorruptArtifact(artifact_.path() + ": missing tensor '" + name + "'");
  }
  std::vector<int64_t> want = {length};
  if (t->shape != want) {
    return CorruptArtifact(artifact_.path() + ": tensor '" + name + "' has shape " + ShapeString(t->shape) +
                           " but the config implies " + ShapeString(want));
  }
  if (t->dtype != DType::kF32) {
    return CorruptArtifact(artifact_.path() + ": vector '" + name + "' is " + DTypeName(t->dtype) + ", expected f32");
  }
  return reinterpret_cast<const float*>(t->data);
}

Status CheckLayerCount(const Artifact& artifact) {
  if (artifact.config().num_layers > artifact.tensors().size()) {
    return CorruptArtifact(artifact.path() + ": config: num_layers " + std::to_string(artifact.config().num_layers) +
                           " but the file holds only " + std::to_string(artifact.tensors().size()) + " tensors");
  }
  return Status::Ok();
}

Matrix RowSlice(const Matrix& m, int64_t first_row, int64_t rows) {
  Matrix out = m;
  out.rows = rows;
  out.xnnpack = nullptr;  // packed for the whole matrix, not for these rows
  out.bytes = m.rows > 0 ? m.bytes / static_cast<uint64_t>(m.rows) * static_cast<uint64_t>(rows) : 0;
  const uint8_t* data = static_cast<const uint8_t*>(m.data);
  const uint8_t* scales = static_cast<const uint8_t*>(m.scales);
  switch (m.dtype) {
    case DType::kF32: out.data = data + first_row * m.cols * 4; break;
    case DType::kF16:
    case DType::kBF16: out.data = data + first_row * m.cols * 2; break;
    case DType::kQ8:
      out.data = data + first_row * Q8RowBytes(m.cols);
      out.scales = scales + first_row * 4;  // f32 per row
      break;
    case DType::kQ4:
      out.data = data + first_row * Q4RowBytes(m.cols, m.group_size);
      out.scales = scales + first_row * Q4GroupsPerRow(m.cols, m.group_size) * 2;  // f16 per group
      break;
    case DType::kI32: break;
  }
  return out;
}

Result<MlpWeights> BindMlp(const WeightBinder& b, const std::string& prefix, int64_t hidden, int64_t inter) {
  MlpWeights m;
  KITE_ASSIGN_OR_RETURN(m.gate, b.MatrixNamed(prefix + "gate_proj.weight", inter, hidden));
  KITE_ASSIGN_OR_RETURN(m.up, b.MatrixNamed(prefix + "up_proj.weight", inter, hidden));
  KITE_ASSIGN_OR_RETURN(m.down, b.MatrixNamed(prefix + "down_proj.weight", hidden, inter));
  return m;
}

Result<MoeWeights> BindMoe(const WeightBinder& b, const ModelConfig& c, const std::string& prefix) {
  const std::string& path = b.artifact().path();
  const int64_t D = c.hidden_size, E = c.num_experts, F = c.moe_intermediate_size;
  if (E <= 0 || c.num_experts_per_tok == 0 || c.num_experts_per_tok > c.num_experts || F <= 0) {
    return CorruptArtifact(path + ": config: a sparse layer needs num_experts > 0, 0 < num_experts_per_tok <= "
                           "num_experts and moe_intermediate_size > 0 (got " + std::to_string(c.num_experts) + ", " +
                           std::to_string(c.num_experts_per_tok) + ", " + std::to_string(c.moe_intermediate_size) + ")");
  }
  MoeWeights moe;
  KITE_ASSIGN_OR_RETURN(moe.router, b.MatrixNamed(prefix + "gate.weight", E, D));
  if (c.moe_topk_method == "noaux_tc") {
    KITE_ASSIGN_OR_RETURN(moe.score_bias, b.VectorNamed(prefix + "gate.e_score_correction_bias", E));
  }
  moe.experts.resize(E);
  for (int64_t e = 0; e < E; ++e) {
    KITE_ASSIGN_OR_RETURN(moe.experts[e], BindMlp(b, prefix + "experts." + std::to_string(e) + ".", D, F));
    moe.experts_bytes += moe.experts[e].bytes();
  }
  if (c.shared_expert_width() > 0) {
    const std::string shared = prefix + (c.shared_expert_gate ? "shared_expert." : "shared_experts.");
    KITE_ASSIGN_OR_RETURN(moe.shared, BindMlp(b, shared, D, static_cast<int64_t>(c.shared_expert_width())));
  }
  if (c.shared_expert_gate) {
    if (c.shared_expert_width() == 0) {
      return CorruptArtifact(path + ": config: shared_expert_gate is set but the shared expert has width 0");
    }
    KITE_ASSIGN_OR_RETURN(moe.shared_gate, b.MatrixNamed(prefix + "shared_expert_gate.weight", 1, D));
  }
  return moe;
}

uint64_t MoeBytesPerToken(const ModelConfig& c, const MoeWeights& moe) {
  const uint64_t routed = moe.experts.empty() ? 0 : moe.experts_bytes / moe.experts.size() * c.num_experts_per_tok;
  return moe.router.bytes + routed + moe.shared.bytes() + moe.shared_gate.bytes + (moe.score_bias != nullptr ? moe.experts.size() * 4 : 0);
}

bool IsLlamaFamily(const std::string& a) {
  return a == "LlamaForCausalLM" || a == "Qwen2ForCausalLM" || a == "Qwen3ForCausalLM" ||
         a == "Qwen3MoeForCausalLM" || a == "Qwen2MoeForCausalLM" || a == "MistralForCausalLM" ||
         a == "MixtralForCausalLM";
}

Result<ModelWeights> BindLlamaFamilyWeights(const Artifact& artifact) {
  const ModelConfig& c = artifact.config();
  if (!IsLlamaFamily(c.architecture)) {
    return Unsupported(artifact.path() + ": architecture '" + c.architecture +
                       "' is not a Llama-family model (LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, "
                       "Qwen2ForCausalLM, Qwen3ForCausalLM, Qwen3MoeForCausalLM, Qwen2MoeForCausalLM)");
  }
  if (c.hidden_act != "silu") return Unsupported(artifact.path() + ": hidden_act '" + c.hidden_act + "' (only silu)");
  const int64_t D = c.hidden_size, V = c.vocab_size, F = c.intermediate_size, H = c.num_heads, KV = c.num_kv_heads,
                hd = c.head_dim;
  if (D <= 0 || V <= 0 || F <= 0 || H <= 0 || KV <= 0 || hd <= 0 || H % KV != 0 || c.num_layers == 0 || hd % 2 != 0) {
    return CorruptArtifact(artifact.path() + ": inconsistent model dimensions in the config");
  }
  for (uint32_t i = 0; i < c.num_layers; ++i) {
    if (c.layer_is_sliding(i) && c.sliding_window == 0) {
      return CorruptArtifact(artifact.path() + ": config: layer " + std::to_string(i) +
                             " uses a sliding window but sliding_window is 0");
    }
  }
  KITE_RETURN_IF_ERROR(CheckLayerCount(artifact));
  WeightBinder b(artifact);
  ModelWeights w;
  KITE_ASSIGN_OR_RETURN(w.embed, b.MatrixNamed("model.embed_tokens.weight", V, D));
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    KITE_ASSIGN_OR_RETURN(w.lm_head, b.MatrixNamed("lm_head.weight", V, D));
  }
  KITE_ASSIGN_OR_RETURN(w.final_norm, b.VectorNamed("model.norm.weight", D));
  w.layers.resize(c.num_layers);
  uint64_t bytes = w.lm_head.bytes + w.embed.bytes / static_cast<uint64_t>(V) + D * 4;
  for (uint32_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights& L = w.layers[i];
    KITE_ASSIGN_OR_RETURN(L.attn_norm, b.VectorNamed(p + "input_layernorm.weight", D));
    KITE_ASSIGN_OR_RETURN(L.ffn_norm, b.VectorNamed(p + "post_attention_layernorm.weight", D));
    KITE_ASSIGN_OR_RETURN(L.wq, b.MatrixNamed(p + "self_attn.q_proj.weight", H * hd, D));
    KITE_ASSIGN_OR_RETURN(L.wk, b.MatrixNamed(p + "self_attn.k_proj.weight", KV * hd, D));
    KITE_ASSIGN_OR_RETURN(L.wv, b.MatrixNamed(p + "self_attn.v_proj.weight", KV * hd, D));
    KITE_ASSIGN_OR_RETURN(L.wo, b.MatrixNamed(p + "self_attn.o_proj.weight", D, H * hd));
    const bool qkv_bias = c.attention_bias;
    KITE_ASSIGN_OR_RETURN(L.bq, b.VectorNamed(p + "self_attn.q_proj.bias", H * hd, qkv_bias));
    KITE_ASSIGN_OR_RETURN(L.bk, b.VectorNamed(p + "self_attn.k_proj.bias", KV * hd, qkv_bias));
    KITE_ASSIGN_OR_RETURN(L.bv, b.VectorNamed(p + "self_attn.v_proj.bias", KV * hd, qkv_bias));
    KITE_ASSIGN_OR_RETURN(L.bo, b.VectorNamed(p + "self_attn.o_proj.bias", D, c.attention_out_bias));
    if (c.qk_norm) {
      KITE_ASSIGN_OR_RETURN(L.q_norm, b.VectorNamed(p + "self_attn.q_norm.weight", hd));
      KITE_ASSIGN_OR_RETURN(L.k_norm, b.VectorNamed(p + "self_attn.k_norm.weight", hd));
    }
    bytes += L.wq.bytes + L.wk.bytes + L.wv.bytes + L.wo.bytes + 2 * D * 4;
    // Biases and QK-norm weights are read every token too (f32).
    bytes += 4 * ((L.bq ? H * hd : 0) + (L.bk ? KV * hd : 0) + (L.bv ? KV * hd : 0) + (L.bo ? D : 0) +
                  (L.q_norm ? hd : 0) + (L.k_norm ? hd : 0));
    L.sparse = c.layer_is_moe(i);
    if (L.sparse) {
      KITE_ASSIGN_OR_RETURN(L.moe, BindMoe(b, c, p + "mlp."));
      bytes += MoeBytesPerToken(c, L.moe);
      continue;
    }
    KITE_ASSIGN_OR_RETURN(L.gate, b.MatrixNamed(p + "mlp.gate_proj.weight", F, D));
    KITE_ASSIGN_OR_RETURN(L.up, b.MatrixNamed(p + "mlp.up_proj.weight", F, D));
    KITE_ASSIGN_OR_RETURN(L.down, b.MatrixNamed(p + "mlp.down_proj.weight", D, F));
    KITE_ASSIGN_OR_RETURN(L.b_gate, b.VectorNamed(p + "mlp.gate_proj.bias", F, c.mlp_bias));
    KITE_ASSIGN_OR_RETURN(L.b_up, b.VectorNamed(p + "mlp.up_proj.bias", F, c.mlp_bias));
    KITE_ASSIGN_OR_RETURN(L.b_down, b.VectorNamed(p + "mlp.down_proj.bias", D, c.mlp_bias));
    bytes += L.gate.bytes + L.up.bytes + L.down.bytes + 4 * ((L.b_gate ? 2 * F : 0) + (L.b_down ? D : 0));
  }
  w.weight_bytes_per_token = bytes;
  return w;
}

}  // namespace kite
