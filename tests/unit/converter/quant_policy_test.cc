// Which dtype each tensor gets under each scheme and override.
#include <gtest/gtest.h>

#include "converter/quant_policy.h"

namespace kite {
namespace {

TensorSpec Choose(QuantScheme scheme, const std::string& name, std::vector<int64_t> shape,
                  std::vector<std::string> overrides = {}, int64_t group = 32) {
  auto policy = QuantPolicy::Create(scheme, group, overrides);
  EXPECT_TRUE(policy.ok()) << policy.status().ToString();
  return policy->Choose(name, shape);
}

TEST(QuantPolicy, SchemesAndTheirRules) {
  const std::string q = "model.layers.0.self_attn.q_proj.weight";
  EXPECT_EQ(Choose(QuantScheme::kF32, q, {64, 64}).dtype, DType::kF32);
  EXPECT_EQ(Choose(QuantScheme::kF16, q, {64, 64}).dtype, DType::kF16);
  EXPECT_EQ(Choose(QuantScheme::kQ8, q, {64, 64}).dtype, DType::kQ8);
  EXPECT_EQ(Choose(QuantScheme::kQ4, q, {64, 64}).dtype, DType::kQ4);
  EXPECT_EQ(Choose(QuantScheme::kQ4, q, {64, 64}).group_size, 32);
  EXPECT_EQ(Choose(QuantScheme::kQ4, q, {64, 64}, {}, 128).group_size, 128);
  EXPECT_EQ(Choose(QuantScheme::kQ8, q, {64, 64}).group_size, 0);
  // mixed: embeddings and lm_head q8, other matrices q4.
  EXPECT_EQ(Choose(QuantScheme::kMixed, q, {64, 64}).dtype, DType::kQ4);
  EXPECT_EQ(Choose(QuantScheme::kMixed, "model.embed_tokens.weight", {512, 64}).dtype, DType::kQ8);
  EXPECT_EQ(Choose(QuantScheme::kMixed, "lm_head.weight", {512, 64}).dtype, DType::kQ8);
  EXPECT_EQ(Choose(QuantScheme::kQ4, "model.embed_tokens.weight", {512, 64}).dtype, DType::kQ4);
  // 1-D tensors stay f32 whatever the scheme or override says.
  for (QuantScheme s : {QuantScheme::kF16, QuantScheme::kQ8, QuantScheme::kQ4, QuantScheme::kMixed}) {
    EXPECT_EQ(Choose(s, "model.norm.weight", {64}, {"norm=q8"}).dtype, DType::kF32);
    EXPECT_EQ(Choose(s, "model.layers.0.self_attn.q_proj.bias", {64}).dtype, DType::kF32);
  }
}

TEST(QuantPolicy, OverridesSearchTheNameAndTheLastMatchWins) {
  const std::string down = "model.layers.3.mlp.down_proj.weight";
  EXPECT_EQ(Choose(QuantScheme::kMixed, down, {64, 172}, {"mlp\\.down_proj=q8"}).dtype, DType::kQ8);
  EXPECT_EQ(Choose(QuantScheme::kMixed, down, {64, 172}, {"down=q8", "layers\\.3\\.=f16"}).dtype, DType::kF16);
  EXPECT_EQ(Choose(QuantScheme::kMixed, down, {64, 172}, {"layers\\.3\\.=f16", "down=q8"}).dtype, DType::kQ8);
  EXPECT_EQ(Choose(QuantScheme::kQ8, down, {64, 172}, {"^model\\.layers\\.3=q4"}, 64).group_size, 64);
  EXPECT_EQ(Choose(QuantScheme::kQ8, down, {64, 172}, {"up_proj=q4"}).dtype, DType::kQ8);
  // '=' inside the regex: the last '=' separates the scheme.
  EXPECT_EQ(Choose(QuantScheme::kQ8, "a=b", {4, 4}, {"a=b=f32"}).dtype, DType::kF32);

  auto policy = QuantPolicy::Create(QuantScheme::kQ8, 32, {"down=q4", "nothing_matches=f32"});
  ASSERT_TRUE(policy.ok());
  policy->Choose(down, {64, 172});
  EXPECT_EQ(policy->UnusedOverrides(), std::vector<std::string>{"nothing_matches=f32"});
}

TEST(QuantPolicy, RoutersAndGpt2Tables) {
  // MoE routers stay f32 under q8/q4/mixed (expert choices are discrete); f16 is kept; an
  // override still wins.
  const std::string router = "model.layers.3.mlp.gate.weight";
  for (QuantScheme s : {QuantScheme::kQ8, QuantScheme::kQ4, QuantScheme::kMixed}) {
    EXPECT_EQ(Choose(s, router, {8, 64}).dtype, DType::kF32);
  }
  EXPECT_EQ(Choose(QuantScheme::kF16, router, {8, 64}).dtype, DType::kF16);
  EXPECT_EQ(Choose(QuantScheme::kQ4, router, {8, 64}, {"mlp\\.gate\\.=q8"}).dtype, DType::kQ8);
  EXPECT_EQ(Choose(QuantScheme::kMixed, "model.layers.3.mlp.gate_proj.weight", {160, 64}).dtype, DType::kQ4);
  // GPT-2's token and position tables count as embeddings under mixed.
  EXPECT_EQ(Choose(QuantScheme::kMixed, "wte.weight", {320, 64}).dtype, DType::kQ8);
  EXPECT_EQ(Choose(QuantScheme::kMixed, "wpe.weight", {64, 64}).dtype, DType::kQ8);
  EXPECT_EQ(Choose(QuantScheme::kMixed, "h.0.mlp.c_fc.weight", {256, 64}).dtype, DType::kQ4);
}

TEST(QuantPolicy, BadArguments) {
  EXPECT_FALSE(ParseQuantScheme("q5").ok());
  EXPECT_NE(ParseQuantScheme("int4").status().message().find("f32, f16, q8, q4 or mixed"), std::string::npos);
  EXPECT_EQ(ParseQuantScheme("mixed").value(), QuantScheme::kMixed);
  auto group = QuantPolicy::Create(QuantScheme::kQ4, 48, {});
  ASSERT_FALSE(group.ok());
  EXPECT_NE(group.status().message().find("group size 48"), std::string::npos);
  auto no_eq = QuantPolicy::Create(QuantScheme::kQ4, 32, {"q_proj"});
  ASSERT_FALSE(no_eq.ok());
  EXPECT_NE(no_eq.status().message().find("is not REGEX=SCHEME"), std::string::npos);
  auto bad_scheme = QuantPolicy::Create(QuantScheme::kQ4, 32, {"q_proj=mixed"});
  ASSERT_FALSE(bad_scheme.ok());
  EXPECT_NE(bad_scheme.status().message().find("must be f32, f16, q8 or q4"), std::string::npos);
  auto bad_regex = QuantPolicy::Create(QuantScheme::kQ4, 32, {"(unclosed=q8"});
  ASSERT_FALSE(bad_regex.ok());
  EXPECT_NE(bad_regex.status().message().find("invalid regular expression"), std::string::npos);
}

}  // namespace
}  // namespace kite
