#include "converter/hf_config.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "converter/hf_config_util.h"
#include "converter/json_fields.h"
#include "runtime/core/file.h"

namespace kite {
namespace hf {

using nlohmann::json;

std::string Join(const std::vector<std::string>& items) {
  std::string s;
  for (const std::string& item : items) s += (s.empty() ? "" : ", ") + item;
  return s;
}

Status ParseRopeScaling(const JsonFields& s, const std::vector<std::string>& allowed, ModelConfig* c) {
  // "rope_type" since transformers 4.45; older files say "type".
  const char* type_key = s.Has("rope_type") ? "rope_type" : "type";
  std::string type = "default";
  KITE_RETURN_IF_ERROR(s.String(type_key, &type));
  RopeScalingConfig& r = c->rope_scaling;
  r.type = type;
  if (type == "default") return Status::Ok();
  if (std::find(allowed.begin(), allowed.end(), type) == allowed.end()) {
    std::vector<std::string> all = {"default"};
    all.insert(all.end(), allowed.begin(), allowed.end());
    return s.Error(type_key, "'" + type + "' is not supported (supported: " + Join(all) + ")");
  }
  if (!s.Has("factor")) return InvalidArgument(s.source() + ": missing field '" + s.Name("factor") + "'");
  KITE_RETURN_IF_ERROR(s.F32("factor", &r.factor));
  if (!(r.factor > 0.0f)) return s.Error("factor", "must be positive");
  if (type == "llama3") {
    for (const char* key : {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
      if (!s.Has(key)) return InvalidArgument(s.source() + ": missing field '" + s.Name(key) + "' (llama3 rope)");
    }
    KITE_RETURN_IF_ERROR(s.F32("low_freq_factor", &r.low_freq_factor));
    KITE_RETURN_IF_ERROR(s.F32("high_freq_factor", &r.high_freq_factor));
    KITE_RETURN_IF_ERROR(s.PositiveU32("original_max_position_embeddings", &r.original_max_position_embeddings));
    if (!(r.high_freq_factor > r.low_freq_factor)) {
      return s.Error("high_freq_factor", "must be larger than low_freq_factor");
    }
  }
  if (type == "yarn") {
    // Absent fields: transformers' defaults (beta 32/1, mscale 1, no mscale_all_dim, attention
    // factor derived; correction range from max_position_embeddings when no original is given).
    KITE_RETURN_IF_ERROR(s.U32("original_max_position_embeddings", &r.original_max_position_embeddings));
    KITE_RETURN_IF_ERROR(s.F32("beta_fast", &r.beta_fast));
    KITE_RETURN_IF_ERROR(s.F32("beta_slow", &r.beta_slow));
    KITE_RETURN_IF_ERROR(s.F32("mscale", &r.mscale));
    KITE_RETURN_IF_ERROR(s.F32("mscale_all_dim", &r.mscale_all_dim));
    KITE_RETURN_IF_ERROR(s.F32("attention_factor", &r.attention_factor));
    bool truncate = true;
    KITE_RETURN_IF_ERROR(s.Bool("truncate", &truncate));
    if (!truncate) return s.Error("truncate", "is false; only the truncated yarn correction range is supported");
    if (!(r.beta_fast > 0.0f) || !(r.beta_slow > 0.0f)) return s.Error("beta_fast", "and beta_slow must be positive");
    if (r.mscale < 0.0f || r.mscale_all_dim < 0.0f || r.attention_factor < 0.0f) {
      return s.Error("mscale", "mscale, mscale_all_dim and attention_factor must not be negative");
    }
  }
  return Status::Ok();
}

Status ParseRope(const JsonFields& f, const std::vector<std::string>& allowed, ModelConfig* c) {
  const json* params = f.Get("rope_parameters");
  if (params != nullptr && !params->is_object()) return f.Error("rope_parameters", "must be an object");
  if (params != nullptr) {
    KITE_RETURN_IF_ERROR(JsonFields(*params, f.source(), "rope_parameters.").F32("rope_theta", &c->rope_theta));
  }
  KITE_RETURN_IF_ERROR(f.F32("rope_theta", &c->rope_theta));
  if (!(c->rope_theta > 0.0f)) return f.Error("rope_theta", "must be positive");

  const json* scaling = f.Get("rope_scaling");
  std::string prefix = "rope_scaling.";
  if (scaling != nullptr && !scaling->is_object()) return f.Error("rope_scaling", "must be an object or null");
  if (scaling == nullptr && params != nullptr) {
    scaling = params;
    prefix = "rope_parameters.";
  }
  if (scaling == nullptr) return Status::Ok();  // default rope
  return ParseRopeScaling(JsonFields(*scaling, f.source(), prefix), allowed, c);
}

Status ParseTokenIds(const JsonFields& f, ModelConfig* c) {
  KITE_RETURN_IF_ERROR(f.TokenId("bos_token_id", c->vocab_size, &c->bos_token_id));
  KITE_RETURN_IF_ERROR(f.TokenId("pad_token_id", c->vocab_size, &c->pad_token_id));
  return f.TokenIds("eos_token_id", c->vocab_size, &c->eos_token_ids);
}

Status ParseLayerList(const JsonFields& f, const char* key, uint32_t num_layers, std::vector<uint32_t>* out) {
  const json* list = f.Get(key);
  if (list == nullptr) return Status::Ok();
  if (!list->is_array()) return f.Error(key, "must be a list of layer indexes");
  for (const json& v : *list) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() >= num_layers) {
      return f.Error(key, "holds " + v.dump() + ", not a layer index below num_hidden_layers " +
                              std::to_string(num_layers));
    }
    out->push_back(static_cast<uint32_t>(v.get<uint64_t>()));
  }
  return Status::Ok();
}

Status ParseLayerTypes(const JsonFields& f, ModelConfig* c) {
  const json* types = f.Get("layer_types");
  if (types == nullptr) return Status::Ok();
  if (!types->is_array()) return f.Error("layer_types", "must be a list");
  if (types->size() != c->num_layers) {
    return f.Error("layer_types", "has " + std::to_string(types->size()) + " entries for num_hidden_layers " +
                                      std::to_string(c->num_layers));
  }
  c->sliding_layers.assign(c->num_layers, 0);
  for (size_t i = 0; i < types->size(); ++i) {
    const json& t = (*types)[i];
    const std::string name = t.is_string() ? t.get<std::string>() : "";
    if (name == "sliding_attention") {
      c->sliding_layers[i] = 1;
    } else if (name != "full_attention") {
      return f.Error("layer_types", "contains " + t.dump() + " (supported: \"full_attention\", \"sliding_attention\")");
    }
  }
  return Status::Ok();
}

}  // namespace hf

