// config.json -> ModelConfig for GPT-2, Gemma 3, Mistral/Mixtral, Qwen3-MoE
// and DeepSeek-V2/V3: the shared random checkpoints, the defaults of each
// transformers config class, and errors that name the field.
#include <gtest/gtest.h>

#include "converter/hf_config.h"
#include "tests/test_paths.h"

namespace kite {
namespace {

using testing::SharedPath;

std::string ErrorOf(const std::string& json) {
  auto r = ParseHfConfig(json, "config.json");
  return r.ok() ? std::string("ok") : r.status().message();
}

TEST(HfConfigFamilies, Gpt2) {
  auto c = LoadHfConfig(SharedPath("models/random/gpt2"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->hidden_size, 64u);
  EXPECT_EQ(c->num_layers, 4u);
  EXPECT_EQ(c->num_heads, 4u);
  EXPECT_EQ(c->num_kv_heads, 4u);
  EXPECT_EQ(c->head_dim, 16u);
  EXPECT_EQ(c->intermediate_size, 256u);  // n_inner null: 4 x n_embd
  EXPECT_EQ(c->max_position_embeddings, 64u);
  EXPECT_FLOAT_EQ(c->norm_eps, 1e-5f);
  EXPECT_EQ(c->hidden_act, "gelu_pytorch_tanh");
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_FALSE(c->scale_attn_by_inverse_layer_idx);
  auto tiny = LoadHfConfig(SharedPath("models/tiny-random-gpt2"));
  ASSERT_TRUE(tiny.ok()) << tiny.status().ToString();
  EXPECT_EQ(tiny->vocab_size, 1000u);
  EXPECT_EQ(tiny->hidden_size, 32u);
  EXPECT_EQ(tiny->num_layers, 5u);
  EXPECT_EQ(tiny->intermediate_size, 128u);
  EXPECT_NE(ErrorOf(R"({"architectures": ["GPT2LMHeadModel"], "n_embd": 64, "n_head": 6})")
                .find("'n_embd' 64 is not a multiple of n_head 6"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"architectures": ["GPT2LMHeadModel"], "activation_function": "relu"})")
                .find("'activation_function' 'relu' is not supported"),
            std::string::npos);
}

TEST(HfConfigFamilies, Gemma3) {
  auto c = LoadHfConfig(SharedPath("models/random/gemma3"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sliding_window, 6u);
  EXPECT_EQ(c->sliding_layers, (std::vector<uint8_t>{1, 1, 0, 1, 1, 0}));
  EXPECT_FLOAT_EQ(c->rope_local_base_freq, 1e4f);
  EXPECT_FLOAT_EQ(c->rope_theta, 1e6f);
  EXPECT_EQ(c->rope_scaling.type, "linear");
  EXPECT_FLOAT_EQ(c->rope_scaling.factor, 8.0f);
  EXPECT_FLOAT_EQ(c->query_pre_attn_scalar, 32.0f);
  EXPECT_EQ(c->final_logit_softcapping, 0.0f);
  EXPECT_TRUE(c->qk_norm);
  EXPECT_EQ(c->head_dim, 24u);
  auto soft = LoadHfConfig(SharedPath("models/random/gemma3_softcap"));
  ASSERT_TRUE(soft.ok());
  EXPECT_FLOAT_EQ(soft->attn_logit_softcapping, 3.0f);
  EXPECT_FLOAT_EQ(soft->final_logit_softcapping, 10.0f);
  // Without layer_types: every sliding_window_pattern-th layer is global.
  auto pattern = ParseHfConfig(R"({"architectures": ["Gemma3ForCausalLM"], "num_hidden_layers": 7,
                                   "sliding_window_pattern": 3, "sliding_window": 512})",
                               "config.json");
  ASSERT_TRUE(pattern.ok()) << pattern.status().ToString();
  EXPECT_EQ(pattern->sliding_layers, (std::vector<uint8_t>{1, 1, 0, 1, 1, 0, 1}));
  EXPECT_EQ(pattern->head_dim, 256u);  // Gemma3TextConfig default
  // Newer transformers: rope_parameters per layer type.
  auto params = ParseHfConfig(R"({"architectures": ["Gemma3ForCausalLM"], "num_hidden_layers": 2,
      "layer_types": ["sliding_attention", "full_attention"],
      "rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                          "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}})",
                              "config.json");
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  EXPECT_EQ(params->rope_scaling.type, "linear");
  EXPECT_FLOAT_EQ(params->rope_local_base_freq, 1e4f);
  EXPECT_NE(ErrorOf(R"({"architectures": ["Gemma3ForCausalLM"], "num_hidden_layers": 2,
                        "layer_types": ["sliding_attention"]})")
                .find("'layer_types' has 1 entries for num_hidden_layers 2"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"architectures": ["Gemma3ForCausalLM"], "use_bidirectional_attention": true})")
                .find("'use_bidirectional_attention' is true"),
            std::string::npos);
}

