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
  std::string architecture;  // HF architectures[0]: "LlamaForCausalLM", "Gemma3ForCausalLM", ...
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

  // ---- Added with GPT-2, sliding-window, MoE and MLA families. Every default means "not used",
  // so an artifact written before these fields existed reads exactly as it did.

  // GPT-2: attention scores divided by (layer + 1).
  bool scale_attn_by_inverse_layer_idx = false;

  // Sliding-window attention (Gemma 3, Mistral, Qwen2/Qwen3 with use_sliding_window).
  uint32_t sliding_window = 0;          // keys a sliding layer sees, the query's own included
  std::vector<uint8_t> sliding_layers;  // [num_layers] 1: the layer is windowed; empty: none is
  float rope_local_base_freq = 0.0f;    // Gemma 3: RoPE base of sliding layers (no scaling); 0: rope_theta
  float query_pre_attn_scalar = 0.0f;   // Gemma 3: scores scaled by this^-1/2; 0: head_dim
  float attn_logit_softcapping = 0.0f;  // c * tanh(s / c) on scores; 0: off
  float final_logit_softcapping = 0.0f; // c * tanh(l / c) on logits; 0: off

  // Mixture of experts (Qwen3-MoE, Mixtral, DeepSeek).
  uint32_t num_experts = 0;             // routed experts per sparse layer; 0: dense model
  uint32_t num_experts_per_tok = 0;     // top-k
  uint32_t moe_intermediate_size = 0;   // per routed expert
  uint32_t num_shared_experts = 0;      // DeepSeek: one shared MLP of moe_intermediate_size * n
  uint32_t shared_expert_intermediate_size = 0;  // Qwen2-MoE: width of its one shared expert; 0: none
  bool shared_expert_gate = false;      // Qwen2-MoE: shared output x sigmoid(shared_expert_gate . x)
  bool norm_topk_prob = false;          // renormalise the top-k weights to sum to 1
  float routed_scaling_factor = 1.0f;   // DeepSeek: weights x factor
  std::vector<uint8_t> moe_layers;      // [num_layers] 1: the layer's MLP is sparse (computed by the converter)
  std::string moe_scoring = "softmax";  // router scores: "softmax" or "sigmoid" (DeepSeek-V3)
  std::string moe_topk_method = "greedy";  // "greedy", or "noaux_tc" (V3: grouped top-k on bias-corrected scores)
  uint32_t moe_n_group = 1;             // noaux_tc: expert groups, of which topk_group are kept
  uint32_t moe_topk_group = 1;

  // Multi-head latent attention (DeepSeek-V2/V3).
  uint32_t q_lora_rank = 0;             // 0: plain q_proj
  uint32_t kv_lora_rank = 0;            // latent width; > 0 marks an MLA model
  uint32_t qk_nope_head_dim = 0;
  uint32_t qk_rope_head_dim = 0;
  uint32_t v_head_dim = 0;

  bool layer_is_sliding(uint32_t layer) const { return layer < sliding_layers.size() && sliding_layers[layer] != 0; }
  bool layer_is_moe(uint32_t layer) const { return layer < moe_layers.size() && moe_layers[layer] != 0; }
  // Width of the shared-expert MLP of a sparse layer (0: none): Qwen2-MoE's
  // shared_expert_intermediate_size, or DeepSeek's n_shared_experts x moe_intermediate_size.
  uint64_t shared_expert_width() const {
    if (shared_expert_intermediate_size > 0) return shared_expert_intermediate_size;
    return uint64_t{moe_intermediate_size} * num_shared_experts;
  }
};

}  // namespace kite
