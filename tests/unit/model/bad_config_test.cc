// The new config fields survive the .kite header both ways, and an artifact
// whose config or tensors do not fit its family is refused at load with a
// Status naming the field or tensor - never a crash. The artifacts are real
// conversions rewritten with one thing changed (tensor bytes copied as-is).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "runtime/artifact/artifact_metadata.h"
#include "runtime/artifact/artifact_writer.h"
#include "runtime/model/model.h"
#include "tests/unit/model/model_test_util.h"

namespace kite {
namespace testing {
namespace {

// Copies `source` to a new artifact after `edit` changes its metadata or tensor list.
std::string Rewrite(const std::string& source, const std::string& name,
                    const std::function<void(ArtifactMetadata&, std::vector<TensorSpec>&)>& edit) {
  auto a = Artifact::Open(source);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  if (!a.ok()) return "";
  ArtifactMetadata m;
  m.producer = (*a)->producer();
  m.config = (*a)->config();
  m.quantization = (*a)->quantization();
  std::vector<TensorSpec> specs;
  for (const TensorView& t : (*a)->tensors()) specs.push_back({t.name, t.shape, t.dtype, t.group_size});
  edit(m, specs);
  const std::string out = TempPath(name + ".kite");
  auto writer = ArtifactWriter::Create(out, m, specs);
  EXPECT_TRUE(writer.ok()) << writer.status().ToString();
  if (!writer.ok()) return "";
  for (const TensorSpec& spec : specs) {
    const TensorView* t = (*a)->Find(spec.name);
    EXPECT_NE(t, nullptr) << spec.name;
    if (t == nullptr) return "";
    EXPECT_TRUE((*writer)->WriteTensor(t->data, t->data_bytes, t->scales, t->scales_bytes).ok());
  }
  EXPECT_TRUE((*writer)->Finish().ok());
  return out;
}

Status LoadStatus(const std::string& path) {
  auto artifact = Artifact::Open(path);
  if (!artifact.ok()) return artifact.status();
  return CreateModel(**artifact, kernels::ReferenceGemmKernels()).status();
}

TEST(NewConfigFields, RoundTripThroughTheHeader) {
  const std::string base = ConvertDir(SharedPath("models/random/deepseek_v2"), "fields_base");
  const std::string path = Rewrite(base, "fields_roundtrip", [](ArtifactMetadata& m, std::vector<TensorSpec>&) {
    ModelConfig& c = m.config;
    c.scale_attn_by_inverse_layer_idx = true;
    c.sliding_window = 7;
    c.sliding_layers = {1, 0, 1, 0};
    c.rope_local_base_freq = 12345.0f;
    c.query_pre_attn_scalar = 33.0f;
    c.attn_logit_softcapping = 50.0f;
    c.final_logit_softcapping = 30.0f;
    c.moe_scoring = "sigmoid";
    c.moe_topk_method = "noaux_tc";
    c.moe_n_group = 4;
    c.moe_topk_group = 2;
    c.norm_topk_prob = true;
    c.routed_scaling_factor = 2.5f;
    c.shared_expert_intermediate_size = 96;  // Qwen2-MoE fields (appended to the schema last)
    c.shared_expert_gate = true;
  });
  auto a = Artifact::Open(path);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const ModelConfig& c = (*a)->config();
  EXPECT_TRUE(c.scale_attn_by_inverse_layer_idx);
  EXPECT_EQ(c.sliding_window, 7u);
  EXPECT_EQ(c.sliding_layers, (std::vector<uint8_t>{1, 0, 1, 0}));
  EXPECT_FLOAT_EQ(c.rope_local_base_freq, 12345.0f);
  EXPECT_FLOAT_EQ(c.query_pre_attn_scalar, 33.0f);
  EXPECT_FLOAT_EQ(c.attn_logit_softcapping, 50.0f);
  EXPECT_FLOAT_EQ(c.final_logit_softcapping, 30.0f);
  EXPECT_EQ(c.num_experts, 8u);
  EXPECT_EQ(c.num_experts_per_tok, 2u);
  EXPECT_EQ(c.moe_intermediate_size, 32u);
  EXPECT_EQ(c.num_shared_experts, 1u);
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_FLOAT_EQ(c.routed_scaling_factor, 2.5f);
  EXPECT_EQ(c.moe_layers, (std::vector<uint8_t>{0, 1, 1, 1}));
  EXPECT_EQ(c.moe_scoring, "sigmoid");
  EXPECT_EQ(c.moe_topk_method, "noaux_tc");
  EXPECT_EQ(c.moe_n_group, 4u);
  EXPECT_EQ(c.moe_topk_group, 2u);
  EXPECT_EQ(c.q_lora_rank, 48u);
  EXPECT_EQ(c.kv_lora_rank, 32u);
  EXPECT_EQ(c.qk_nope_head_dim, 16u);
  EXPECT_EQ(c.qk_rope_head_dim, 8u);
  EXPECT_EQ(c.v_head_dim, 12u);
  EXPECT_EQ(c.shared_expert_intermediate_size, 96u);
  EXPECT_TRUE(c.shared_expert_gate);
  // An artifact without these fields (a Llama conversion) reads them as "not used".
  auto llama = Artifact::Open(ConvertDir(SharedPath("models/random/llama"), "fields_llama"));
  ASSERT_TRUE(llama.ok());
  EXPECT_TRUE((*llama)->config().sliding_layers.empty());
  EXPECT_TRUE((*llama)->config().moe_layers.empty());
  EXPECT_EQ((*llama)->config().kv_lora_rank, 0u);
  EXPECT_EQ((*llama)->config().moe_scoring, "softmax");
  EXPECT_EQ((*llama)->config().shared_expert_intermediate_size, 0u);
  EXPECT_FALSE((*llama)->config().shared_expert_gate);
}

struct BadCase {
  const char* model;
  const char* expected;  // a piece of the message
  std::function<void(ArtifactMetadata&, std::vector<TensorSpec>&)> edit;
};

TEST(NewConfigFields, BadArtifactsAreRefusedWithAReason) {
  const BadCase cases[] = {
      {"gemma3", "sliding_layers has 5 entries for 6 layers",
       [](ArtifactMetadata& m, std::vector<TensorSpec>&) { m.config.sliding_layers.resize(5); }},
      {"gemma3", "layer 0 slides but sliding_window is 0",
       [](ArtifactMetadata& m, std::vector<TensorSpec>&) { m.config.sliding_window = 0; }},
      {"gemma3", "missing tensor 'model.layers.2.self_attn.k_norm.weight'",
       [](ArtifactMetadata&, std::vector<TensorSpec>& t) {
         t.erase(std::remove_if(t.begin(), t.end(),
                                [](const TensorSpec& s) { return s.name == "model.layers.2.self_attn.k_norm.weight"; }),
                 t.end());
       }},
      {"gemma3", "query_pre_attn_scalar must be finite and >= 0",
       [](ArtifactMetadata& m, std::vector<TensorSpec>&) { m.config.query_pre_attn_scalar = -1.0f; }},
      {"qwen3_moe", "num_experts_per_tok 9 must be in [1, num_experts = 8]",
       [](ArtifactMetadata& m, std::vector<TensorSpec>&) { m.config.num_experts_per_tok = 9; }},
      {"qwen3_moe", "missing tensor 'model.layers.1.mlp.gate.weight'",
       [](ArtifactMetadata& m, std::vector<TensorSpec>&) { m.config.moe_layers[1] = 1; }},
      {"qwen3_moe", "moe_topk_method 'sinkhorn'",
       [](ArtifactMetadata& m, std::vector<TensorSpec>&) { m.config.moe_topk_method = "sinkhorn"; }},
      {"deepseek_v2", "even qk_rope_head_dim",
       [](ArtifactMetadata& m, std::vector<TensorSpec>&) { m.config.qk_rope_head_dim = 7; }},
      {"deepseek_v2", "tensor 'model.layers.0.self_attn.kv_b_proj.weight' has shape [112, 32] but the config implies",
       [](ArtifactMetadata& m, std::vector<TensorSpec>&) { m.config.v_head_dim = 13; }},
      {"gpt2", "tensor 'wpe.weight' has shape [64, 64] but the config implies [128, 64]",
       [](ArtifactMetadata& m, std::vector<TensorSpec>&) { m.config.max_position_embeddings = 128; }},
      {"gpt2", "GPT-2 needs num_heads == num_kv_heads",
       [](ArtifactMetadata& m, std::vector<TensorSpec>&) { m.config.num_kv_heads = 2; }},
  };
  for (const BadCase& bad : cases) {
    SCOPED_TRACE(std::string(bad.model) + ": " + bad.expected);
    const std::string base = ConvertDir(SharedPath(std::string("models/random/") + bad.model),
                                        std::string("bad_base_") + bad.model);
    const std::string path = Rewrite(base, std::string("bad_") + bad.model, bad.edit);
    ASSERT_FALSE(path.empty());
    const Status s = LoadStatus(path);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(bad.expected), std::string::npos) << s.ToString();
  }
}

}  // namespace
}  // namespace testing
}  // namespace kite