namespace {

using nlohmann::json;
using hf::Join;

// Qwen2 / Qwen3 / their MoE variants: which layers attend through a sliding window. As the
// config classes decide: `layer_types` when given; otherwise, only with use_sliding_window and a
// non-null sliding_window, layers i >= max_window_layers slide (Qwen2Config: sliding_window is
// dropped unless use_sliding_window; layer_types[i] sliding iff i >= max_window_layers). The
// window holds exactly sliding_window keys, the query's own included (HF masking_utils).
Status ParseQwenSlidingWindow(const JsonFields& f, ModelConfig* c) {
  const bool window_null = f.IsNull("sliding_window");
  const json* types = f.Get("layer_types");
  if (types != nullptr && !(types->is_array() && types->empty())) {
    KITE_RETURN_IF_ERROR(hf::ParseLayerTypes(f, c));
  } else {
    bool use_sliding = false;
    KITE_RETURN_IF_ERROR(f.Bool("use_sliding_window", &use_sliding));
    if (!use_sliding || window_null) return Status::Ok();
    uint32_t max_window_layers = 28;
    KITE_RETURN_IF_ERROR(f.U32("max_window_layers", &max_window_layers));
    c->sliding_layers.assign(c->num_layers, 0);
    for (uint32_t i = 0; i < c->num_layers; ++i) c->sliding_layers[i] = i >= max_window_layers;
  }
  const bool any = std::any_of(c->sliding_layers.begin(), c->sliding_layers.end(), [](uint8_t v) { return v != 0; });
  if (!any) {
    c->sliding_layers.clear();  // no layer slides: the plain full-attention model
    return Status::Ok();
  }
  // Read only when a layer slides: a model without windows keeps whatever the field says unused.
  uint32_t window = 4096;  // every Qwen config class's default
  if (!window_null) KITE_RETURN_IF_ERROR(f.U32("sliding_window", &window));
  if (window_null || window == 0) return f.Error("sliding_window", "must be positive when a layer slides");
  c->sliding_window = window;
  return Status::Ok();
}

// Qwen3-MoE / Qwen2-MoE / Mixtral: which layers are sparse, and the router fields.
Status ParseLlamaMoe(const JsonFields& f, bool mixtral, ModelConfig* c) {
  const bool qwen2_moe = c->architecture == "Qwen2MoeForCausalLM";
  if (mixtral) {
    // MixtralConfig: every layer sparse, top-k renormalised, experts as wide as intermediate_size.
    c->num_experts = 8;
    c->num_experts_per_tok = 2;
    KITE_RETURN_IF_ERROR(f.U32("num_local_experts", &c->num_experts));
    KITE_RETURN_IF_ERROR(f.U32("num_experts_per_tok", &c->num_experts_per_tok));
    c->moe_intermediate_size = c->intermediate_size;
    c->norm_topk_prob = true;
    c->moe_layers.assign(c->num_layers, 1);
  } else {
    // Qwen3MoeConfig / Qwen2MoeConfig defaults (both: norm_topk_prob false, decoder_sparse_step 1).
    c->num_experts = qwen2_moe ? 60 : 128;
    c->num_experts_per_tok = qwen2_moe ? 4 : 8;
    c->moe_intermediate_size = qwen2_moe ? 1408 : 768;
    c->norm_topk_prob = false;
    uint32_t step = 1;
    KITE_RETURN_IF_ERROR(f.U32("num_experts", &c->num_experts));
    KITE_RETURN_IF_ERROR(f.U32("num_experts_per_tok", &c->num_experts_per_tok));
    KITE_RETURN_IF_ERROR(f.U32("moe_intermediate_size", &c->moe_intermediate_size));
    KITE_RETURN_IF_ERROR(f.Bool("norm_topk_prob", &c->norm_topk_prob));
    KITE_RETURN_IF_ERROR(f.U32("decoder_sparse_step", &step));
    if (step == 0) return f.Error("decoder_sparse_step", "must be positive");
    std::vector<uint32_t> dense_only;
    KITE_RETURN_IF_ERROR(hf::ParseLayerList(f, "mlp_only_layers", c->num_layers, &dense_only));
    // Qwen3MoeDecoderLayer / Qwen2MoeDecoderLayer: sparse iff not in mlp_only_layers, num_experts > 0, (i + 1) % step == 0.
    c->moe_layers.assign(c->num_layers, 0);
    for (uint32_t i = 0; i < c->num_layers; ++i) {
      const bool listed = std::find(dense_only.begin(), dense_only.end(), i) != dense_only.end();
      c->moe_layers[i] = !listed && c->num_experts > 0 && (i + 1) % step == 0;
    }
    if (c->num_experts == 0) {
      c->moe_layers.clear();
      return Status::Ok();
    }
  }
  const char* experts_key = mixtral ? "num_local_experts" : "num_experts";
  if (c->num_experts == 0) return f.Error(experts_key, "must be positive");
  if (c->num_experts_per_tok == 0 || c->num_experts_per_tok > c->num_experts) {
    return f.Error("num_experts_per_tok", "is " + std::to_string(c->num_experts_per_tok) + "; it must be in [1, " +
                                              std::string(experts_key) + " = " + std::to_string(c->num_experts) + "]");
  }
  if (c->moe_intermediate_size == 0) return f.Error("moe_intermediate_size", "must be positive");
  if (qwen2_moe) {
    // Qwen2MoeSparseMoeBlock: one shared expert of shared_expert_intermediate_size on every token,
    // its output x sigmoid(shared_expert_gate . x), added to the routed experts' sum.
    c->shared_expert_intermediate_size = 5632;
    KITE_RETURN_IF_ERROR(f.U32("shared_expert_intermediate_size", &c->shared_expert_intermediate_size));
    if (c->shared_expert_intermediate_size == 0) return f.Error("shared_expert_intermediate_size", "must be positive");
    c->num_shared_experts = 1;
    c->shared_expert_gate = true;
  }
  return Status::Ok();
}

Status ParseLlamaLine(const JsonFields& f, ModelConfig* c) {
  const std::string& arch = c->architecture;
  const bool llama = arch == "LlamaForCausalLM";
  const bool mistral = arch == "MistralForCausalLM" || arch == "MixtralForCausalLM";
  const bool qwen2 = arch == "Qwen2ForCausalLM" || arch == "Qwen2MoeForCausalLM";
  const bool qwen3 = arch == "Qwen3ForCausalLM" || arch == "Qwen3MoeForCausalLM";
  KITE_RETURN_IF_ERROR(f.PositiveU32("vocab_size", &c->vocab_size));
  KITE_RETURN_IF_ERROR(f.PositiveU32("hidden_size", &c->hidden_size));
  KITE_RETURN_IF_ERROR(f.PositiveU32("intermediate_size", &c->intermediate_size));
  KITE_RETURN_IF_ERROR(f.PositiveU32("num_hidden_layers", &c->num_layers));
  KITE_RETURN_IF_ERROR(f.PositiveU32("num_attention_heads", &c->num_heads));
  c->num_kv_heads = c->num_heads;
  if (f.Has("num_key_value_heads")) KITE_RETURN_IF_ERROR(f.PositiveU32("num_key_value_heads", &c->num_kv_heads));
  if (c->num_heads % c->num_kv_heads != 0) {
    return f.Error("num_attention_heads", std::to_string(c->num_heads) + " is not a multiple of num_key_value_heads " +
                                              std::to_string(c->num_kv_heads));
  }
  // head_dim: explicit when given; Qwen3's class default is 128, the others derive it.
  if (f.Has("head_dim")) {
    KITE_RETURN_IF_ERROR(f.PositiveU32("head_dim", &c->head_dim));
  } else if (arch == "Qwen3ForCausalLM") {
    c->head_dim = 128;
  } else {
    if (c->hidden_size % c->num_heads != 0) {
      return f.Error("hidden_size", std::to_string(c->hidden_size) + " is not a multiple of num_attention_heads " +
                                        std::to_string(c->num_heads) + " and no head_dim is given");
    }
    c->head_dim = c->hidden_size / c->num_heads;
  }
  if (c->head_dim % 2 != 0) return f.Error("head_dim", "must be even for rotary embeddings");
  c->max_position_embeddings = llama ? 2048 : mistral ? 4096 * 32 : 32768;
  KITE_RETURN_IF_ERROR(f.U32("max_position_embeddings", &c->max_position_embeddings));
  c->norm_eps = 1e-6f;  // all these config classes default to 1e-6 (Mixtral: 1e-5)
  if (arch == "MixtralForCausalLM") c->norm_eps = 1e-5f;
  KITE_RETURN_IF_ERROR(f.F32("rms_norm_eps", &c->norm_eps));
  if (!(c->norm_eps > 0.0f)) return f.Error("rms_norm_eps", "must be positive");
  if (arch == "MixtralForCausalLM") c->rope_theta = 1e6f;
  KITE_RETURN_IF_ERROR(hf::ParseRope(f, {"linear", "llama3"}, c));

  std::string act = "silu";
  KITE_RETURN_IF_ERROR(f.String("hidden_act", &act));
  if (act != "silu" && act != "swish") return f.Error("hidden_act", "'" + act + "' is not supported (supported: silu)");
  c->hidden_act = "silu";

  KITE_RETURN_IF_ERROR(f.Bool("tie_word_embeddings", &c->tie_word_embeddings));
  bool attention_bias = false;
  KITE_RETURN_IF_ERROR(f.Bool("attention_bias", &attention_bias));
  if (llama) {
    // LlamaAttention puts attention_bias on q, k, v and o; mlp_bias on all three MLP projections.
    c->attention_bias = attention_bias;
    c->attention_out_bias = attention_bias;
    KITE_RETURN_IF_ERROR(f.Bool("mlp_bias", &c->mlp_bias));
  } else if (arch == "Qwen2MoeForCausalLM") {
    // Qwen2MoeAttention: q/k/v biases unless qkv_bias is false (newer configs), never on o_proj.
    c->attention_bias = true;
    KITE_RETURN_IF_ERROR(f.Bool("qkv_bias", &c->attention_bias));
  } else if (qwen2) {
    c->attention_bias = true;  // Qwen2 always has q/k/v biases, never an o_proj bias
  } else if (qwen3) {
    if (attention_bias) {
      return f.Error("attention_bias", "is true, which Kite does not support for " + arch +
                                           " (no released Qwen3 checkpoint uses it)");
    }
    c->qk_norm = true;
  }
  if (qwen2 || qwen3) KITE_RETURN_IF_ERROR(ParseQwenSlidingWindow(f, c));
  if (mistral) {
    // sliding_window (null in Mistral v0.2+ and Mixtral) applies to every layer; the
    // window holds exactly sliding_window keys, the query's own included (HF masking_utils).
    // MistralConfig defaults to 4096, MixtralConfig to none.
    c->sliding_window = arch == "MistralForCausalLM" ? 4096 : 0;
    if (f.IsNull("sliding_window")) c->sliding_window = 0;
    KITE_RETURN_IF_ERROR(f.U32("sliding_window", &c->sliding_window));
    if (c->sliding_window > 0) c->sliding_layers.assign(c->num_layers, 1);
  }
  if (arch == "Qwen3MoeForCausalLM" || arch == "Qwen2MoeForCausalLM" || arch == "MixtralForCausalLM") {
    KITE_RETURN_IF_ERROR(ParseLlamaMoe(f, arch == "MixtralForCausalLM", c));
  }
  return hf::ParseTokenIds(f, c);
}

}  // namespace

