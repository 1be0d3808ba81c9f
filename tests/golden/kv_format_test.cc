// The K/V cache formats against the f32 numpy references: f16 rows (the
// sessions' default) and int8 rows with a scale per token and KV head. The
// whole reference sequence is evaluated twice, as one prefill and token by
// token (decode reads every key back from the cache), with an f32 artifact so
// the cache is the only approximation. Measured values are printed; bounds sit
// about 2-3x above them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/llm/session.h"
#include "runtime/model/kv_cache.h"
#include "tests/golden/golden_util.h"
#include "tests/test_paths.h"

namespace kite {
namespace testing {
namespace {

struct KvCase {
  std::string model;        // folder under ../shared/models/random
  kernels::KvFormat format;
  double max_abs;           // bound on max |logit - reference| over every row
  double max_mean_kl;       // nats
  std::string Name() const { return model + "_" + KvFormatName(format); }
};

class KvFormatGolden : public ::testing::TestWithParam<KvCase> {};

TEST_P(KvFormatGolden, StaysCloseToF32Reference) {
  const KvCase& c = GetParam();
  std::string log;
  const std::string artifact = ConvertShared("models/random/" + c.model, "--quant f32 --no-tokenizer --quiet", &log);
  ASSERT_FALSE(artifact.empty()) << log;
  std::unique_ptr<Engine> engine = LoadEngine(artifact);
  ASSERT_NE(engine, nullptr);
  const int64_t vocab = engine->config().vocab_size;
  const std::string dir = SharedPath("models/random/" + c.model + "/reference/");
  nlohmann::json j = ReadJson(dir + "cases.json");
  double worst = 0, kl_sum = 0, top1_sum = 0;
  int64_t n_rows = 0;
  for (const auto& jc : j["cases"]) {
    std::vector<int32_t> ids = IdsOf(jc["prompt_ids"]);
    std::vector<int32_t> g = IdsOf(jc["greedy_ids"]);
    ids.insert(ids.end(), g.begin(), g.end());
    const std::vector<float> want = ReadF32(dir + jc["logits_file"].get<std::string>());
    const int64_t rows = static_cast<int64_t>(ids.size());
    ASSERT_EQ(static_cast<int64_t>(want.size()), rows * vocab);
    for (bool one_by_one : {false, true}) {
      SessionOptions so;
      so.kv_format = c.format;
      so.n_threads = 2;
      so.context_tokens = rows;
      so.max_batch = 8;  // several passes: later ones read earlier passes' keys from the cache
      auto session = Session::Create(*engine, so);
      ASSERT_TRUE(session.ok()) << session.status().ToString();
      std::vector<float> logits(rows * vocab);
      if (one_by_one) {
        for (int64_t t = 0; t < rows; ++t) {
          ASSERT_TRUE((*session)->Eval(ids.data() + t, 1, logits.data() + t * vocab, false).ok());
        }
      } else {
        ASSERT_TRUE((*session)->Eval(ids.data(), rows, logits.data(), true).ok());
      }
      worst = std::max(worst, CompareRows(logits.data(), want.data(), rows, vocab).max_abs);
      const Agreement a = CompareDistributions(logits.data(), want.data(), rows, vocab);
      kl_sum += a.mean_kl * rows;
      top1_sum += a.top1 * rows;
      n_rows += rows;
    }
  }
  const double mean_kl = kl_sum / n_rows;
  std::printf("[kv cache] %-20s max |diff| %.3g, mean KL %.3g nats, top-1 agreement %.1f%% over %lld rows\n",
              c.Name().c_str(), worst, mean_kl, 100 * top1_sum / n_rows, static_cast<long long>(n_rows));
  EXPECT_LE(worst, c.max_abs);
  EXPECT_LE(mean_kl, c.max_mean_kl);
}

// f16 keeps 11 significant bits: keys and values are off by up to 2^-12 relative, and logits of
// these random models (magnitude up to ~10-30) move by a few 1e-3. int8 per head keeps ~7 bits,
// 30x coarser. The logits' KL to the reference is what a user sees: f16 ~1e-6 nats, below the f16
// weight conversion's 5e-7..1e-5; q8 ~1e-4..5e-4, below q8 weights' 1e-3. Measured (max |diff|,
// mean KL over prefill and token-by-token runs) in the comments.
constexpr kernels::KvFormat kF16 = kernels::KvFormat::kF16;
constexpr kernels::KvFormat kQ8 = kernels::KvFormat::kQ8;
INSTANTIATE_TEST_SUITE_P(Formats, KvFormatGolden,
                         ::testing::Values(KvCase{"llama", kF16, 2e-2, 3e-6},    // 4.1e-3, 2.2e-7
                                           KvCase{"llama", kQ8, 0.5, 1.5e-3},    // 0.084, 1.0e-4
                                           KvCase{"qwen2", kF16, 2e-2, 3e-6},    // 7.4e-3, 7.9e-7
                                           KvCase{"qwen2", kQ8, 0.5, 1.5e-3},    // 0.18, 4.1e-4
                                           KvCase{"qwen3", kF16, 2e-2, 3e-6},    // 7.3e-3, 5.8e-7
                                           KvCase{"qwen3", kQ8, 0.5, 1.5e-3},    // 0.21, 4.6e-4
                                           KvCase{"gemma3", kF16, 2e-2, 3e-6},   // 8.6e-3, 5.6e-7 (ring)
                                           KvCase{"gemma3", kQ8, 0.5, 1.5e-3},   // 0.15, 2.5e-4
                                           KvCase{"gpt2", kF16, 2e-2, 3e-6},     // 3.9e-3, 2.2e-7
                                           KvCase{"gpt2", kQ8, 0.5, 1.5e-3}),    // 0.093, 1.1e-4
                         [](const ::testing::TestParamInfo<KvCase>& info) { return info.param.Name(); });

}  // namespace
}  // namespace testing
}  // namespace kite
