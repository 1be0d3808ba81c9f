// Quantized artifacts against the f32 references: the mean KL divergence
// KL(p_ref || p_quant) over every logits row of every case, and the share of
// rows whose top-1 token agrees. Bounds are per scheme; the measured values
// are printed so a regression shows how far it moved.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "runtime/llm/session.h"
#include "tests/golden/golden_util.h"
#include "tests/test_paths.h"

namespace kite {
namespace testing {
namespace {

struct QuantCase {
  std::string model;      // folder under ../shared/models
  std::string scheme;     // kite-convert --quant
  std::string extra;      // e.g. --group-size 128
  double max_mean_kl;     // nats
  double min_top1;        // fraction of rows
  std::string Name() const {
    std::string n = model + "_" + scheme + (extra.empty() ? "" : "_g128");
    for (char& c : n) {
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    return n;
  }
};

struct Row {
  std::vector<int32_t> ids;
  std::vector<float> logits;
};

std::vector<Row> ReferenceRows(const std::string& model) {
  std::vector<Row> rows;
  if (model == "stories260K/hf") {
    for (const char* name : {"once_upon", "sun_birds", "tom_dog", "dialogue", "unicode"}) {
      const std::string dir = SharedPath("models/stories260K/reference/");
      nlohmann::json j = ReadJson(dir + name + ".json");
      Row r;
      r.ids = IdsOf(j["prompt_ids"]);
      std::vector<int32_t> g = IdsOf(j["greedy_ids"]);
      r.ids.insert(r.ids.end(), g.begin(), g.begin() + 16);
      r.logits = ReadF32(dir + j["logits_file"].get<std::string>());
      rows.push_back(std::move(r));
    }
  } else {
    const std::string dir = SharedPath("models/" + model + "/reference/");
    nlohmann::json j = ReadJson(dir + "cases.json");
    for (const auto& jc : j["cases"]) {
      Row r;
      r.ids = IdsOf(jc["prompt_ids"]);
      std::vector<int32_t> g = IdsOf(jc["greedy_ids"]);
      r.ids.insert(r.ids.end(), g.begin(), g.end());
      r.logits = ReadF32(dir + jc["logits_file"].get<std::string>());
      rows.push_back(std::move(r));
    }
  }
  return rows;
}

class QuantizedGolden : public ::testing::TestWithParam<QuantCase> {};

TEST_P(QuantizedGolden, StaysCloseToF32Reference) {
  const QuantCase& q = GetParam();
  const bool random = q.model != "stories260K/hf";
  std::string log;
  const std::string artifact = ConvertShared("models/" + q.model, "--quant " + q.scheme + " " + q.extra +
                                                                      (random ? " --no-tokenizer" : "") + " --quiet",
                                             &log);
  ASSERT_FALSE(artifact.empty()) << log;
  std::unique_ptr<Engine> engine = LoadEngine(artifact);
  ASSERT_NE(engine, nullptr);
  const int64_t vocab = engine->config().vocab_size;
  double kl_sum = 0, top1_sum = 0, max_kl = 0;
  int64_t n_rows = 0;
  for (const Row& r : ReferenceRows(q.model)) {
    const int64_t rows = static_cast<int64_t>(r.ids.size());
    SessionOptions so;
    so.kv_format = kernels::KvFormat::kF32;  // the references are f32 math; kv_format_test covers f16/q8
    so.n_threads = 2;
    so.context_tokens = rows;
    auto session = Session::Create(*engine, so);
    ASSERT_TRUE(session.ok());
    std::vector<float> logits(rows * vocab);
    ASSERT_TRUE((*session)->Eval(r.ids.data(), rows, logits.data(), true).ok());
    Agreement a = CompareDistributions(logits.data(), r.logits.data(), rows, vocab);
    kl_sum += a.mean_kl * rows;
    top1_sum += a.top1 * rows;
    max_kl = std::max(max_kl, a.max_kl);
    n_rows += rows;
  }
  const double mean_kl = kl_sum / n_rows, top1 = top1_sum / n_rows;
  std::printf("[quantized] %-36s mean KL %.3g nats (max %.3g), top-1 agreement %.1f%% over %lld rows\n",
              q.Name().c_str(), mean_kl, max_kl, 100 * top1, static_cast<long long>(n_rows));
  EXPECT_LE(mean_kl, q.max_mean_kl);
  EXPECT_GE(top1, q.min_top1);
}

// Bounds, set about 2x above what this code measured (printed by the test; README):
// f16 weights move logits by ~1e-3 relative, so KL stays near 1e-6 and top-1 never flips.
// q8 (int8 per row) keeps KL near 1e-3. q4 (int4, group 32) adds ~8% relative RMS weight
// error; stories260K (64 wide, trained) then keeps ~80% of top-1 choices. The random
// checkpoints are the hard case: untrained weights give near-uniform logits whose top-1/top-2
// margins are often a few hundredths of a nat, so 4-bit noise flips about half the choices;
// their q4 bounds only catch gross errors — kernel exactness is checked separately
// (QuantizedKernelParity below and tests/kernels).
INSTANTIATE_TEST_SUITE_P(
    Schemes, QuantizedGolden,
    ::testing::Values(QuantCase{"stories260K/hf", "f16", "", 1e-5, 0.99},
                      QuantCase{"stories260K/hf", "q8", "", 3e-3, 0.93},
                      QuantCase{"stories260K/hf", "q4", "", 0.25, 0.70},
                      QuantCase{"stories260K/hf", "q4", "--group-size 128", 0.3, 0.68},
                      QuantCase{"stories260K/hf", "mixed", "", 0.2, 0.75},
                      QuantCase{"random/llama", "q8", "", 4e-3, 0.94},
                      QuantCase{"random/llama", "q4", "", 0.5, 0.45},
                      QuantCase{"random/qwen2", "q8", "", 1.2e-2, 0.92},
                      QuantCase{"random/qwen2", "q4", "", 1.0, 0.45},
                      QuantCase{"random/qwen3", "q8", "", 1e-2, 0.93},
                      QuantCase{"random/qwen3", "mixed", "", 0.9, 0.45},
                      QuantCase{"random/llama_tied_linear", "mixed", "", 0.9, 0.42}),
    [](const ::testing::TestParamInfo<QuantCase>& info) { return info.param.Name(); });

// The optimized kernels on a quantized model against the scalar reference kernels, end to end.
// Each kernel equals its scalar twin on identical inputs (tests/kernels), but whole models
// cannot agree bit for bit: f32 summation order differs in the last bits, and when such a
// difference lands a value on the other side of an activation-quantization rounding step the
// two runs take different (equally valid) int8 codes, which later layers amplify to the size
// of the quantization noise itself. Measured on stories260K q8: both paths sit ~0.2-0.3 from
// the f32 logits and ~0.2 from each other. So for quantized weights the optimized path must be
// as close to the f32 reference as the scalar path is (KL within 1.5x + 1e-4; a wrong kernel
// is orders of magnitude worse) and pick the same top-1 token on >= 95% of rows; f16 weights
// involve no activation quantization and must agree to 1e-3 (f32 summation order only).
TEST(QuantizedKernelParity, BestKernelsMatchReferenceKernels) {
  for (const char* scheme : {"q8", "q4", "mixed", "f16"}) {
    std::string log;
    const std::string artifact = ConvertShared("models/stories260K/hf", std::string("--quant ") + scheme + " --quiet", &log);
    ASSERT_FALSE(artifact.empty()) << log;
    std::unique_ptr<Engine> best = LoadEngine(artifact, false), reference = LoadEngine(artifact, true);
    ASSERT_NE(best, nullptr);
    ASSERT_NE(reference, nullptr);
    const int64_t vocab = best->config().vocab_size;
    double kl_best = 0, kl_reference = 0, top1_between = 0, max_abs = 0;
    int64_t total_rows = 0;
    for (const Row& r : ReferenceRows("stories260K/hf")) {
      const int64_t rows = static_cast<int64_t>(r.ids.size());
      std::vector<float> a(rows * vocab), b(rows * vocab);
      for (auto* out : {&a, &b}) {
        Engine& e = out == &a ? *best : *reference;
        SessionOptions so;
        so.kv_format = kernels::KvFormat::kF32;  // the references are f32 math; kv_format_test covers f16/q8
        so.n_threads = 2;
        so.context_tokens = rows;
        auto session = Session::Create(e, so);
        ASSERT_TRUE(session.ok());
        ASSERT_TRUE((*session)->Eval(r.ids.data(), rows, out->data(), true).ok());
      }
      kl_best += CompareDistributions(a.data(), r.logits.data(), rows, vocab).mean_kl * rows;
      kl_reference += CompareDistributions(b.data(), r.logits.data(), rows, vocab).mean_kl * rows;
      top1_between += CompareDistributions(a.data(), b.data(), rows, vocab).top1 * rows;
      max_abs = std::max(max_abs, CompareRows(a.data(), b.data(), rows, vocab).max_abs);
      total_rows += rows;
    }
    kl_best /= total_rows;
    kl_reference /= total_rows;
    top1_between /= total_rows;
    std::printf("[parity] %-6s %s vs scalar: KL to f32 %.3g vs %.3g, top-1 agreement %.1f%%, max |diff| %.3g\n", scheme,
                best->kernel_isa(), kl_best, kl_reference, 100 * top1_between, max_abs);
    if (std::string(scheme) == "f16") {
      EXPECT_LE(max_abs, 1e-3);
    } else {
      EXPECT_LE(kl_best, 1.5 * kl_reference + 1e-4) << scheme;
      EXPECT_GE(top1_between, 0.95) << scheme;
    }
  }
}

}  // namespace
}  // namespace testing
}  // namespace kite