TEST(HfConfigFamilies, Qwen3MoeAndMixtral) {
  auto c = LoadHfConfig(SharedPath("models/random/qwen3_moe"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->num_experts, 8u);
  EXPECT_EQ(c->num_experts_per_tok, 2u);
  EXPECT_EQ(c->moe_intermediate_size, 48u);
  EXPECT_TRUE(c->norm_topk_prob);
  EXPECT_EQ(c->moe_layers, (std::vector<uint8_t>{1, 0, 1, 1}));  // mlp_only_layers [1]
  EXPECT_TRUE(c->qk_norm);
  auto step = ParseHfConfig(R"({"architectures": ["Qwen3MoeForCausalLM"], "vocab_size": 100, "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "num_experts": 4,
      "num_experts_per_tok": 2, "moe_intermediate_size": 32, "decoder_sparse_step": 2})",
                            "config.json");
  ASSERT_TRUE(step.ok()) << step.status().ToString();
  EXPECT_EQ(step->moe_layers, (std::vector<uint8_t>{0, 1, 0, 1}));  // (i + 1) % 2 == 0
  EXPECT_NE(ErrorOf(R"({"architectures": ["Qwen3MoeForCausalLM"], "vocab_size": 100, "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "num_experts": 4,
      "num_experts_per_tok": 5})")
                .find("'num_experts_per_tok' is 5; it must be in [1, num_experts = 4]"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"architectures": ["Qwen3MoeForCausalLM"], "vocab_size": 100, "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "mlp_only_layers": [7]})")
                .find("'mlp_only_layers' holds 7"),
            std::string::npos);
  auto mixtral = ParseHfConfig(R"({"architectures": ["MixtralForCausalLM"], "vocab_size": 100, "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
      "num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": null})",
                               "config.json");
  ASSERT_TRUE(mixtral.ok()) << mixtral.status().ToString();
  EXPECT_EQ(mixtral->moe_layers, (std::vector<uint8_t>{1, 1}));
  EXPECT_EQ(mixtral->moe_intermediate_size, 128u);
  EXPECT_TRUE(mixtral->norm_topk_prob);
  EXPECT_TRUE(mixtral->sliding_layers.empty());
  auto mistral = ParseHfConfig(R"({"architectures": ["MistralForCausalLM"], "vocab_size": 100, "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4})",
                               "config.json");
  ASSERT_TRUE(mistral.ok());
  EXPECT_EQ(mistral->sliding_window, 4096u);  // MistralConfig's default
  EXPECT_EQ(mistral->sliding_layers, (std::vector<uint8_t>{1, 1}));
}

