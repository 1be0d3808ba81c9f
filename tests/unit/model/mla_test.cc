// Multi-head latent attention (mla_attention.h): the absorbed form a
// latent-only cache needs (W_uk folded into the query, W_uv applied after the
// softmax) equals the decompressed keys/values formula HF writes, on the real
// kv_b_proj weights of both DeepSeek checkpoints, for decode and for a
// prefill batch; the cache holds (kv_lora_rank + rope dim) floats per layer
// and token. A DeepSeek-V3 config on the same weights runs the V3 router.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>

#include "runtime/model/deepseek_model.h"
#include "tests/unit/converter/converter_test_util.h"
#include "tests/unit/model/model_test_util.h"

namespace kite {
namespace testing {
namespace {

std::vector<float> Normal(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

class MlaOnCheckpoint : public ::testing::TestWithParam<std::string> {};

TEST_P(MlaOnCheckpoint, AbsorbedEqualsExpanded) {
  std::unique_ptr<Engine> engine = Load(ConvertDir(SharedPath("models/random/" + GetParam()), "mla_" + GetParam()));
  ASSERT_NE(engine, nullptr);
  const auto& model = static_cast<const DeepseekModel&>(engine->model());
  const MlaShape& shape = model.mla_shape();
  const int64_t H = shape.n_heads, qk = shape.nope_dim + shape.rope_dim, row = shape.cache_row();
  ThreadPool pool(2);
  for (int64_t layer : {0, 3}) {
    const Matrix& kv_b = model.layers()[layer].kv_b;
    for (auto [n, pos] : {std::pair<int64_t, int64_t>{1, 20}, {6, 0}, {4, 9}}) {
      SCOPED_TRACE("layer " + std::to_string(layer) + ", " + std::to_string(n) + " queries at " + std::to_string(pos));
      const std::vector<float> q = Normal(n * H * qk, 3 + n);
      const std::vector<float> cache = Normal((pos + n) * row, 7 + pos);
      MlaScratch scratch;
      scratch.Reserve(shape, n, pos + n, 2);
      MatMulScratch matmul;
      matmul.Reserve(n, shape.latent);
      std::vector<float> absorbed(n * H * shape.v_dim), expanded(n * H * shape.v_dim);
      MlaAttentionAbsorbed(shape, kv_b, kernels::ReferenceGemmKernels(), pool, matmul, scratch, q.data(),
                           cache.data(), n, pos, absorbed.data());
      MlaAttentionExpanded(shape, kv_b, q.data(), cache.data(), n, pos, expanded.data());
      double worst = 0, scale = 0;
      for (size_t i = 0; i < absorbed.size(); ++i) {
        worst = std::max(worst, std::fabs(double(absorbed[i]) - expanded[i]));
        scale = std::max(scale, std::fabs(double(expanded[i])));
      }
      // Same products summed in another order (q W_uk^T c vs q (W_uk c)): f32 rounding only.
      EXPECT_LE(worst, 2e-5 * std::max(1.0, scale));
      EXPECT_GT(scale, 1e-2);
    }
  }
  // KV bytes per token: latent + rope key vs the H decompressed keys and values.
  std::printf("[mla] %-22s KV cache %llu bytes/token (latent %lld + rope %lld floats x %u layers); "
              "decompressed K/V would be %llu (%.1fx)\n",
              GetParam().c_str(), static_cast<unsigned long long>(model.kv_bytes_per_token()),
              static_cast<long long>(shape.latent), static_cast<long long>(shape.rope_dim), model.config().num_layers,
              static_cast<unsigned long long>(model.expanded_kv_bytes_per_token()),
              double(model.expanded_kv_bytes_per_token()) / model.kv_bytes_per_token());
  EXPECT_EQ(model.kv_bytes_per_token(), model.config().num_layers * (shape.latent + shape.rope_dim) * 4ull);
  auto state = model.NewState(100, 8, 1);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ((*state)->kv_cache_bytes(), 100 * model.kv_bytes_per_token());
}

INSTANTIATE_TEST_SUITE_P(Deepseek, MlaOnCheckpoint, ::testing::Values("deepseek_v2", "deepseek_v2_lite_yarn"));

// deepseek_v2's weights under DeepseekV3ForCausalLM. With V2's router settings spelled out
// (softmax, greedy, x 2.0) the logits equal the V2 artifact's; with V3's own router (sigmoid,
// noaux_tc over 4 groups with a correction bias) decode equals prefill and the output differs.
TEST(DeepseekV3, SameWeightsUnderTheV3Router) {
  nlohmann::json config = nlohmann::json::parse(std::ifstream(SharedPath("models/random/deepseek_v2/config.json")));
  config["architectures"] = {"DeepseekV3ForCausalLM"};
  config["model_type"] = "deepseek_v3";
  std::unique_ptr<Engine> v2 = Load(ConvertDir(SharedPath("models/random/deepseek_v2"), "v3_base_v2"));
  ASSERT_NE(v2, nullptr);
  const std::string as_v2 = CheckpointWithConfig("models/random/deepseek_v2", "v3_as_v2", config.dump());
  std::unique_ptr<Engine> v3_as_v2 = Load(ConvertDir(as_v2, "v3_as_v2"));
  ASSERT_NE(v3_as_v2, nullptr);

  // V3 router: a checkpoint with e_score_correction_bias on every sparse layer.
  config["scoring_func"] = "sigmoid";
  config["topk_method"] = "noaux_tc";
  config["n_group"] = 4;
  config["topk_group"] = 2;
  config["norm_topk_prob"] = true;
  config["routed_scaling_factor"] = 2.5;
  const std::string dir = TempPath("v3_router");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << config.dump();
  std::vector<StTensor> tensors = ReadSafetensors(SharedPath("models/random/deepseek_v2"));
  for (int layer = 1; layer < 4; ++layer) {
    const std::vector<float> bias = Normal(8, 40 + layer);
    StTensor t{"model.layers." + std::to_string(layer) + ".mlp.gate.e_score_correction_bias", "F32", {8}, {}};
    t.bytes.assign(reinterpret_cast<const uint8_t*>(bias.data()), reinterpret_cast<const uint8_t*>(bias.data() + 8));
    tensors.push_back(std::move(t));
  }
  WriteSafetensors(dir + "/model.safetensors", tensors);
  std::unique_ptr<Engine> v3 = Load(ConvertDir(dir, "v3_router"));
  ASSERT_NE(v3, nullptr);

  ThreadPool pool(2);
  std::vector<int32_t> ids;
  for (int i = 0; i < 24; ++i) ids.push_back(3 + (i * 37) % 390);
  auto run = [&](const Engine& e, int64_t chunk) {
    auto state = e.model().NewState(32, 8, 2);
    EXPECT_TRUE(state.ok());
    return RunAll(e.model(), **state, pool, ids, chunk);
  };
  EXPECT_EQ(MaxAbsDiff(run(*v2, 8), run(*v3_as_v2, 8)), 0.0);
  const std::vector<float> prefill = run(*v3, 8), decode = run(*v3, 1);
  EXPECT_LE(MaxAbsDiff(prefill, decode), 1e-4);  // batching changes only f32 rounding
  EXPECT_GT(MaxAbsDiff(prefill, run(*v2, 8)), 1e-2);
  for (float v : prefill) ASSERT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace testing
}  // namespace kite
