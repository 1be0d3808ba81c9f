// Mixture of experts (moe.h): the grouped forward (decode and prefill) equals a
// dense loop that runs every expert on every token and weights it by a gate
// vector with zeros for unchosen experts; routing matches a direct softmax
// top-k; decode reads only the routed experts (the others are poisoned with
// NaN and never show up); DeepSeek-V3's grouped, bias-corrected sigmoid router
// picks what its definition says on hand-made scores.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include <nlohmann/json.hpp>

#include "kernels/ref/transformer_ops.h"
#include "runtime/model/llama_model.h"
#include "runtime/model/moe.h"
#include "tests/unit/converter/converter_test_util.h"
#include "tests/unit/model/model_test_util.h"

namespace kite {
namespace testing {
namespace {

std::vector<float> RandomVector(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// y = down(silu(gate x) * up x) for one row, straight from the definition.
std::vector<float> ExpertOf(const MlpWeights& e, const std::vector<float>& x, const kernels::GemmKernels& kr,
                            ThreadPool& pool, MatMulScratch& scratch) {
  const int64_t F = e.gate.rows, D = e.down.rows;
  std::vector<float> g(F), u(F), y(D);
  MatMul(kr, pool, scratch, e.gate, x.data(), 1, g.data(), F);
  MatMul(kr, pool, scratch, e.up, x.data(), 1, u.data(), F);
  kernels::SiluMul(g.data(), u.data(), F);
  MatMul(kr, pool, scratch, e.down, g.data(), 1, y.data(), D);
  return y;
}

class MoeOnQwen3 : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = Load(ConvertDir(SharedPath("models/random/qwen3_moe"), "moe_qwen3"));
    ASSERT_NE(engine_, nullptr);
    model_ = static_cast<const LlamaModel*>(&engine_->model());
    ASSERT_TRUE(model_->weights().layers[0].sparse);
    ASSERT_FALSE(model_->weights().layers[1].sparse);  // mlp_only_layers [1]
  }
  const ModelConfig& config() const { return model_->config(); }
  const MoeWeights& layer0() const { return model_->weights().layers[0].moe; }
  std::unique_ptr<Engine> engine_;
  const LlamaModel* model_ = nullptr;
};

TEST_F(MoeOnQwen3, GroupedForwardEqualsDenseLoopOverChosenExperts) {
  const ModelConfig& c = config();
  const int64_t D = c.hidden_size, E = c.num_experts, k = c.num_experts_per_tok;
  const kernels::GemmKernels& kr = kernels::ReferenceGemmKernels();
  ThreadPool pool(2);
  for (int64_t n : {1, 7}) {  // decode, and a prefill batch grouped by expert
    SCOPED_TRACE("tokens " + std::to_string(n));
    const std::vector<float> x = RandomVector(n * D, 17 + n);
    MatMulScratch matmul;
    matmul.Reserve(n, MoeScratch::MaxMatMulCols(c));
    MoeScratch scratch;
    scratch.Reserve(c, n);
    std::vector<float> y(n * D);
    MoeForward(c, layer0(), kr, pool, matmul, scratch, x.data(), n, y.data());

    for (int64_t t = 0; t < n; ++t) {
      const std::vector<float> xt(x.begin() + t * D, x.begin() + (t + 1) * D);
      // Router, from the definition: p = softmax(x . W_router), top-k, renormalised.
      std::vector<double> logits(E), p(E);
      std::vector<float> row(D);
      for (int64_t e = 0; e < E; ++e) {
        DequantizeRow(layer0().router, e, row.data());
        logits[e] = std::inner_product(xt.begin(), xt.end(), row.begin(), 0.0);
      }
      const double max_logit = *std::max_element(logits.begin(), logits.end());
      double sum = 0;
      for (int64_t e = 0; e < E; ++e) sum += p[e] = std::exp(logits[e] - max_logit);
      for (double& v : p) v /= sum;
      std::vector<int> order(E);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
      std::vector<double> gate(E, 0.0);  // zeros for every expert not chosen
      double top_sum = 0;
      for (int64_t i = 0; i < k; ++i) top_sum += p[order[i]];
      for (int64_t i = 0; i < k; ++i) gate[order[i]] = p[order[i]] / top_sum;  // norm_topk_prob
      // Dense loop: every expert on the token, weighted by the gate.
      std::vector<double> dense(D, 0.0);
      for (int64_t e = 0; e < E; ++e) {
        const std::vector<float> ye = ExpertOf(layer0().experts[e], xt, kr, pool, matmul);
        for (int64_t i = 0; i < D; ++i) dense[i] += gate[e] * ye[i];
      }
      double worst = 0, scale = 0;
      for (int64_t i = 0; i < D; ++i) {
        worst = std::max(worst, std::fabs(dense[i] - y[t * D + i]));
        scale = std::max(scale, std::fabs(dense[i]));
      }
      // f32 sums of 48-160 products vs a double accumulation of the same f32 expert outputs.
      EXPECT_LE(worst, 1e-5 * std::max(1.0, scale)) << "token " << t;
      EXPECT_GT(scale, 1e-3);  // a real output, not zeros on both sides
    }
  }
}

TEST_F(MoeOnQwen3, DecodeReadsOnlyTheRoutedExperts) {
  const ModelConfig& c = config();
  const int64_t D = c.hidden_size, E = c.num_experts, k = c.num_experts_per_tok;
  const kernels::GemmKernels& kr = kernels::ReferenceGemmKernels();
  ThreadPool pool(1);
  const std::vector<float> x = RandomVector(D, 5);
  MatMulScratch matmul;
  matmul.Reserve(1, MoeScratch::MaxMatMulCols(c));
  MoeScratch scratch;
  scratch.Reserve(c, 1);
  std::vector<float> y(D), y_poisoned(D), logits(E);
  MoeForward(c, layer0(), kr, pool, matmul, scratch, x.data(), 1, y.data());
  std::vector<int32_t> chosen(scratch.chosen.begin(), scratch.chosen.begin() + k);
  // Every expert not chosen now points at NaN weights: reading any of them would poison y.
  MoeWeights poisoned = layer0();
  const int64_t F = c.moe_intermediate_size;
  std::vector<float> nan_weights(F * D, std::numeric_limits<float>::quiet_NaN());
  for (int64_t e = 0; e < E; ++e) {
    if (std::find(chosen.begin(), chosen.end(), e) != chosen.end()) continue;
    for (Matrix* m : {&poisoned.experts[e].gate, &poisoned.experts[e].up, &poisoned.experts[e].down}) {
      m->dtype = DType::kF32;
      m->data = nan_weights.data();
      m->scales = nullptr;
    }
  }
  MoeForward(c, poisoned, kr, pool, matmul, scratch, x.data(), 1, y_poisoned.data());
  for (int64_t i = 0; i < D; ++i) ASSERT_EQ(y_poisoned[i], y[i]) << i;

  // Weight bytes read per decoded token vs the same model read densely (all experts).
  uint64_t dense = model_->weight_bytes_per_token();
  for (const LayerWeights& L : model_->weights().layers) {
    if (L.sparse) dense += L.moe.experts_bytes - L.moe.experts_bytes / E * k;
  }
  std::printf("[moe] qwen3_moe f32: %llu bytes read per decoded token; all experts would be %llu (%.1f%%)\n",
              static_cast<unsigned long long>(model_->weight_bytes_per_token()),
              static_cast<unsigned long long>(dense), 100.0 * model_->weight_bytes_per_token() / dense);
  EXPECT_LT(model_->weight_bytes_per_token(), dense);
}

ModelConfig RouterConfig(int64_t experts, int64_t k) {
  ModelConfig c;
  c.num_experts = static_cast<uint32_t>(experts);
  c.num_experts_per_tok = static_cast<uint32_t>(k);
  c.moe_intermediate_size = 4;
  c.hidden_size = 4;
  return c;
}

TEST(MoeRouting, SoftmaxGreedyScaledLikeDeepseekV2) {
  ModelConfig c = RouterConfig(4, 2);
  c.routed_scaling_factor = 2.0f;  // norm_topk_prob false: weights = p * factor
  const float logits[4] = {0.0f, 2.0f, 1.0f, 2.0f};  // a tie between 1 and 3 goes to 1
  int32_t experts[2];
  float weights[2], scratch[8];
  RouteToken(c, logits, nullptr, experts, weights, scratch);
  const double z = 1 + 2 * std::exp(2.0) + std::exp(1.0);
  EXPECT_EQ(experts[0], 1);
  EXPECT_EQ(experts[1], 3);
  EXPECT_NEAR(weights[0], 2 * std::exp(2.0) / z, 1e-6);
  EXPECT_NEAR(weights[1], 2 * std::exp(2.0) / z, 1e-6);
  ASSERT_TRUE(CheckMoeConfig(c, "test").ok());
}

TEST(MoeRouting, DeepseekV3GroupedSigmoidWithCorrectionBias) {
  // 8 experts in 4 groups of 2; keep 2 groups; top-2; sigmoid scores; the bias only steers
  // the choice, the weights are the unbiased scores, renormalised, then x 2.5.
  ModelConfig c = RouterConfig(8, 2);
  c.moe_scoring = "sigmoid";
  c.moe_topk_method = "noaux_tc";
  c.moe_n_group = 4;
  c.moe_topk_group = 2;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5f;
  ASSERT_TRUE(CheckMoeConfig(c, "test").ok());
  // sigmoid(logit) per expert; groups {0,1} {2,3} {4,5} {6,7}
  const float logits[8] = {3.0f, -3.0f, 1.0f, 1.0f, 2.5f, -4.0f, 0.0f, 0.5f};
  // Bias lifts expert 7 so group {6,7} (sum of its two best choice scores) beats group {4,5},
  // although expert 4 alone scores higher than anything in {6,7}.
  const float bias[8] = {0, 0, 0, 0, 0, 0, 0.3f, 0.6f};
  int32_t experts[2];
  float weights[2], scratch[16];
  RouteToken(c, logits, bias, experts, weights, scratch);
  auto sig = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  // Group sums of choice scores: {0,1} 0.953+0.047=1.0, {2,3} 1.462, {4,5} 0.924+0.018=0.942,
  // {6,7} 0.8+1.222=2.022 -> groups {6,7} and {2,3}; best choices there: 7 (1.222), 6 (0.8),
  // then 2/3 (0.731). Expert 0 (0.953) and 4 (0.924) are excluded with their groups.
  EXPECT_EQ(experts[0], 7);
  EXPECT_EQ(experts[1], 6);
  const double s7 = sig(0.5), s6 = sig(0.0);  // unbiased: expert 6's weight is 0.5, not 0.8
  EXPECT_NEAR(weights[0], 2.5 * s7 / (s7 + s6), 1e-6);
  EXPECT_NEAR(weights[1], 2.5 * s6 / (s7 + s6), 1e-6);

  // group_limited_greedy (DeepSeek-V2 236B): groups ranked by their best softmax score.
  c.moe_scoring = "softmax";
  c.moe_topk_method = "group_limited_greedy";
  c.norm_topk_prob = false;
  c.routed_scaling_factor = 1.0f;
  RouteToken(c, logits, nullptr, experts, weights, scratch);
  // Best per group: {0,1} 3.0, {2,3} 1.0, {4,5} 2.5, {6,7} 0.5 -> groups 0 and 2 -> experts 0, 4.
  EXPECT_EQ(experts[0], 0);
  EXPECT_EQ(experts[1], 4);
}

TEST(MoeRouting, BadConfigsAreErrorsNamingTheField) {
  ModelConfig c = RouterConfig(8, 9);
  EXPECT_NE(CheckMoeConfig(c, "m.kite").message().find("num_experts_per_tok 9 must be in [1, num_experts = 8]"),
            std::string::npos);
  c = RouterConfig(8, 2);
  c.moe_topk_method = "noaux_tc";
  c.moe_n_group = 3;
  EXPECT_NE(CheckMoeConfig(c, "m.kite").message().find("n_group 3"), std::string::npos);
  c = RouterConfig(8, 2);
  c.moe_scoring = "sparsemax";
  EXPECT_EQ(CheckMoeConfig(c, "m.kite").code(), StatusCode::kUnsupported);
}

// Mixtral's checkpoint layout (block_sparse_moe.gate, experts.{e}.w1 / w3 / w2) maps onto the
// gate / up / down of each expert: random/llama with its MLP copied into 4 identical experts and
// a random router is the same function as random/llama (renormalised top-2 weights sum to 1).
TEST(Mixtral, IdenticalExpertsEqualTheDenseModel) {
  nlohmann::json config = nlohmann::json::parse(std::ifstream(SharedPath("models/random/llama/config.json")));
  config["architectures"] = {"MixtralForCausalLM"};
  config["model_type"] = "mixtral";
  config["num_local_experts"] = 4;
  config["num_experts_per_tok"] = 2;
  const std::string dir = TempPath("mixtral_from_llama");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << config.dump();
  std::vector<StTensor> out;
  for (StTensor& t : ReadSafetensors(SharedPath("models/random/llama"))) {
    const size_t mlp = t.name.find(".mlp.");
    if (mlp == std::string::npos) {
      out.push_back(std::move(t));
      continue;
    }
    const std::string layer = t.name.substr(0, mlp + 1);  // "model.layers.N."
    const std::string part = t.name.substr(mlp + 5);      // "gate_proj.weight", ...
    const char* w = part == "gate_proj.weight" ? "w1" : part == "up_proj.weight" ? "w3" : "w2";
    for (int e = 0; e < 4; ++e) {
      out.push_back({layer + "block_sparse_moe.experts." + std::to_string(e) + "." + w + ".weight", t.dtype, t.shape,
                     t.bytes});
    }
    if (part == "gate_proj.weight") {
      const std::vector<float> router = RandomVector(4 * 64, 99, 0.5f);
      StTensor g{layer + "block_sparse_moe.gate.weight", "F32", {4, 64}, {}};
      g.bytes.assign(reinterpret_cast<const uint8_t*>(router.data()),
                     reinterpret_cast<const uint8_t*>(router.data() + router.size()));
      out.push_back(std::move(g));
    }
  }
  WriteSafetensors(dir + "/model.safetensors", out);
  std::unique_ptr<Engine> mixtral = Load(ConvertDir(dir, "mixtral_from_llama"));
  std::unique_ptr<Engine> llama = Load(ConvertDir(SharedPath("models/random/llama"), "llama_for_mixtral"));
  ASSERT_NE(mixtral, nullptr);
  ASSERT_NE(llama, nullptr);
  EXPECT_EQ(mixtral->config().moe_layers, (std::vector<uint8_t>{1, 1, 1, 1}));
  ThreadPool pool(2);
  std::vector<int32_t> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(3 + (i * 53) % 380);
  auto a = mixtral->model().NewState(20, 8, 2);
  auto b = llama->model().NewState(20, 8, 2);
  ASSERT_TRUE(a.ok() && b.ok());
  // w1 x + w2 x with w1 + w2 = 1 instead of x: f32 rounding only.
  EXPECT_LE(MaxAbsDiff(RunAll(mixtral->model(), **a, pool, ids, 8), RunAll(llama->model(), **b, pool, ids, 8)), 1e-4);
  EXPECT_LT(mixtral->model().weight_bytes_per_token(), mixtral->artifact().weight_bytes());
}

}  // namespace
}  // namespace testing
}  // namespace kite
