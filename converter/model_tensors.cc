#include "converter/model_tensors.h"

#include <unordered_set>

#include "runtime/artifact/artifact_layout.h"

namespace kite {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  const int64_t d = c.hidden_size, ffn = c.intermediate_size, hd = c.head_dim;
  const int64_t q_dim = c.num_heads * hd, kv_dim = c.num_kv_heads * hd;
  std::vector<ExpectedTensor> out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, d}});
  for (uint32_t layer = 0; layer < c.num_layers; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    out.push_back({p + "input_layernorm.weight", {d}});
    out.push_back({p + "self_attn.q_proj.weight", {q_dim, d}});
    out.push_back({p + "self_attn.k_proj.weight", {kv_dim, d}});
    out.push_back({p + "self_attn.v_proj.weight", {kv_dim, d}});
    if (c.attention_bias) {
      out.push_back({p + "self_attn.q_proj.bias", {q_dim}});
      out.push_back({p + "self_attn.k_proj.bias", {kv_dim}});
      out.push_back({p + "self_attn.v_proj.bias", {kv_dim}});
    }
    if (c.qk_norm) {
      out.push_back({p + "self_attn.q_norm.weight", {hd}});
      out.push_back({p + "self_attn.k_norm.weight", {hd}});
    }
    out.push_back({p + "self_attn.o_proj.weight", {d, q_dim}});
    if (c.attention_out_bias) out.push_back({p + "self_attn.o_proj.bias", {d}});
    out.push_back({p + "post_attention_layernorm.weight", {d}});
    out.push_back({p + "mlp.gate_proj.weight", {ffn, d}});
    out.push_back({p + "mlp.up_proj.weight", {ffn, d}});
    out.push_back({p + "mlp.down_proj.weight", {d, ffn}});
    if (c.mlp_bias) {
      out.push_back({p + "mlp.gate_proj.bias", {ffn}});
      out.push_back({p + "mlp.up_proj.bias", {ffn}});
      out.push_back({p + "mlp.down_proj.bias", {d}});
    }
  }
  out.push_back({"model.norm.weight", {d}});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, d}});
  return out;
}

Status CheckCheckpointTensors(const ModelConfig& config, const SafetensorsCheckpoint& checkpoint,
                              std::vector<std::string>* warnings) {
  constexpr size_t kMaxListed = 12;
  std::vector<std::string> problems;
  std::unordered_set<std::string> expected_names;
  for (const ExpectedTensor& e : ExpectedTensors(config)) {
    expected_names.insert(e.name);
    const SourceTensor* t = checkpoint.Find(e.name);
    if (t == nullptr) {
      problems.push_back("missing tensor '" + e.name + "' " + ShapeString(e.shape));
    } else if (t->shape != e.shape) {
      problems.push_back("tensor '" + e.name + "' has shape " + ShapeString(t->shape) + " but the config implies " +
                         ShapeString(e.shape));
    } else if (t->dtype == SourceDType::kOther) {
      problems.push_back("tensor '" + e.name + "' has dtype " + t->dtype_name + " (supported: F32, F16, BF16)");
    }
  }
  for (const SourceTensor& t : checkpoint.tensors()) {
    if (expected_names.count(t.name) != 0) continue;
    if (EndsWith(t.name, ".rotary_emb.inv_freq")) {
      warnings->push_back("ignoring '" + t.name + "' (recomputed from the config)");
    } else if (t.name == "lm_head.weight" && config.tie_word_embeddings) {
      warnings->push_back("ignoring 'lm_head.weight': config.json ties it to model.embed_tokens.weight");
    } else {
      problems.push_back("unexpected tensor '" + t.name + "' " + ShapeString(t.shape) + " (" + config.architecture +
                         " with this config does not use it)");
    }
  }
  if (problems.empty()) return Status::Ok();
  std::string message = checkpoint.files().empty() ? std::string("checkpoint") : checkpoint.files()[0];
  if (checkpoint.files().size() > 1) message += " (and " + std::to_string(checkpoint.files().size() - 1) + " more shards)";
  message += ": the tensors do not match config.json (" + config.architecture + "), " +
             std::to_string(problems.size()) + " problem(s):";
  for (size_t i = 0; i < problems.size() && i < kMaxListed; ++i) message += "\n  " + problems[i];
  if (problems.size() > kMaxListed) message += "\n  ... and " + std::to_string(problems.size() - kMaxListed) + " more";
  return InvalidArgument(message);
}

}  // namespace kite
