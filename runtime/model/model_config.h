// ModelConfig: every hyper-parameter of a model, written by the converter
// (from config.json), stored in the artifact (table ModelConfig in kite.fbs)
// and read by the runtime. Field names follow Hugging Face's config.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kite {

struct RopeScalingConfig {
  std::string type = "default";  // "default", "linear", "llama3", "dynamic", "yarn"
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  uint32_t original_max_position_embeddings = 0;
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  float mscale = 1.0f;
  float mscale_all_dim = 0.0f;
  float attention_factor = 0.0f;
};

struct ModelConfig {
  std::string architecture;  // "LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"
  std::string model_type;
  uint32_t vocab_size = 0;
  uint32_t hidden_size = 0;
  uint32_t intermediate_size = 0;
  uint32_t num_layers = 0;
  uint32_t num_heads = 0;
  uint32_t num_kv_heads = 0;
  uint32_t head_dim = 0;
  uint32_t max_position_embeddings = 0;
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeScalingConfig rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;      // q/k/v projections carry biases
  bool attention_out_bias = false;  // o_proj carries a bias
  bool mlp_bias = false;
  bool qk_norm = false;             // per-head RMSNorm on q and k before RoPE (Qwen3)
  std::string hidden_act = "silu";
  int32_t bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;
  int32_t pad_token_id = -1;
};

}  // namespace kite
