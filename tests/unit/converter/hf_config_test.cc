// config.json -> ModelConfig for the supported architectures, and a clear
// error naming the field for everything else.
#include <gtest/gtest.h>

#include "converter/hf_config.h"
#include "runtime/core/file.h"
#include "tests/test_paths.h"

namespace kite {
namespace {

using testing::SharedPath;

Result<ModelConfig> Parse(const std::string& json) { return ParseHfConfig(json, "config.json"); }

std::string ErrorOf(const std::string& json) {
  auto r = Parse(json);
  return r.ok() ? std::string("ok") : r.status().message();
}

// A minimal Llama config with `extra` fields spliced in.
std::string Llama(const std::string& extra = "") {
  return R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 100, "hidden_size": 64,
             "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4)" +
         (extra.empty() ? std::string() : ", " + extra) + "}";
}

TEST(HfConfig, Stories260K) {
  auto c = LoadHfConfig(SharedPath("models/stories260K/hf"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_EQ(c->vocab_size, 512u);
  EXPECT_EQ(c->hidden_size, 64u);
  EXPECT_EQ(c->intermediate_size, 172u);
  EXPECT_EQ(c->num_layers, 5u);
  EXPECT_EQ(c->num_heads, 8u);
  EXPECT_EQ(c->num_kv_heads, 4u);
  EXPECT_EQ(c->head_dim, 8u);
  EXPECT_EQ(c->max_position_embeddings, 512u);
  EXPECT_FLOAT_EQ(c->norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c->rope_theta, 10000.0f);
  EXPECT_EQ(c->rope_scaling.type, "default");
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_FALSE(c->qk_norm);
  EXPECT_EQ(c->hidden_act, "silu");
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_EQ(c->eos_token_ids, std::vector<int32_t>{2});
  EXPECT_EQ(c->pad_token_id, -1);  // null
}

TEST(HfConfig, RandomCheckpoints) {
  auto llama = LoadHfConfig(SharedPath("models/random/llama"));
  ASSERT_TRUE(llama.ok()) << llama.status().ToString();
  EXPECT_EQ(llama->rope_scaling.type, "llama3");
  EXPECT_FLOAT_EQ(llama->rope_scaling.factor, 8.0f);
  EXPECT_FLOAT_EQ(llama->rope_scaling.low_freq_factor, 1.0f);
  EXPECT_FLOAT_EQ(llama->rope_scaling.high_freq_factor, 4.0f);
  EXPECT_EQ(llama->rope_scaling.original_max_position_embeddings, 64u);
  EXPECT_FALSE(llama->tie_word_embeddings);
  EXPECT_EQ(llama->head_dim, 16u);

  auto tied = LoadHfConfig(SharedPath("models/random/llama_tied_linear"));
  ASSERT_TRUE(tied.ok());
  EXPECT_EQ(tied->rope_scaling.type, "linear");
  EXPECT_FLOAT_EQ(tied->rope_scaling.factor, 2.0f);
  EXPECT_FLOAT_EQ(tied->rope_theta, 500000.0f);
  EXPECT_EQ(tied->num_heads / tied->num_kv_heads, 4u);

  auto qwen2 = LoadHfConfig(SharedPath("models/random/qwen2"));
  ASSERT_TRUE(qwen2.ok());
  EXPECT_TRUE(qwen2->attention_bias);
  EXPECT_FALSE(qwen2->attention_out_bias);
  EXPECT_EQ(qwen2->head_dim, 16u);  // hidden 64 / 4 heads

  auto qwen3 = LoadHfConfig(SharedPath("models/random/qwen3"));
  ASSERT_TRUE(qwen3.ok());
  EXPECT_TRUE(qwen3->qk_norm);
  EXPECT_FALSE(qwen3->attention_bias);
  EXPECT_EQ(qwen3->head_dim, 32u);  // explicit, != 96 / 4
}

TEST(HfConfig, RealModelConfigs) {
  for (const char* name : {"llama3.2-1b", "qwen2.5-0.5b", "qwen3-0.6b", "smollm2-135m"}) {
    auto text = ReadTextFile(SharedPath(std::string("models/configs/") + name + ".json"));
    ASSERT_TRUE(text.ok());
    auto c = Parse(text.value());
    EXPECT_TRUE(c.ok()) << name << ": " << c.status().ToString();
  }
  auto llama32 = Parse(ReadTextFile(SharedPath("models/configs/llama3.2-1b.json")).value());
  EXPECT_EQ(llama32->eos_token_ids, (std::vector<int32_t>{128001, 128008, 128009}));
  EXPECT_EQ(llama32->rope_scaling.type, "llama3");
  auto smol = Parse(ReadTextFile(SharedPath("models/configs/smollm2-135m.json")).value());
  EXPECT_EQ(smol->head_dim, 64u);
  EXPECT_EQ(smol->pad_token_id, 2);
}

TEST(HfConfig, DefaultsFollowTheTransformersClasses) {
  auto llama = Parse(Llama());
  ASSERT_TRUE(llama.ok()) << llama.status().ToString();
  EXPECT_EQ(llama->num_kv_heads, 4u);
  EXPECT_EQ(llama->head_dim, 16u);
  EXPECT_EQ(llama->max_position_embeddings, 2048u);
  EXPECT_FLOAT_EQ(llama->norm_eps, 1e-6f);
  EXPECT_FALSE(llama->tie_word_embeddings);
  auto qwen3 = Parse(R"({"architectures": ["Qwen3ForCausalLM"], "vocab_size": 100, "hidden_size": 64,
                         "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                         "num_key_value_heads": null, "head_dim": null})");
  ASSERT_TRUE(qwen3.ok()) << qwen3.status().ToString();
  EXPECT_EQ(qwen3->head_dim, 128u);
  EXPECT_EQ(qwen3->num_kv_heads, 4u);
  EXPECT_EQ(qwen3->max_position_embeddings, 32768u);
}

TEST(HfConfig, RopeVariants) {
  auto params = Parse(Llama(R"("rope_parameters": {"rope_type": "default", "rope_theta": 123456.0})"));
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  EXPECT_FLOAT_EQ(params->rope_theta, 123456.0f);
  EXPECT_EQ(params->rope_scaling.type, "default");
  auto params_llama3 = Parse(Llama(R"("rope_parameters": {"rope_type": "llama3", "rope_theta": 5e5, "factor": 32,
      "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192})"));
  ASSERT_TRUE(params_llama3.ok()) << params_llama3.status().ToString();
  EXPECT_EQ(params_llama3->rope_scaling.type, "llama3");
  EXPECT_FLOAT_EQ(params_llama3->rope_scaling.factor, 32.0f);
  EXPECT_EQ(params_llama3->rope_scaling.original_max_position_embeddings, 8192u);
  auto legacy = Parse(Llama(R"("rope_scaling": {"type": "linear", "factor": 4.0})"));
  ASSERT_TRUE(legacy.ok()) << legacy.status().ToString();
  EXPECT_EQ(legacy->rope_scaling.type, "linear");
  EXPECT_FLOAT_EQ(legacy->rope_scaling.factor, 4.0f);

  EXPECT_NE(ErrorOf(Llama(R"("rope_scaling": {"rope_type": "yarn", "factor": 4.0})"))
                .find("field 'rope_scaling.rope_type' 'yarn' is not supported (supported: default, linear, llama3)"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Llama(R"("rope_scaling": {"type": "dynamic", "factor": 4.0})")).find("'rope_scaling.type'"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Llama(R"("rope_scaling": {"rope_type": "llama3", "factor": 8.0})"))
                .find("missing field 'rope_scaling.low_freq_factor'"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Llama(R"("rope_scaling": {"rope_type": "linear"})")).find("missing field 'rope_scaling.factor'"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Llama(R"("rope_scaling": {"rope_type": "linear", "factor": -2})")).find("must be positive"),
            std::string::npos);
}

TEST(HfConfig, ClearErrorsNameTheField) {
  EXPECT_EQ(ErrorOf(R"({"architectures": ["MambaForCausalLM"]})"),
            "config.json: architectures[0] 'MambaForCausalLM' is not supported (supported: LlamaForCausalLM, "
            "Qwen2ForCausalLM, Qwen3ForCausalLM, Qwen3MoeForCausalLM, MistralForCausalLM, MixtralForCausalLM, "
            "GPT2LMHeadModel, Gemma3ForCausalLM, DeepseekV2ForCausalLM, DeepseekV3ForCausalLM, Qwen2MoeForCausalLM)");
  EXPECT_EQ(ErrorOf("{}"), "config.json: missing field 'architectures'");
  EXPECT_EQ(ErrorOf("[1, 2]"), "config.json: not a JSON object");
  EXPECT_EQ(ErrorOf("{not json"), "config.json: not a JSON object");
  EXPECT_NE(ErrorOf(R"({"architectures": []})").find("non-empty list"), std::string::npos);
  EXPECT_EQ(ErrorOf(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10})"),
            "config.json: missing field 'hidden_size'");
  EXPECT_NE(ErrorOf(Llama(R"("hidden_act": "gelu")")).find("field 'hidden_act' 'gelu' is not supported"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Llama(R"("num_key_value_heads": 3)")).find("4 is not a multiple of num_key_value_heads 3"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Llama(R"("num_key_value_heads": 0)")).find("'num_key_value_heads' must be positive"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Llama(R"("max_position_embeddings": "long")")).find("'max_position_embeddings' must be"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Llama(R"("eos_token_id": [2, 100])")).find("'eos_token_id' must be a token id below vocab_size 100"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Llama(R"("bos_token_id": 100)")).find("'bos_token_id' is 100, outside the vocabulary"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Llama(R"("rms_norm_eps": 0)")).find("'rms_norm_eps' must be positive"), std::string::npos);
  auto no_head_dim = R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 100, "hidden_size": 60,
                         "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 8})";
  EXPECT_NE(ErrorOf(no_head_dim).find("60 is not a multiple of num_attention_heads 8"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"architectures": ["Qwen2ForCausalLM"], "vocab_size": 100, "hidden_size": 64,
                        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                        "use_sliding_window": true, "sliding_window": 0, "max_window_layers": 1})")
                .find("'sliding_window' must be positive"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"architectures": ["Qwen3ForCausalLM"], "vocab_size": 100, "hidden_size": 64,
                        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                        "layer_types": ["full_attention", "windowed"]})")
                .find("'layer_types' contains \"windowed\""),
            std::string::npos);
}

// Qwen2/Qwen3 sliding windows, decided per layer as the config classes do (kite_ref.py's
// _layer_is_sliding): layer_types when given, else use_sliding_window with layers >= max_window_layers.
TEST(HfConfig, QwenSlidingWindowLayers) {
  const std::string head = R"({"architectures": ["Qwen2ForCausalLM"], "vocab_size": 100, "hidden_size": 64,
                               "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, )";
  auto on = ParseHfConfig(head + R"("use_sliding_window": true, "sliding_window": 5, "max_window_layers": 2})", "c");
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_EQ(on->sliding_window, 5u);
  EXPECT_EQ(on->sliding_layers, (std::vector<uint8_t>{0, 0, 1, 1}));
  // Off, or no window, or every layer below max_window_layers: a plain full-attention model.
  for (const char* tail : {R"("use_sliding_window": false, "sliding_window": 5, "max_window_layers": 0})",
                           R"("use_sliding_window": true, "sliding_window": null, "max_window_layers": 0})",
                           R"("use_sliding_window": true, "sliding_window": 5})"}) {  // default max_window_layers 28
    auto off = ParseHfConfig(head + tail, "c");
    ASSERT_TRUE(off.ok()) << off.status().ToString();
    EXPECT_TRUE(off->sliding_layers.empty()) << tail;
  }
  // layer_types wins over use_sliding_window.
  auto types = ParseHfConfig(head + R"("use_sliding_window": false, "sliding_window": 3, "layer_types":
      ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]})", "c");
  ASSERT_TRUE(types.ok()) << types.status().ToString();
  EXPECT_EQ(types->sliding_window, 3u);
  EXPECT_EQ(types->sliding_layers, (std::vector<uint8_t>{1, 0, 1, 0}));
}

