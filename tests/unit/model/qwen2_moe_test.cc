// Qwen2-MoE's sparse block (moe.h with the gated shared expert) on a tiny seeded checkpoint built
// here: the grouped forward (decode and a prefill batch) equals a dense loop that runs every
// expert on every token with a zero-padded gate vector, plus sigmoid(shared_expert_gate . x) x the
// shared expert; decode reads only the routed experts (the others are NaN-poisoned); the config
// fields land where the runtime reads them; weight bytes per decoded token count the router, k
// experts, the shared expert and its gate.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "kernels/ref/transformer_ops.h"
#include "runtime/model/llama_model.h"
#include "runtime/model/moe.h"
#include "tests/unit/converter/converter_test_util.h"
#include "tests/unit/model/model_test_util.h"

namespace kite {
namespace testing {
namespace {

constexpr int64_t kVocab = 64, kHidden = 32, kHeads = 2, kKvHeads = 1, kHeadDim = 16, kInter = 48;
constexpr int64_t kExperts = 6, kTopK = 2, kMoeInter = 16, kSharedInter = 24;

StTensor Random(const std::string& name, std::vector<int64_t> shape, std::mt19937& rng, float scale, float mean = 0) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::normal_distribution<float> dist(mean, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  StTensor t{name, "F32", std::move(shape), {}};
  t.bytes.resize(n * sizeof(float));
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}

// A 2-layer Qwen2MoeForCausalLM: layer 0 sparse, layer 1 dense (mlp_only_layers [1]).
std::string MakeCheckpoint(const std::string& name) {
  const std::string dir = TempPath(name);
  std::filesystem::create_directories(dir);
  WriteText(dir + "/config.json", R"({"architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe",
    "vocab_size": 64, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
    "num_attention_heads": 2, "num_key_value_heads": 1, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
    "decoder_sparse_step": 1, "mlp_only_layers": [1], "moe_intermediate_size": 16,
    "shared_expert_intermediate_size": 24, "num_experts": 6, "num_experts_per_tok": 2,
    "norm_topk_prob": false, "tie_word_embeddings": true})");
  std::mt19937 rng(2024);
  const float lin = 1.0f / std::sqrt(static_cast<float>(kHidden));
  std::vector<StTensor> t;
  t.push_back(Random("model.embed_tokens.weight", {kVocab, kHidden}, rng, 1.0f));
  for (int layer = 0; layer < 2; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    t.push_back(Random(p + "input_layernorm.weight", {kHidden}, rng, 0.2f, 1.0f));
    t.push_back(Random(p + "post_attention_layernorm.weight", {kHidden}, rng, 0.2f, 1.0f));
    t.push_back(Random(p + "self_attn.q_proj.weight", {kHeads * kHeadDim, kHidden}, rng, lin));
    t.push_back(Random(p + "self_attn.q_proj.bias", {kHeads * kHeadDim}, rng, 0.3f));
    t.push_back(Random(p + "self_attn.k_proj.weight", {kKvHeads * kHeadDim, kHidden}, rng, lin));
    t.push_back(Random(p + "self_attn.k_proj.bias", {kKvHeads * kHeadDim}, rng, 0.3f));
    t.push_back(Random(p + "self_attn.v_proj.weight", {kKvHeads * kHeadDim, kHidden}, rng, lin));
    t.push_back(Random(p + "self_attn.v_proj.bias", {kKvHeads * kHeadDim}, rng, 0.3f));
    t.push_back(Random(p + "self_attn.o_proj.weight", {kHidden, kHeads * kHeadDim}, rng, lin));
    auto mlp = [&](const std::string& q, int64_t inter) {
      t.push_back(Random(q + "gate_proj.weight", {inter, kHidden}, rng, lin));
      t.push_back(Random(q + "up_proj.weight", {inter, kHidden}, rng, lin));
      t.push_back(Random(q + "down_proj.weight", {kHidden, inter}, rng, 1.0f / std::sqrt(static_cast<float>(inter))));
    };
    if (layer == 0) {
      t.push_back(Random(p + "mlp.gate.weight", {kExperts, kHidden}, rng, 3 * lin));
      for (int e = 0; e < kExperts; ++e) mlp(p + "mlp.experts." + std::to_string(e) + ".", kMoeInter);
      mlp(p + "mlp.shared_expert.", kSharedInter);
      t.push_back(Random(p + "mlp.shared_expert_gate.weight", {1, kHidden}, rng, 3 * lin));
    } else {
      mlp(p + "mlp.", kInter);
    }
  }
  t.push_back(Random("model.norm.weight", {kHidden}, rng, 0.2f, 1.0f));
  WriteSafetensors(dir + "/model.safetensors", t);
  return dir;
}

std::vector<float> RandomVector(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// down(silu(gate x) * up x) for one row, straight from the definition.
std::vector<float> MlpOf(const MlpWeights& e, const float* x, const kernels::GemmKernels& kr, ThreadPool& pool,
                         MatMulScratch& scratch) {
  const int64_t F = e.gate.rows, D = e.down.rows;
  std::vector<float> g(F), u(F), y(D);
  MatMul(kr, pool, scratch, e.gate, x, 1, g.data(), F);
  MatMul(kr, pool, scratch, e.up, x, 1, u.data(), F);
  kernels::SiluMul(g.data(), u.data(), F);
  MatMul(kr, pool, scratch, e.down, g.data(), 1, y.data(), D);
  return y;
}

class Qwen2Moe : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = Load(ConvertDir(MakeCheckpoint("qwen2_moe_unit"), "qwen2_moe_unit"));
    ASSERT_NE(engine_, nullptr);
    model_ = static_cast<const LlamaModel*>(&engine_->model());
    ASSERT_TRUE(model_->weights().layers[0].sparse);
    ASSERT_FALSE(model_->weights().layers[1].sparse);
  }
  const ModelConfig& config() const { return model_->config(); }
  const MoeWeights& layer0() const { return model_->weights().layers[0].moe; }
  std::unique_ptr<Engine> engine_;
  const LlamaModel* model_ = nullptr;
};

TEST_F(Qwen2Moe, ConfigAndWeightsAsTheRuntimeReadsThem) {
  const ModelConfig& c = config();
  EXPECT_EQ(c.architecture, "Qwen2MoeForCausalLM");
  EXPECT_EQ(c.num_experts, 6u);
  EXPECT_EQ(c.num_experts_per_tok, 2u);
  EXPECT_EQ(c.moe_intermediate_size, 16u);
  EXPECT_EQ(c.shared_expert_intermediate_size, 24u);
  EXPECT_EQ(c.shared_expert_width(), 24u);
  EXPECT_TRUE(c.shared_expert_gate);
  EXPECT_FALSE(c.norm_topk_prob);
  EXPECT_TRUE(c.attention_bias);        // qkv_bias defaults to true
  EXPECT_FALSE(c.attention_out_bias);
  EXPECT_EQ(c.moe_layers, (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(layer0().shared.gate.rows, kSharedInter);
  EXPECT_EQ(layer0().shared_gate.rows, 1);
  EXPECT_EQ(layer0().shared_gate.dtype, DType::kF32);
  // f32 floats read per decoded token, counted by hand: lm_head (tied embedding) + one embedding
  // row + final norm; per layer norms, q/k/v/o and q/k/v biases; layer 0: router, 2 of 6 experts,
  // shared expert and its gate; layer 1: the dense MLP.
  const int64_t attention = 2 * kHidden + 2 * kHeads * kHeadDim * kHidden + 2 * kKvHeads * kHeadDim * kHidden +
                            kHeads * kHeadDim + 2 * kKvHeads * kHeadDim;
  const int64_t sparse = kExperts * kHidden + kTopK * 3 * kHidden * kMoeInter + 3 * kHidden * kSharedInter + kHidden;
  const int64_t floats = kVocab * kHidden + 2 * kHidden + 2 * attention + sparse + 3 * kHidden * kInter;
  EXPECT_EQ(model_->weight_bytes_per_token(), static_cast<uint64_t>(floats) * 4);
}

TEST_F(Qwen2Moe, GroupedForwardEqualsDenseLoopPlusGatedSharedExpert) {
  const ModelConfig& c = config();
  const int64_t D = c.hidden_size, E = c.num_experts, k = c.num_experts_per_tok;
  const kernels::GemmKernels& kr = kernels::ReferenceGemmKernels();
  ThreadPool pool(2);
  for (int64_t n : {1, 7}) {  // decode, and a prefill batch grouped by expert
    SCOPED_TRACE("tokens " + std::to_string(n));
    const std::vector<float> x = RandomVector(n * D, 31 + n);
    MatMulScratch matmul;
    matmul.Reserve(n, MoeScratch::MaxMatMulCols(c));
    MoeScratch scratch;
    scratch.Reserve(c, n);
    std::vector<float> y(n * D);
    MoeForward(c, layer0(), kr, pool, matmul, scratch, x.data(), n, y.data());
    int64_t gates_below_half = 0, gates_above_half = 0;
    for (int64_t t = 0; t < n; ++t) {
      const float* xt = x.data() + t * D;
      // Router from the definition: p = softmax(x . W_router), top-k, NOT renormalised.
      std::vector<double> logits(E), p(E);
      std::vector<float> row(D);
      for (int64_t e = 0; e < E; ++e) {
        DequantizeRow(layer0().router, e, row.data());
        logits[e] = std::inner_product(xt, xt + D, row.begin(), 0.0);
      }
      const double max_logit = *std::max_element(logits.begin(), logits.end());
      double sum = 0;
      for (int64_t e = 0; e < E; ++e) sum += p[e] = std::exp(logits[e] - max_logit);
      for (double& v : p) v /= sum;
      std::vector<int> order(E);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
      std::vector<double> gate(E, 0.0);
      for (int64_t i = 0; i < k; ++i) gate[order[i]] = p[order[i]];
      // Shared expert gate: sigmoid(x . w_sg).
      DequantizeRow(layer0().shared_gate, 0, row.data());
      const double sg = 1.0 / (1.0 + std::exp(-std::inner_product(xt, xt + D, row.begin(), 0.0)));
      (sg < 0.5 ? gates_below_half : gates_above_half) += 1;
      std::vector<double> dense(D, 0.0);
      for (int64_t e = 0; e < E; ++e) {
        const std::vector<float> ye = MlpOf(layer0().experts[e], xt, kr, pool, matmul);
        for (int64_t i = 0; i < D; ++i) dense[i] += gate[e] * ye[i];
      }
      const std::vector<float> ys = MlpOf(layer0().shared, xt, kr, pool, matmul);
      double worst = 0, scale = 0, shared_scale = 0;
      for (int64_t i = 0; i < D; ++i) {
        dense[i] += sg * ys[i];
        worst = std::max(worst, std::fabs(dense[i] - y[t * D + i]));
        scale = std::max(scale, std::fabs(dense[i]));
        shared_scale = std::max(shared_scale, std::fabs(sg * ys[i]));
      }
      // f32 sums of 16-32 products and one f32 sigmoid vs double accumulation of the same f32 MLP outputs.
      EXPECT_LE(worst, 1e-5 * std::max(1.0, scale)) << "token " << t;
      EXPECT_GT(shared_scale, 1e-2);  // the shared term is a real part of the output
    }
    if (n == 7) {  // the gate really varies (sigmoid on both sides of 1/2), so a constant would be caught
      EXPECT_GT(gates_below_half, 0);
      EXPECT_GT(gates_above_half, 0);
    }
  }
}

TEST_F(Qwen2Moe, DecodeReadsOnlyTheRoutedExpertsAndTheSharedOne) {
  const ModelConfig& c = config();
  const int64_t D = c.hidden_size, E = c.num_experts, k = c.num_experts_per_tok;
  const kernels::GemmKernels& kr = kernels::ReferenceGemmKernels();
  ThreadPool pool(1);
  const std::vector<float> x = RandomVector(D, 5);
  MatMulScratch matmul;
  matmul.Reserve(1, MoeScratch::MaxMatMulCols(c));
  MoeScratch scratch;
  scratch.Reserve(c, 1);
  std::vector<float> y(D), y_poisoned(D);
  MoeForward(c, layer0(), kr, pool, matmul, scratch, x.data(), 1, y.data());
  std::vector<int32_t> chosen(scratch.chosen.begin(), scratch.chosen.begin() + k);
  MoeWeights poisoned = layer0();
  std::vector<float> nan_weights(c.moe_intermediate_size * D, std::numeric_limits<float>::quiet_NaN());
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
  // Negative control: poisoning the shared expert's gate does reach the output.
  poisoned.shared_gate.data = nan_weights.data();
  poisoned.shared_gate.dtype = DType::kF32;
  MoeForward(c, poisoned, kr, pool, matmul, scratch, x.data(), 1, y_poisoned.data());
  EXPECT_TRUE(std::isnan(y_poisoned[0]));
}

TEST(Qwen2MoeConfig, FieldsAndErrors) {
  const std::string dir = MakeCheckpoint("qwen2_moe_cfg");
  // qkv_bias false: the checkpoint's q/k/v biases are then unexpected tensors, an error naming one.
  WriteText(dir + "/config.json", R"({"architectures": ["Qwen2MoeForCausalLM"], "vocab_size": 64,
    "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 2,
    "num_key_value_heads": 1, "mlp_only_layers": [1], "moe_intermediate_size": 16,
    "shared_expert_intermediate_size": 24, "num_experts": 6, "num_experts_per_tok": 2, "qkv_bias": false,
    "tie_word_embeddings": true})");
  ConvertOptions options;
  options.input_dir = dir;
  options.output_path = TempPath("qwen2_moe_cfg.kite");
  options.include_tokenizer = false;
  auto report = ConvertCheckpoint(options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("self_attn.q_proj.bias"), std::string::npos) << report.status().message();
  WriteText(dir + "/config.json", R"({"architectures": ["Qwen2MoeForCausalLM"], "vocab_size": 64,
    "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 2,
    "moe_intermediate_size": 16, "shared_expert_intermediate_size": 0, "num_experts": 6, "num_experts_per_tok": 2})");
  report = ConvertCheckpoint(options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("'shared_expert_intermediate_size' must be positive"), std::string::npos)
      << report.status().message();
}

}  // namespace
}  // namespace testing
}  // namespace kite
