// config.json parsing for the families outside the Llama line: GPT-2,
// Gemma 3 (text) and DeepSeek-V2/V3. Absent or null fields take the defaults
// of the transformers config class (GPT2Config, Gemma3TextConfig,
// DeepseekV2Config / DeepseekV3Config).
#include <algorithm>
#include <cmath>

#include "converter/hf_config_util.h"

namespace kite {
namespace hf {
namespace {

using nlohmann::json;

// HF's tanh-approximated GELU under its several names; "gelu" (erf) is a different function.
Status ParseGeluTanh(const JsonFields& f, const char* key, std::string* out) {
  std::string act = "gelu_pytorch_tanh";
  KITE_RETURN_IF_ERROR(f.String(key, &act));
  if (act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "gelu_fast") {
    return f.Error(key, "'" + act + "' is not supported (supported: gelu_new, gelu_pytorch_tanh, gelu_fast)");
  }
  *out = "gelu_pytorch_tanh";
  return Status::Ok();
}

Status OptionalCap(const JsonFields& f, const char* key, float* out) {
  *out = 0.0f;
  KITE_RETURN_IF_ERROR(f.F32(key, out));
  if (*out < 0.0f) return f.Error(key, "must be positive or null");
  return Status::Ok();
}

}  // namespace

Status ParseGpt2(const JsonFields& f, ModelConfig* c) {
  // GPT2Config defaults: n_embd 768, n_layer 12, n_head 12, n_positions 1024, eps 1e-5.
  c->vocab_size = 50257;
  c->hidden_size = 768;
  c->num_layers = 12;
  c->num_heads = 12;
  c->max_position_embeddings = 1024;
  c->norm_eps = 1e-5f;
  KITE_RETURN_IF_ERROR(f.U32("vocab_size", &c->vocab_size));
  KITE_RETURN_IF_ERROR(f.U32("n_embd", &c->hidden_size));
  KITE_RETURN_IF_ERROR(f.U32("n_layer", &c->num_layers));
  KITE_RETURN_IF_ERROR(f.U32("n_head", &c->num_heads));
  KITE_RETURN_IF_ERROR(f.U32("n_positions", &c->max_position_embeddings));
  const std::pair<const char*, uint32_t> dims[] = {{"vocab_size", c->vocab_size},
                                                   {"n_embd", c->hidden_size},
                                                   {"n_layer", c->num_layers},
                                                   {"n_head", c->num_heads},
                                                   {"n_positions", c->max_position_embeddings}};
  for (const auto& d : dims) {
    if (d.second == 0) return f.Error(d.first, "must be positive");
  }
  if (c->hidden_size % c->num_heads != 0) {
    return f.Error("n_embd", std::to_string(c->hidden_size) + " is not a multiple of n_head " +
                                 std::to_string(c->num_heads));
  }
  c->num_kv_heads = c->num_heads;
  c->head_dim = c->hidden_size / c->num_heads;
  c->intermediate_size = 4 * c->hidden_size;  // n_inner null
  KITE_RETURN_IF_ERROR(f.U32("n_inner", &c->intermediate_size));
  if (c->intermediate_size == 0) return f.Error("n_inner", "must be positive or null");
  KITE_RETURN_IF_ERROR(f.F32("layer_norm_epsilon", &c->norm_eps));
  if (!(c->norm_eps > 0.0f)) return f.Error("layer_norm_epsilon", "must be positive");
  KITE_RETURN_IF_ERROR(ParseGeluTanh(f, "activation_function", &c->hidden_act));
  bool scale_attn_weights = true;
  KITE_RETURN_IF_ERROR(f.Bool("scale_attn_weights", &scale_attn_weights));
  // Unscaled scores are scores x 1^-1/2.
  c->query_pre_attn_scalar = scale_attn_weights ? 0.0f : 1.0f;
  KITE_RETURN_IF_ERROR(f.Bool("scale_attn_by_inverse_layer_idx", &c->scale_attn_by_inverse_layer_idx));
  // reorder_and_upcast_attn only changes the precision of a half-precision run; Kite computes in f32.
  bool add_cross_attention = false;
  KITE_RETURN_IF_ERROR(f.Bool("add_cross_attention", &add_cross_attention));
  if (add_cross_attention) return f.Error("add_cross_attention", "is true; only decoder-only GPT-2 is supported");
  c->tie_word_embeddings = true;
  KITE_RETURN_IF_ERROR(f.Bool("tie_word_embeddings", &c->tie_word_embeddings));
  // Conv1D layers all carry biases; LayerNorm has weight and bias.
  c->attention_bias = c->attention_out_bias = c->mlp_bias = true;
  return ParseTokenIds(f, c);
}

Status ParseGemma3(const JsonFields& f, ModelConfig* c) {
  // Gemma3TextConfig defaults (the 2B-class shape).
  c->vocab_size = 262208;
  c->hidden_size = 2304;
  c->intermediate_size = 9216;
  c->num_layers = 26;
  c->num_heads = 8;
  c->num_kv_heads = 4;
  c->head_dim = 256;
  c->max_position_embeddings = 131072;
  c->norm_eps = 1e-6f;
  c->rope_theta = 1e6f;
  c->rope_local_base_freq = 1e4f;
  c->query_pre_attn_scalar = 256;
  c->sliding_window = 4096;
  c->tie_word_embeddings = true;
  const std::pair<const char*, uint32_t*> dims[] = {
      {"vocab_size", &c->vocab_size},           {"hidden_size", &c->hidden_size},
      {"intermediate_size", &c->intermediate_size}, {"num_hidden_layers", &c->num_layers},
      {"num_attention_heads", &c->num_heads},   {"num_key_value_heads", &c->num_kv_heads},
      {"head_dim", &c->head_dim},               {"max_position_embeddings", &c->max_position_embeddings}};
  for (const auto& d : dims) {
    KITE_RETURN_IF_ERROR(f.U32(d.first, d.second));
    if (*d.second == 0) return f.Error(d.first, "must be positive");
  }
  if (c->num_heads % c->num_kv_heads != 0) {
    return f.Error("num_attention_heads", std::to_string(c->num_heads) + " is not a multiple of num_key_value_heads " +
                                              std::to_string(c->num_kv_heads));
  }
  if (c->head_dim % 2 != 0) return f.Error("head_dim", "must be even for rotary embeddings");
  KITE_RETURN_IF_ERROR(f.F32("rms_norm_eps", &c->norm_eps));
  if (!(c->norm_eps > 0.0f)) return f.Error("rms_norm_eps", "must be positive");
  KITE_RETURN_IF_ERROR(ParseGeluTanh(f, f.Has("hidden_activation") ? "hidden_activation" : "hidden_act", &c->hidden_act));
  KITE_RETURN_IF_ERROR(f.F32("query_pre_attn_scalar", &c->query_pre_attn_scalar));
  if (!(c->query_pre_attn_scalar > 0.0f)) return f.Error("query_pre_attn_scalar", "must be positive");
  KITE_RETURN_IF_ERROR(OptionalCap(f, "attn_logit_softcapping", &c->attn_logit_softcapping));
  KITE_RETURN_IF_ERROR(OptionalCap(f, "final_logit_softcapping", &c->final_logit_softcapping));
  bool bidirectional = false;
  KITE_RETURN_IF_ERROR(f.Bool("use_bidirectional_attention", &bidirectional));
  if (bidirectional) return f.Error("use_bidirectional_attention", "is true; only causal attention is supported");
  bool bias = false;
  KITE_RETURN_IF_ERROR(f.Bool("attention_bias", &bias));
  c->attention_bias = c->attention_out_bias = bias;
  c->qk_norm = true;
  KITE_RETURN_IF_ERROR(f.Bool("tie_word_embeddings", &c->tie_word_embeddings));

  // Rotary: global layers use rope_theta with rope_scaling, sliding layers rope_local_base_freq
  // unscaled; newer configs say the same as rope_parameters {full_attention: {...}, sliding_attention: {...}}.
  const json* params = f.Get("rope_parameters");
  if (params != nullptr && params->is_object() && params->contains("full_attention")) {
    const json& full = (*params)["full_attention"];
    const json* sliding = params->contains("sliding_attention") ? &(*params)["sliding_attention"] : nullptr;
    if (!full.is_object() || (sliding != nullptr && !sliding->is_object())) {
      return f.Error("rope_parameters", "entries must be objects");
    }
    const JsonFields g(full, f.source(), "rope_parameters.full_attention.");
    KITE_RETURN_IF_ERROR(g.F32("rope_theta", &c->rope_theta));
    KITE_RETURN_IF_ERROR(ParseRopeScaling(g, {"linear"}, c));
    if (sliding != nullptr) {
      const JsonFields l(*sliding, f.source(), "rope_parameters.sliding_attention.");
      KITE_RETURN_IF_ERROR(l.F32("rope_theta", &c->rope_local_base_freq));
      std::string type = "default";
      KITE_RETURN_IF_ERROR(l.String(l.Has("rope_type") ? "rope_type" : "type", &type));
      if (type != "default") return l.Error("rope_type", "'" + type + "' is not supported on sliding layers");
    }
  } else {
    KITE_RETURN_IF_ERROR(ParseRope(f, {"linear"}, c));
    KITE_RETURN_IF_ERROR(f.F32("rope_local_base_freq", &c->rope_local_base_freq));
  }
  if (!(c->rope_theta > 0.0f) || !(c->rope_local_base_freq > 0.0f)) {
    return f.Error("rope_local_base_freq", "and rope_theta must be positive");
  }

  // Which layers slide: layer_types, else every sliding_window_pattern-th layer is global.
  KITE_RETURN_IF_ERROR(f.U32("sliding_window", &c->sliding_window));
  if (f.Has("layer_types")) {
    KITE_RETURN_IF_ERROR(ParseLayerTypes(f, c));
  } else {
    uint32_t pattern = 6;
    KITE_RETURN_IF_ERROR(f.U32("sliding_window_pattern", &pattern));
    if (pattern == 0) return f.Error("sliding_window_pattern", "must be positive");
    c->sliding_layers.assign(c->num_layers, 0);
    for (uint32_t i = 0; i < c->num_layers; ++i) c->sliding_layers[i] = (i + 1) % pattern != 0;
  }
  const bool any_sliding = std::any_of(c->sliding_layers.begin(), c->sliding_layers.end(), [](uint8_t s) { return s; });
  if (any_sliding && c->sliding_window == 0) return f.Error("sliding_window", "must be positive");
  return ParseTokenIds(f, c);
}

Status ParseDeepseek(const JsonFields& f, ModelConfig* c) {
  const bool v3 = c->architecture == "DeepseekV3ForCausalLM";
  // DeepseekV2Config / DeepseekV3Config defaults.
  c->vocab_size = v3 ? 129280 : 102400;
  c->hidden_size = v3 ? 7168 : 4096;
  c->intermediate_size = v3 ? 18432 : 11008;
  c->moe_intermediate_size = v3 ? 2048 : 1407;
  c->num_layers = v3 ? 61 : 30;
  c->num_heads = v3 ? 128 : 32;
  c->num_shared_experts = v3 ? 1 : 2;
  c->num_experts = v3 ? 256 : 64;
  c->num_experts_per_tok = v3 ? 8 : 0;
  c->routed_scaling_factor = v3 ? 2.5f : 1.0f;
  c->kv_lora_rank = 512;
  c->q_lora_rank = 1536;
  c->qk_rope_head_dim = 64;
  c->qk_nope_head_dim = 128;
  c->v_head_dim = 128;
  c->max_position_embeddings = v3 ? 4096 : 2048;
  c->norm_eps = 1e-6f;
  c->norm_topk_prob = v3;
  c->moe_scoring = v3 ? "sigmoid" : "softmax";
  c->moe_topk_method = v3 ? "noaux_tc" : "greedy";
  c->moe_n_group = v3 ? 8 : 1;
  c->moe_topk_group = v3 ? 4 : 1;
  uint32_t first_k_dense = v3 ? 3 : 0, moe_layer_freq = 1;
  const std::pair<const char*, uint32_t*> dims[] = {
      {"vocab_size", &c->vocab_size},
      {"hidden_size", &c->hidden_size},
      {"intermediate_size", &c->intermediate_size},
      {"moe_intermediate_size", &c->moe_intermediate_size},
      {"num_hidden_layers", &c->num_layers},
      {"num_attention_heads", &c->num_heads},
      {"kv_lora_rank", &c->kv_lora_rank},
      {"qk_rope_head_dim", &c->qk_rope_head_dim},
      {"qk_nope_head_dim", &c->qk_nope_head_dim},
      {"v_head_dim", &c->v_head_dim},
      {"max_position_embeddings", &c->max_position_embeddings}};
  for (const auto& d : dims) {
    KITE_RETURN_IF_ERROR(f.U32(d.first, d.second));
    if (*d.second == 0) return f.Error(d.first, "must be positive");
  }
  if (c->qk_rope_head_dim % 2 != 0) return f.Error("qk_rope_head_dim", "must be even for rotary embeddings");
  if (f.IsNull("q_lora_rank")) c->q_lora_rank = 0;  // null: a plain q_proj (V2-Lite)
  KITE_RETURN_IF_ERROR(f.U32("q_lora_rank", &c->q_lora_rank));
  // MLA has as many key/value heads as query heads (num_key_value_heads is not used).
  c->num_kv_heads = c->num_heads;
  c->head_dim = c->qk_nope_head_dim + c->qk_rope_head_dim;
  KITE_RETURN_IF_ERROR(f.F32("rms_norm_eps", &c->norm_eps));
  if (!(c->norm_eps > 0.0f)) return f.Error("rms_norm_eps", "must be positive");
  KITE_RETURN_IF_ERROR(ParseRope(f, {"linear", "yarn"}, c));
  std::string act = "silu";
  KITE_RETURN_IF_ERROR(f.String("hidden_act", &act));
  if (act != "silu" && act != "swish") return f.Error("hidden_act", "'" + act + "' is not supported (supported: silu)");
  c->hidden_act = "silu";
  bool bias = false;
  KITE_RETURN_IF_ERROR(f.Bool("attention_bias", &bias));
  if (bias) return f.Error("attention_bias", "is true, which no released DeepSeek checkpoint uses; not supported");
  KITE_RETURN_IF_ERROR(f.Bool("tie_word_embeddings", &c->tie_word_embeddings));

  // Mixture of experts.
  const bool has_experts = !f.IsNull("n_routed_experts");
  KITE_RETURN_IF_ERROR(f.U32("n_routed_experts", &c->num_experts));
  KITE_RETURN_IF_ERROR(f.U32("n_shared_experts", &c->num_shared_experts));
  if (f.IsNull("n_shared_experts")) c->num_shared_experts = 0;
  KITE_RETURN_IF_ERROR(f.U32("num_experts_per_tok", &c->num_experts_per_tok));
  KITE_RETURN_IF_ERROR(f.U32("first_k_dense_replace", &first_k_dense));
  KITE_RETURN_IF_ERROR(f.U32("moe_layer_freq", &moe_layer_freq));
  if (moe_layer_freq == 0) return f.Error("moe_layer_freq", "must be positive");
  KITE_RETURN_IF_ERROR(f.F32("routed_scaling_factor", &c->routed_scaling_factor));
  if (!(c->routed_scaling_factor > 0.0f)) return f.Error("routed_scaling_factor", "must be positive");
  KITE_RETURN_IF_ERROR(f.Bool("norm_topk_prob", &c->norm_topk_prob));
  KITE_RETURN_IF_ERROR(f.String("scoring_func", &c->moe_scoring));
  if (c->moe_scoring != "softmax" && c->moe_scoring != "sigmoid") {
    return f.Error("scoring_func", "'" + c->moe_scoring + "' is not supported (supported: softmax, sigmoid)");
  }
  KITE_RETURN_IF_ERROR(f.String("topk_method", &c->moe_topk_method));
  const std::string& m = c->moe_topk_method;
  if (m != "greedy" && m != "group_limited_greedy" && m != "noaux_tc") {
    return f.Error("topk_method", "'" + m + "' is not supported (supported: greedy, group_limited_greedy, noaux_tc)");
  }
  KITE_RETURN_IF_ERROR(f.U32("n_group", &c->moe_n_group));
  KITE_RETURN_IF_ERROR(f.U32("topk_group", &c->moe_topk_group));
  if (f.IsNull("n_group")) c->moe_n_group = 1;
  if (f.IsNull("topk_group")) c->moe_topk_group = 1;
  if (has_experts && c->num_experts > 0) {
    if (c->num_experts_per_tok == 0 || c->num_experts_per_tok > c->num_experts) {
      return f.Error("num_experts_per_tok", "is " + std::to_string(c->num_experts_per_tok) + "; it must be in [1, " +
                                                "n_routed_experts = " + std::to_string(c->num_experts) + "]");
    }
    if (m != "greedy") {
      if (c->moe_n_group == 0 || c->num_experts % c->moe_n_group != 0 || c->moe_topk_group == 0 ||
          c->moe_topk_group > c->moe_n_group || c->moe_n_group > 64) {
        return f.Error("n_group", std::to_string(c->moe_n_group) + " (with topk_group " +
                                      std::to_string(c->moe_topk_group) + ") must divide n_routed_experts " +
                                      std::to_string(c->num_experts) + " and be at most 64");
      }
    }
    // DeepSeek's MoE gate: V2 either renormalises (norm_topk_prob, k > 1) or scales by
    // routed_scaling_factor, never both; V3 renormalises when asked and always scales.
    if (!v3) {
      if (c->norm_topk_prob && c->num_experts_per_tok > 1) {
        c->routed_scaling_factor = 1.0f;
      } else {
        c->norm_topk_prob = false;
      }
    }
    // Sparse iff i >= first_k_dense_replace and i % moe_layer_freq == 0 (DeepSeek's modeling code).
    c->moe_layers.assign(c->num_layers, 0);
    for (uint32_t i = 0; i < c->num_layers; ++i) c->moe_layers[i] = i >= first_k_dense && i % moe_layer_freq == 0;
  } else {
    c->num_experts = 0;
    c->num_experts_per_tok = 0;
  }
  return ParseTokenIds(f, c);
}

}  // namespace hf
}  // namespace kite