const std::vector<std::string>& SupportedArchitectures() {
  static const std::vector<std::string> kArchitectures = {
      "LlamaForCausalLM",      "Qwen2ForCausalLM",      "Qwen3ForCausalLM",  "Qwen3MoeForCausalLM",
      "MistralForCausalLM",    "MixtralForCausalLM",    "GPT2LMHeadModel",   "Gemma3ForCausalLM",
      "DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM", "Qwen2MoeForCausalLM"};
  return kArchitectures;
}

Result<ModelConfig> ParseHfConfig(const std::string& json_text, const std::string& source) {
  json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) return InvalidArgument(source + ": not a JSON object");
  const JsonFields f(root, source);

  const json* archs = f.Get("architectures");
  if (archs == nullptr) return InvalidArgument(source + ": missing field 'architectures'");
  if (!archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
    return f.Error("architectures", "must be a non-empty list of strings");
  }
  ModelConfig c;
  c.architecture = (*archs)[0].get<std::string>();
  const auto& supported = SupportedArchitectures();
  if (std::find(supported.begin(), supported.end(), c.architecture) == supported.end()) {
    return Unsupported(source + ": architectures[0] '" + c.architecture + "' is not supported (supported: " +
                       Join(supported) + ")");
  }
  KITE_RETURN_IF_ERROR(f.String("model_type", &c.model_type));
  if (c.architecture == "GPT2LMHeadModel") {
    KITE_RETURN_IF_ERROR(hf::ParseGpt2(f, &c));
  } else if (c.architecture == "Gemma3ForCausalLM") {
    KITE_RETURN_IF_ERROR(hf::ParseGemma3(f, &c));
  } else if (c.architecture == "DeepseekV2ForCausalLM" || c.architecture == "DeepseekV3ForCausalLM") {
    KITE_RETURN_IF_ERROR(hf::ParseDeepseek(f, &c));
  } else {
    KITE_RETURN_IF_ERROR(ParseLlamaLine(f, &c));
  }
  return c;
}

Result<ModelConfig> LoadHfConfig(const std::string& dir) {
  const std::string path = JoinPath(dir, "config.json");
  if (!FileExists(path)) {
    return NotFound(path + ": not found (is '" + dir + "' a Hugging Face checkpoint folder?)");
  }
  KITE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  return ParseHfConfig(text, path);
}

}  // namespace kite
