#include "converter/model_tensors.h"

#include <cstdlib>
#include <unordered_set>

#include "runtime/artifact/artifact_layout.h"

namespace kite {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Appends a tensor copied from the checkpoint tensor of the same name.
void Same(std::vector<ExpectedTensor>* out, const std::string& name, std::vector<int64_t> shape,
          const std::string& source = "") {
  ExpectedTensor e;
  e.name = name;
  e.shape = shape;
  e.source = source.empty() ? name : source;
  e.source_shape = std::move(shape);
  out->push_back(std::move(e));
}

void SwiGluMlp(std::vector<ExpectedTensor>* out, const std::string& p, int64_t d, int64_t ffn) {
  Same(out, p + "gate_proj.weight", {ffn, d});
  Same(out, p + "up_proj.weight", {ffn, d});
  Same(out, p + "down_proj.weight", {d, ffn});
}

// Router and experts of a sparse layer at p ("model.layers.3.mlp."). Mixtral's checkpoint
// names (block_sparse_moe.gate, experts.{e}.w1 gate / w3 up / w2 down) map onto the same layout.
void MoeMlp(std::vector<ExpectedTensor>* out, const ModelConfig& c, const std::string& layer) {
  const int64_t d = c.hidden_size, f = c.moe_intermediate_size, experts = c.num_experts;
  const std::string p = layer + "mlp.";
  const bool mixtral = c.architecture == "MixtralForCausalLM";
  const std::string src = mixtral ? layer + "block_sparse_moe." : p;
  Same(out, p + "gate.weight", {experts, d}, src + "gate.weight");
  if (c.moe_topk_method == "noaux_tc") {
    Same(out, p + "gate.e_score_correction_bias", {experts});
  }
  for (int64_t e = 0; e < experts; ++e) {
    const std::string x = p + "experts." + std::to_string(e) + ".";
    const std::string s = src + "experts." + std::to_string(e) + ".";
    Same(out, x + "gate_proj.weight", {f, d}, mixtral ? s + "w1.weight" : "");
    Same(out, x + "up_proj.weight", {f, d}, mixtral ? s + "w3.weight" : "");
    Same(out, x + "down_proj.weight", {d, f}, mixtral ? s + "w2.weight" : "");
  }
  // DeepSeek: shared_experts.* (n_shared x moe_intermediate_size wide); Qwen2-MoE: one
  // shared_expert.* of shared_expert_intermediate_size plus its [1, hidden] sigmoid gate.
  const int64_t shared = static_cast<int64_t>(c.shared_expert_width());
  if (shared > 0) SwiGluMlp(out, p + (c.shared_expert_gate ? "shared_expert." : "shared_experts."), d, shared);
  if (c.shared_expert_gate) Same(out, p + "shared_expert_gate.weight", {1, d});
}

void LlamaLine(const ModelConfig& c, std::vector<ExpectedTensor>* out) {
  const int64_t d = c.hidden_size, ffn = c.intermediate_size, hd = c.head_dim;
  const int64_t q_dim = c.num_heads * hd, kv_dim = c.num_kv_heads * hd;
  Same(out, "model.embed_tokens.weight", {c.vocab_size, d});
  for (uint32_t layer = 0; layer < c.num_layers; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    Same(out, p + "input_layernorm.weight", {d});
    Same(out, p + "self_attn.q_proj.weight", {q_dim, d});
    Same(out, p + "self_attn.k_proj.weight", {kv_dim, d});
    Same(out, p + "self_attn.v_proj.weight", {kv_dim, d});
    if (c.attention_bias) {
      Same(out, p + "self_attn.q_proj.bias", {q_dim});
      Same(out, p + "self_attn.k_proj.bias", {kv_dim});
      Same(out, p + "self_attn.v_proj.bias", {kv_dim});
    }
    if (c.qk_norm) {
      Same(out, p + "self_attn.q_norm.weight", {hd});
      Same(out, p + "self_attn.k_norm.weight", {hd});
    }
    Same(out, p + "self_attn.o_proj.weight", {d, q_dim});
    if (c.attention_out_bias) Same(out, p + "self_attn.o_proj.bias", {d});
    Same(out, p + "post_attention_layernorm.weight", {d});
    if (c.layer_is_moe(layer)) {
      MoeMlp(out, c, p);
      continue;
    }
    SwiGluMlp(out, p + "mlp.", d, ffn);
    if (c.mlp_bias) {
      Same(out, p + "mlp.gate_proj.bias", {ffn});
      Same(out, p + "mlp.up_proj.bias", {ffn});
      Same(out, p + "mlp.down_proj.bias", {d});
    }
  }
  Same(out, "model.norm.weight", {d});
  if (!c.tie_word_embeddings) Same(out, "lm_head.weight", {c.vocab_size, d});
}

void Gemma3(const ModelConfig& c, std::vector<ExpectedTensor>* out) {
  const int64_t d = c.hidden_size, ffn = c.intermediate_size, hd = c.head_dim;
  const int64_t q_dim = c.num_heads * hd, kv_dim = c.num_kv_heads * hd;
  Same(out, "model.embed_tokens.weight", {c.vocab_size, d});
  for (uint32_t layer = 0; layer < c.num_layers; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    Same(out, p + "input_layernorm.weight", {d});
    Same(out, p + "self_attn.q_proj.weight", {q_dim, d});
    Same(out, p + "self_attn.k_proj.weight", {kv_dim, d});
    Same(out, p + "self_attn.v_proj.weight", {kv_dim, d});
    if (c.attention_bias) {
      Same(out, p + "self_attn.q_proj.bias", {q_dim});
      Same(out, p + "self_attn.k_proj.bias", {kv_dim});
      Same(out, p + "self_attn.v_proj.bias", {kv_dim});
    }
    Same(out, p + "self_attn.q_norm.weight", {hd});
    Same(out, p + "self_attn.k_norm.weight", {hd});
    Same(out, p + "self_attn.o_proj.weight", {d, q_dim});
    if (c.attention_out_bias) Same(out, p + "self_attn.o_proj.bias", {d});
    Same(out, p + "post_attention_layernorm.weight", {d});
    Same(out, p + "pre_feedforward_layernorm.weight", {d});
    SwiGluMlp(out, p + "mlp.", d, ffn);
    Same(out, p + "post_feedforward_layernorm.weight", {d});
  }
  Same(out, "model.norm.weight", {d});
  if (!c.tie_word_embeddings) Same(out, "lm_head.weight", {c.vocab_size, d});
}

// Conv1D [in, out_total] columns [offset, offset + rows) -> [rows, in].
void Conv1D(std::vector<ExpectedTensor>* out, const std::string& name, int64_t rows, int64_t in,
            const std::string& source, int64_t out_total, int64_t offset) {
  ExpectedTensor e;
  e.name = name;
  e.shape = {rows, in};
  e.source = source;
  e.source_shape = {in, out_total};
  e.layout = SourceLayout::kConv1D;
  e.offset = offset;
  out->push_back(std::move(e));
}

void Slice(std::vector<ExpectedTensor>* out, const std::string& name, int64_t n, const std::string& source,
           int64_t total, int64_t offset) {
  ExpectedTensor e;
  e.name = name;
  e.shape = {n};
  e.source = source;
  e.source_shape = {total};
  e.layout = offset == 0 && n == total ? SourceLayout::kSame : SourceLayout::kSlice;
  e.offset = offset;
  out->push_back(std::move(e));
}

// GPT-2, names without the "transformer." prefix (resolved against the checkpoint later).
void Gpt2(const ModelConfig& c, std::vector<ExpectedTensor>* out) {
  const int64_t d = c.hidden_size, ffn = c.intermediate_size;
  Same(out, "wte.weight", {c.vocab_size, d});
  Same(out, "wpe.weight", {c.max_position_embeddings, d});
  for (uint32_t layer = 0; layer < c.num_layers; ++layer) {
    const std::string p = "h." + std::to_string(layer) + ".";
    Same(out, p + "ln_1.weight", {d});
    Same(out, p + "ln_1.bias", {d});
    // c_attn: x W + b with W [d, 3d]; q, k, v are consecutive d-column blocks.
    const char* parts[] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; ++i) {
      Conv1D(out, p + "attn." + parts[i] + ".weight", d, d, p + "attn.c_attn.weight", 3 * d, i * d);
      Slice(out, p + "attn." + parts[i] + ".bias", d, p + "attn.c_attn.bias", 3 * d, i * d);
    }
    Conv1D(out, p + "attn.c_proj.weight", d, d, p + "attn.c_proj.weight", d, 0);
    Same(out, p + "attn.c_proj.bias", {d});
    Same(out, p + "ln_2.weight", {d});
    Same(out, p + "ln_2.bias", {d});
    Conv1D(out, p + "mlp.c_fc.weight", ffn, d, p + "mlp.c_fc.weight", ffn, 0);
    Same(out, p + "mlp.c_fc.bias", {ffn});
    Conv1D(out, p + "mlp.c_proj.weight", d, ffn, p + "mlp.c_proj.weight", d, 0);
    Same(out, p + "mlp.c_proj.bias", {d});
  }
  Same(out, "ln_f.weight", {d});
  Same(out, "ln_f.bias", {d});
  if (!c.tie_word_embeddings) Same(out, "lm_head.weight", {c.vocab_size, d});
}

