#include "runtime/model/weights.h"

#include <sstream>

namespace kite {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::ostringstream ss;
  ss << "[";
  for (size_t i = 0; i < shape.size(); ++i) ss << (i ? ", " : "") << shape[i];
  ss << "]";
  return ss.str();
}

class Binder {
 public:
  explicit Binder(const Artifact& a) : artifact_(a) {}

  Result<Matrix> MatrixNamed(const std::string& name, int64_t rows, int64_t cols) {
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

  Result<const float*> VectorNamed(const std::string& name, int64_t length, bool required = true) {
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

 private:
  const Artifact& artifact_;
};

}  // namespace

bool IsLlamaFamily(const std::string& a) {
  return a == "LlamaForCausalLM" || a == "Qwen2ForCausalLM" || a == "Qwen3ForCausalLM";
}

Result<ModelWeights> BindLlamaFamilyWeights(const Artifact& artifact) {
  const ModelConfig& c = artifact.config();
  if (!IsLlamaFamily(c.architecture)) {
    return Unsupported(artifact.path() + ": architecture '" + c.architecture +
                       "' is not supported (supported: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)");
  }
  if (c.hidden_act != "silu") return Unsupported(artifact.path() + ": hidden_act '" + c.hidden_act + "' (only silu)");
  const int64_t D = c.hidden_size, V = c.vocab_size, F = c.intermediate_size, H = c.num_heads, KV = c.num_kv_heads,
                hd = c.head_dim;
  if (D <= 0 || V <= 0 || F <= 0 || H <= 0 || KV <= 0 || hd <= 0 || H % KV != 0 || c.num_layers == 0 || hd % 2 != 0) {
    return CorruptArtifact(artifact.path() + ": inconsistent model dimensions in the config");
  }
  Binder b(artifact);
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
    KITE_ASSIGN_OR_RETURN(L.gate, b.MatrixNamed(p + "mlp.gate_proj.weight", F, D));
    KITE_ASSIGN_OR_RETURN(L.up, b.MatrixNamed(p + "mlp.up_proj.weight", F, D));
    KITE_ASSIGN_OR_RETURN(L.down, b.MatrixNamed(p + "mlp.down_proj.weight", D, F));
    const bool qkv_bias = c.attention_bias;
    KITE_ASSIGN_OR_RETURN(L.bq, b.VectorNamed(p + "self_attn.q_proj.bias", H * hd, qkv_bias));
    KITE_ASSIGN_OR_RETURN(L.bk, b.VectorNamed(p + "self_attn.k_proj.bias", KV * hd, qkv_bias));
    KITE_ASSIGN_OR_RETURN(L.bv, b.VectorNamed(p + "self_attn.v_proj.bias", KV * hd, qkv_bias));
    KITE_ASSIGN_OR_RETURN(L.bo, b.VectorNamed(p + "self_attn.o_proj.bias", D, c.attention_out_bias));
    KITE_ASSIGN_OR_RETURN(L.b_gate, b.VectorNamed(p + "mlp.gate_proj.bias", F, c.mlp_bias));
    KITE_ASSIGN_OR_RETURN(L.b_up, b.VectorNamed(p + "mlp.up_proj.bias", F, c.mlp_bias));
    KITE_ASSIGN_OR_RETURN(L.b_down, b.VectorNamed(p + "mlp.down_proj.bias", D, c.mlp_bias));
    if (c.qk_norm) {
      KITE_ASSIGN_OR_RETURN(L.q_norm, b.VectorNamed(p + "self_attn.q_norm.weight", hd));
      KITE_ASSIGN_OR_RETURN(L.k_norm, b.VectorNamed(p + "self_attn.k_norm.weight", hd));
    }
    bytes += L.wq.bytes + L.wk.bytes + L.wv.bytes + L.wo.bytes + L.gate.bytes + L.up.bytes + L.down.bytes + 2 * D * 4;
  }
  w.weight_bytes_per_token = bytes;
  return w;
}

}  // namespace kite
