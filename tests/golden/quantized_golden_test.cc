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

// The optimized kernels on a quantized model equal the scalar reference kernels: integer
// dot products are exact, so only f32 summation order differs (bound 1e-3 on logits of
// magnitude ~10-20, i.e. ~1e-4 relative).
TEST(QuantizedKernelParity, BestKernelsEqualReference) {
  for (const char* scheme : {"q8", "q4", "mixed", "f16"}) {
    std::string log;
    const std::string artifact = ConvertShared("models/stories260K/hf", std::string("--quant ") + scheme + " --quiet", &log);
    ASSERT_FALSE(artifact.empty()) << log;
    std::unique_ptr<Engine> best = LoadEngine(artifact, false), reference = LoadEngine(artifact, true);
    ASSERT_NE(best, nullptr);
    ASSERT_NE(reference, nullptr);
    const int64_t vocab = best->config().vocab_size;
    for (const Row& r : ReferenceRows("stories260K/hf")) {
      const int64_t rows = static_cast<int64_t>(r.ids.size());
      std::vector<float> a(rows * vocab), b(rows * vocab);
      for (auto* pair : {&a, &b}) {
        Engine& e = pair == &a ? *best : *reference;
        SessionOptions so;
        so.n_threads = 2;
        so.context_tokens = rows;
        auto session = Session::Create(e, so);
        ASSERT_TRUE(session.ok());
        ASSERT_TRUE((*session)->Eval(r.ids.data(), rows, pair->data(), true).ok());
      }
      RowDiff d = CompareRows(a.data(), b.data(), rows, vocab);
      EXPECT_LE(d.max_abs, 1e-3) << scheme << " [" << best->kernel_isa() << "] worst row " << d.worst_row;
    }
  }
}

}  // namespace
}  // namespace testing
}  // namespace kite