void Deepseek(const ModelConfig& c, std::vector<ExpectedTensor>* out) {
  const int64_t d = c.hidden_size, ffn = c.intermediate_size, H = c.num_heads;
  const int64_t qk = c.qk_nope_head_dim + c.qk_rope_head_dim, r = c.kv_lora_rank;
  Same(out, "model.embed_tokens.weight", {c.vocab_size, d});
  for (uint32_t layer = 0; layer < c.num_layers; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    Same(out, p + "input_layernorm.weight", {d});
    if (c.q_lora_rank == 0) {
      Same(out, p + "self_attn.q_proj.weight", {H * qk, d});
    } else {
      Same(out, p + "self_attn.q_a_proj.weight", {c.q_lora_rank, d});
      Same(out, p + "self_attn.q_a_layernorm.weight", {c.q_lora_rank});
      Same(out, p + "self_attn.q_b_proj.weight", {H * qk, c.q_lora_rank});
    }
    Same(out, p + "self_attn.kv_a_proj_with_mqa.weight", {r + c.qk_rope_head_dim, d});
    Same(out, p + "self_attn.kv_a_layernorm.weight", {r});
    Same(out, p + "self_attn.kv_b_proj.weight", {H * (c.qk_nope_head_dim + c.v_head_dim), r});
    Same(out, p + "self_attn.o_proj.weight", {d, H * c.v_head_dim});
    Same(out, p + "post_attention_layernorm.weight", {d});
    if (c.layer_is_moe(layer)) {
      MoeMlp(out, c, p);
    } else {
      SwiGluMlp(out, p + "mlp.", d, ffn);
    }
  }
  Same(out, "model.norm.weight", {d});
  if (!c.tie_word_embeddings) Same(out, "lm_head.weight", {c.vocab_size, d});
}