// Qwen2-MoE: Qwen2MoeConfig's defaults, the sparse-layer rule, the gated shared expert.
TEST(HfConfig, Qwen2MoeFieldsAndDefaults) {
  auto d = ParseHfConfig(R"({"architectures": ["Qwen2MoeForCausalLM"], "vocab_size": 100, "hidden_size": 64,
                             "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4})", "c");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->num_experts, 60u);
  EXPECT_EQ(d->num_experts_per_tok, 4u);
  EXPECT_EQ(d->moe_intermediate_size, 1408u);
  EXPECT_EQ(d->shared_expert_intermediate_size, 5632u);
  EXPECT_EQ(d->num_shared_experts, 1u);
  EXPECT_TRUE(d->shared_expert_gate);
  EXPECT_FALSE(d->norm_topk_prob);
  EXPECT_TRUE(d->attention_bias);
  EXPECT_FALSE(d->attention_out_bias);
  EXPECT_FALSE(d->qk_norm);
  EXPECT_EQ(d->moe_layers, (std::vector<uint8_t>{1, 1, 1, 1}));
  auto s = ParseHfConfig(R"({"architectures": ["Qwen2MoeForCausalLM"], "vocab_size": 100, "hidden_size": 64,
                             "intermediate_size": 128, "num_hidden_layers": 6, "num_attention_heads": 4,
                             "decoder_sparse_step": 2, "mlp_only_layers": [3], "norm_topk_prob": true,
                             "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                             "shared_expert_intermediate_size": 48, "qkv_bias": false})", "c");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->moe_layers, (std::vector<uint8_t>{0, 1, 0, 0, 0, 1}));  // (i + 1) % 2 == 0, not layer 3
  EXPECT_TRUE(s->norm_topk_prob);
  EXPECT_FALSE(s->attention_bias);
  EXPECT_EQ(s->shared_expert_width(), 48u);
  EXPECT_NE(ErrorOf(R"({"architectures": ["Qwen2MoeForCausalLM"], "vocab_size": 100, "hidden_size": 64,
                        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                        "num_experts": 4, "num_experts_per_tok": 5})")
                .find("'num_experts_per_tok' is 5"),
            std::string::npos);
}

TEST(HfConfig, MissingFolder) {
  auto missing = LoadHfConfig(testing::TempPath("no_such_checkpoint"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("config.json: not found"), std::string::npos);
}

}  // namespace
}  // namespace kite