TEST(HfConfigFamilies, Deepseek) {
  auto c = LoadHfConfig(SharedPath("models/random/deepseek_v2"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->q_lora_rank, 48u);
  EXPECT_EQ(c->kv_lora_rank, 32u);
  EXPECT_EQ(c->qk_nope_head_dim, 16u);
  EXPECT_EQ(c->qk_rope_head_dim, 8u);
  EXPECT_EQ(c->v_head_dim, 12u);
  EXPECT_EQ(c->num_kv_heads, 4u);
  EXPECT_EQ(c->num_experts, 8u);
  EXPECT_EQ(c->num_shared_experts, 1u);
  EXPECT_FLOAT_EQ(c->routed_scaling_factor, 2.0f);
  EXPECT_FALSE(c->norm_topk_prob);
  EXPECT_EQ(c->moe_layers, (std::vector<uint8_t>{0, 1, 1, 1}));  // first_k_dense_replace 1
  EXPECT_EQ(c->moe_scoring, "softmax");
  EXPECT_EQ(c->moe_topk_method, "greedy");
  auto lite = LoadHfConfig(SharedPath("models/random/deepseek_v2_lite_yarn"));
  ASSERT_TRUE(lite.ok()) << lite.status().ToString();
  EXPECT_EQ(lite->q_lora_rank, 0u);  // null: plain q_proj
  EXPECT_EQ(lite->num_shared_experts, 2u);
  EXPECT_EQ(lite->rope_scaling.type, "yarn");
  EXPECT_FLOAT_EQ(lite->rope_scaling.factor, 40.0f);
  EXPECT_EQ(lite->rope_scaling.original_max_position_embeddings, 64u);
  EXPECT_FLOAT_EQ(lite->rope_scaling.mscale, 0.707f);
  EXPECT_FLOAT_EQ(lite->rope_scaling.mscale_all_dim, 0.707f);
  // V3 defaults: sigmoid router, grouped top-k with correction bias, renormalised then scaled.
  auto v3 = ParseHfConfig(R"({"architectures": ["DeepseekV3ForCausalLM"], "num_hidden_layers": 5})", "config.json");
  ASSERT_TRUE(v3.ok()) << v3.status().ToString();
  EXPECT_EQ(v3->moe_scoring, "sigmoid");
  EXPECT_EQ(v3->moe_topk_method, "noaux_tc");
  EXPECT_EQ(v3->moe_n_group, 8u);
  EXPECT_EQ(v3->moe_topk_group, 4u);
  EXPECT_TRUE(v3->norm_topk_prob);
  EXPECT_FLOAT_EQ(v3->routed_scaling_factor, 2.5f);
  EXPECT_EQ(v3->moe_layers, (std::vector<uint8_t>{0, 0, 0, 1, 1}));
  // V2 with norm_topk_prob: renormalised, and then not scaled (DeepSeek-V2's gate).
  auto v2norm = ParseHfConfig(R"({"architectures": ["DeepseekV2ForCausalLM"], "num_experts_per_tok": 6,
                                  "norm_topk_prob": true, "routed_scaling_factor": 16.0})",
                              "config.json");
  ASSERT_TRUE(v2norm.ok()) << v2norm.status().ToString();
  EXPECT_TRUE(v2norm->norm_topk_prob);
  EXPECT_FLOAT_EQ(v2norm->routed_scaling_factor, 1.0f);
  EXPECT_NE(ErrorOf(R"({"architectures": ["DeepseekV2ForCausalLM"], "num_experts_per_tok": 6,
                        "topk_method": "sinkhorn"})")
                .find("'topk_method' 'sinkhorn' is not supported"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"architectures": ["DeepseekV2ForCausalLM"]})").find("'num_experts_per_tok' is 0"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"architectures": ["DeepseekV2ForCausalLM"], "num_experts_per_tok": 6,
                        "rope_scaling": {"type": "dynamic", "factor": 2}})")
                .find("'rope_scaling.type' 'dynamic' is not supported (supported: default, linear, yarn)"),
            std::string::npos);
}

}  // namespace
}  // namespace kite
