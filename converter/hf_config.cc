#include "converter/hf_config.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "converter/json_fields.h"
#include "runtime/core/file.h"

namespace kite {
namespace {

using nlohmann::json;

std::string Join(const std::vector<std::string>& items) {
  std::string s;
  for (const std::string& item : items) s += (s.empty() ? "" : ", ") + item;
  return s;
}

// rope_scaling (classic) or rope_parameters (newer transformers; also carries rope_theta).
Status ParseRope(const JsonFields& f, ModelConfig* c) {
  const json* params = f.Get("rope_parameters");
  if (params != nullptr && !params->is_object()) return f.Error("rope_parameters", "must be an object");
  if (params != nullptr) KITE_RETURN_IF_ERROR(JsonFields(*params, f.source(), "rope_parameters.").F32("rope_theta", &c->rope_theta));
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
  const JsonFields s(*scaling, f.source(), prefix);
  // "rope_type" since transformers 4.45; older files say "type".
  const char* type_key = s.Has("rope_type") ? "rope_type" : "type";
  std::string type = "default";
  KITE_RETURN_IF_ERROR(s.String(type_key, &type));
  RopeScalingConfig& r = c->rope_scaling;
  r.type = type;
  if (type == "default") return Status::Ok();
  if (type != "linear" && type != "llama3") {
    return s.Error(type_key, "'" + type + "' is not supported (supported: default, linear, llama3)");
  }
  if (!s.Has("factor")) return InvalidArgument(f.source() + ": missing field '" + prefix + "factor'");
  KITE_RETURN_IF_ERROR(s.F32("factor", &r.factor));
  if (!(r.factor > 0.0f)) return s.Error("factor", "must be positive");
  if (type == "llama3") {
    for (const char* key : {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
      if (!s.Has(key)) return InvalidArgument(f.source() + ": missing field '" + prefix + key + "' (llama3 rope)");
    }
    KITE_RETURN_IF_ERROR(s.F32("low_freq_factor", &r.low_freq_factor));
    KITE_RETURN_IF_ERROR(s.F32("high_freq_factor", &r.high_freq_factor));
    KITE_RETURN_IF_ERROR(s.PositiveU32("original_max_position_embeddings", &r.original_max_position_embeddings));
    if (!(r.high_freq_factor > r.low_freq_factor)) {
      return s.Error("high_freq_factor", "must be larger than low_freq_factor");
    }
  }
  return Status::Ok();
}

Status ParseTokenIds(const JsonFields& f, ModelConfig* c) {
  KITE_RETURN_IF_ERROR(f.TokenId("bos_token_id", c->vocab_size, &c->bos_token_id));
  KITE_RETURN_IF_ERROR(f.TokenId("pad_token_id", c->vocab_size, &c->pad_token_id));
  return f.TokenIds("eos_token_id", c->vocab_size, &c->eos_token_ids);
}

// Attention layouts Kite has no field for: refuse rather than run them as full attention.
Status RejectSlidingWindow(const JsonFields& f) {
  bool use_sliding = false;
  KITE_RETURN_IF_ERROR(f.Bool("use_sliding_window", &use_sliding));
  if (use_sliding) return f.Error("use_sliding_window", "is true; sliding-window attention is not supported");
  if (const json* types = f.Get("layer_types")) {
    if (!types->is_array()) return f.Error("layer_types", "must be a list");
    for (const json& t : *types) {
      if (!t.is_string() || t.get<std::string>() != "full_attention") {
        return f.Error("layer_types", "contains " + t.dump() + "; only \"full_attention\" layers are supported");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

const std::vector<std::string>& SupportedArchitectures() {
  static const std::vector<std::string> kArchitectures = {"LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"};
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
  const bool llama = c.architecture == "LlamaForCausalLM";
  const bool qwen2 = c.architecture == "Qwen2ForCausalLM";
  const bool qwen3 = c.architecture == "Qwen3ForCausalLM";
  KITE_RETURN_IF_ERROR(f.String("model_type", &c.model_type));

  KITE_RETURN_IF_ERROR(f.PositiveU32("vocab_size", &c.vocab_size));
  KITE_RETURN_IF_ERROR(f.PositiveU32("hidden_size", &c.hidden_size));
  KITE_RETURN_IF_ERROR(f.PositiveU32("intermediate_size", &c.intermediate_size));
  KITE_RETURN_IF_ERROR(f.PositiveU32("num_hidden_layers", &c.num_layers));
  KITE_RETURN_IF_ERROR(f.PositiveU32("num_attention_heads", &c.num_heads));
  c.num_kv_heads = c.num_heads;
  if (f.Has("num_key_value_heads")) KITE_RETURN_IF_ERROR(f.PositiveU32("num_key_value_heads", &c.num_kv_heads));
  if (c.num_heads % c.num_kv_heads != 0) {
    return f.Error("num_attention_heads", std::to_string(c.num_heads) + " is not a multiple of num_key_value_heads " +
                                              std::to_string(c.num_kv_heads));
  }
  // head_dim: explicit when given; Qwen3's class default is 128, the others derive it.
  if (f.Has("head_dim")) {
    KITE_RETURN_IF_ERROR(f.PositiveU32("head_dim", &c.head_dim));
  } else if (qwen3) {
    c.head_dim = 128;
  } else {
    if (c.hidden_size % c.num_heads != 0) {
      return f.Error("hidden_size", std::to_string(c.hidden_size) + " is not a multiple of num_attention_heads " +
                                        std::to_string(c.num_heads) + " and no head_dim is given");
    }
    c.head_dim = c.hidden_size / c.num_heads;
  }
  c.max_position_embeddings = llama ? 2048 : 32768;
  KITE_RETURN_IF_ERROR(f.U32("max_position_embeddings", &c.max_position_embeddings));
  c.norm_eps = 1e-6f;  // LlamaConfig, Qwen2Config and Qwen3Config all default to 1e-6
  KITE_RETURN_IF_ERROR(f.F32("rms_norm_eps", &c.norm_eps));
  if (!(c.norm_eps > 0.0f)) return f.Error("rms_norm_eps", "must be positive");
  KITE_RETURN_IF_ERROR(ParseRope(f, &c));

  std::string act = "silu";
  KITE_RETURN_IF_ERROR(f.String("hidden_act", &act));
  if (act != "silu" && act != "swish") return f.Error("hidden_act", "'" + act + "' is not supported (supported: silu)");
  c.hidden_act = "silu";

  KITE_RETURN_IF_ERROR(f.Bool("tie_word_embeddings", &c.tie_word_embeddings));
  bool attention_bias = false;
  KITE_RETURN_IF_ERROR(f.Bool("attention_bias", &attention_bias));
  if (llama) {
    // LlamaAttention puts attention_bias on q, k, v and o; mlp_bias on all three MLP projections.
    c.attention_bias = attention_bias;
    c.attention_out_bias = attention_bias;
    KITE_RETURN_IF_ERROR(f.Bool("mlp_bias", &c.mlp_bias));
  } else if (qwen2) {
    c.attention_bias = true;  // Qwen2 always has q/k/v biases, never an o_proj bias
  } else if (qwen3) {
    if (attention_bias) {
      return f.Error("attention_bias", "is true, which Kite does not support for Qwen3ForCausalLM (no released "
                                       "Qwen3 checkpoint uses it)");
    }
    c.qk_norm = true;
  }
  if (qwen2 || qwen3) KITE_RETURN_IF_ERROR(RejectSlidingWindow(f));
  KITE_RETURN_IF_ERROR(ParseTokenIds(f, &c));
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