// Checkpoint tensors that are buffers, not weights, and safe to leave out.
bool IsHarmlessExtra(const ModelConfig& c, const std::string& name, std::string* why) {
  if (EndsWith(name, ".rotary_emb.inv_freq")) {
    *why = "recomputed from the config";
    return true;
  }
  if (name == "lm_head.weight" && c.tie_word_embeddings) {
    *why = "config.json ties it to the token embedding";
    return true;
  }
  if (c.architecture == "GPT2LMHeadModel" && (EndsWith(name, ".attn.bias") || EndsWith(name, ".attn.masked_bias"))) {
    *why = "GPT-2's causal-mask buffer";
    return true;
  }
  // DeepSeek-V3's multi-token-prediction layers sit after the last decoder layer.
  if (c.architecture == "DeepseekV3ForCausalLM" && name.rfind("model.layers.", 0) == 0) {
    const int64_t index = std::atoll(name.c_str() + 13);
    if (index >= c.num_layers) {
      *why = "a multi-token-prediction layer, not used for generation";
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  std::vector<ExpectedTensor> out;
  if (c.architecture == "GPT2LMHeadModel") {
    Gpt2(c, &out);
  } else if (c.architecture == "Gemma3ForCausalLM") {
    Gemma3(c, &out);
  } else if (c.kv_lora_rank > 0) {
    Deepseek(c, &out);
  } else {
    LlamaLine(c, &out);
  }
  return out;
}

Status CheckCheckpointTensors(const ModelConfig& config, const SafetensorsCheckpoint& checkpoint,
                              std::vector<std::string>* warnings, std::vector<ExpectedTensor>* plan) {
  constexpr size_t kMaxListed = 12;
  std::vector<std::string> problems;
  std::unordered_set<std::string> used;
  std::vector<ExpectedTensor> expected = ExpectedTensors(config);
  const bool gpt2 = config.architecture == "GPT2LMHeadModel";
  for (ExpectedTensor& e : expected) {
    const SourceTensor* t = checkpoint.Find(e.source);
    // GPT2LMHeadModel saves "transformer.h.0..."; a bare GPT2Model "h.0...". Both are accepted.
    if (t == nullptr && gpt2 && e.source != "lm_head.weight") {
      t = checkpoint.Find("transformer." + e.source);
      if (t != nullptr) e.source = "transformer." + e.source;
    }
    if (t == nullptr) {
      if (used.count(e.source) == 0) problems.push_back("missing tensor '" + e.source + "' " + ShapeString(e.source_shape));
      used.insert(e.source);
      continue;
    }
    const bool first_use = used.insert(e.source).second;
    if (!first_use) continue;  // a fused tensor read by several (q, k, v): report it once
    if (t->shape != e.source_shape) {
      problems.push_back("tensor '" + e.source + "' has shape " + ShapeString(t->shape) + " but the config implies " +
                         ShapeString(e.source_shape));
    } else if (t->dtype == SourceDType::kOther) {
      problems.push_back("tensor '" + e.source + "' has dtype " + t->dtype_name + " (supported: F32, F16, BF16)");
    }
  }
  for (const SourceTensor& t : checkpoint.tensors()) {
    if (used.count(t.name) != 0) continue;
    std::string why;
    if (IsHarmlessExtra(config, t.name, &why)) {
      warnings->push_back("ignoring '" + t.name + "' (" + why + ")");
    } else {
      problems.push_back("unexpected tensor '" + t.name + "' " + ShapeString(t.shape) + " (" + config.architecture +
                         " with this config does not use it)");
    }
  }
  if (problems.empty()) {
    if (plan != nullptr) *plan = std::move(expected);
    return Status::Ok();
  }
  std::string message = checkpoint.files().empty() ? std::string("checkpoint") : checkpoint.files()[0];
  if (checkpoint.files().size() > 1) message += " (and " + std::to_string(checkpoint.files().size() - 1) + " more shards)";
  message += ": the tensors do not match config.json (" + config.architecture + "), " +
             std::to_string(problems.size()) + " problem(s):";
  for (size_t i = 0; i < problems.size() && i < kMaxListed; ++i) message += "\n  " + problems[i];
  if (problems.size() > kMaxListed) message += "\n  ... and " + std::to_string(problems.size() - kMaxListed) + " more";
  return InvalidArgument(message);
}

}  // namespace kite
