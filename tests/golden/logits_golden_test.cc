// f32 logits of every reference case, by prefill and by KV-cache decode, with
// the scalar reference kernels and with the fastest kernels of this CPU, plus
// greedy continuations. References: ../shared/models/stories260K/reference
// (llama2.c run.c transcribed, float64) and ../shared/models/random/*/reference
// (the independent numpy implementation in ../shared/reference).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/llm/session.h"
#include "runtime/llm/tokenizer/tokenizer.h"
#include "tests/golden/golden_util.h"
#include "tests/test_paths.h"

namespace kite {
namespace testing {
namespace {

struct GoldenCase {
  std::string name;
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> greedy_ids;
  std::vector<double> margins;
  std::vector<float> logits;  // [prompt + 16, vocab]
  std::string prompt_text, full_text;
};

struct GoldenModel {
  std::string name;
  std::string hf_dir;      // relative to ../shared
  std::string convert_args;
  // Tolerances from the references' READMEs: stories260K logits are the float64 run.c
  // pass (a plain f32 run is within 2.6e-5, so 1e-4 leaves room for SIMD summation
  // order); the random models' README suggests 1e-3 per logit for a C++ f32 pass.
  double tolerance;
  bool stories;
};

std::vector<GoldenCase> LoadCases(const GoldenModel& m) {
  std::vector<GoldenCase> cases;
  if (m.stories) {
    for (const char* name : {"bos_only", "once_upon", "sun_birds", "tom_dog", "dialogue", "unicode"}) {
      const std::string dir = SharedPath("models/stories260K/reference/");
      nlohmann::json j = ReadJson(dir + name + ".json");
      GoldenCase c;
      c.name = name;
      c.prompt_ids = IdsOf(j["prompt_ids"]);
      c.greedy_ids = IdsOf(j["greedy_ids"]);
      for (const auto& v : j["greedy_margins"]) c.margins.push_back(v.get<double>());
      c.logits = ReadF32(dir + j["logits_file"].get<std::string>());
      c.prompt_text = j["prompt"].get<std::string>();
      c.full_text = j["full_text"].get<std::string>();
      cases.push_back(std::move(c));
    }
  } else {
    const std::string dir = SharedPath(m.hf_dir + "/reference/");
    nlohmann::json j = ReadJson(dir + "cases.json");
    for (const auto& jc : j["cases"]) {
      GoldenCase c;
      c.name = jc["name"].get<std::string>();
      c.prompt_ids = IdsOf(jc["prompt_ids"]);
      c.greedy_ids = IdsOf(jc["greedy_ids"]);
      for (const auto& v : jc["greedy_margins"]) c.margins.push_back(v.get<double>());
      c.logits = ReadF32(dir + jc["logits_file"].get<std::string>());
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

class LogitsGolden : public ::testing::TestWithParam<GoldenModel> {};

TEST_P(LogitsGolden, MatchesReference) {
  const GoldenModel& m = GetParam();
  std::string log;
  const std::string artifact = ConvertShared(m.hf_dir, m.convert_args, &log);
  ASSERT_FALSE(artifact.empty()) << log;
  const std::vector<GoldenCase> cases = LoadCases(m);
  ASSERT_FALSE(cases.empty());
  for (bool reference : {true, false}) {
    std::unique_ptr<Engine> engine = LoadEngine(artifact, reference);
    ASSERT_NE(engine, nullptr);
    const int64_t vocab = engine->config().vocab_size;
    for (const GoldenCase& c : cases) {
      SCOPED_TRACE(m.name + "/" + c.name + (reference ? " [reference kernels]" : std::string(" [") + engine->kernel_isa() + "]"));
      std::vector<int32_t> all = c.prompt_ids;
      all.insert(all.end(), c.greedy_ids.begin(), c.greedy_ids.begin() + 16);
      const int64_t rows = static_cast<int64_t>(all.size());
      ASSERT_EQ(static_cast<int64_t>(c.logits.size()), rows * vocab);

      // 1. Prefill of the whole sequence in one call (batches of 8 exercise chunking).
      SessionOptions so;
      so.kv_format = kernels::KvFormat::kF32;  // the references are f32 math; kv_format_test covers f16/q8
      so.n_threads = 2;
      so.max_batch = 8;
      so.context_tokens = rows + static_cast<int64_t>(c.greedy_ids.size()) + 1;
      auto session = Session::Create(*engine, so);
      ASSERT_TRUE(session.ok()) << session.status().ToString();
      std::vector<float> logits(rows * vocab);
      ASSERT_TRUE((*session)->Eval(all.data(), rows, logits.data(), true).ok());
      RowDiff d = CompareRows(logits.data(), c.logits.data(), rows, vocab);
      EXPECT_LE(d.max_abs, m.tolerance) << "prefill: worst row " << d.worst_row;

      // 2. Prompt by prefill, then one token at a time through the KV cache.
      (*session)->Reset();
      const int64_t p = static_cast<int64_t>(c.prompt_ids.size());
      ASSERT_TRUE((*session)->Eval(all.data(), p, logits.data(), true).ok());
      for (int64_t t = p; t < rows; ++t) {
        ASSERT_TRUE((*session)->Eval(&all[t], 1, logits.data() + t * vocab, false).ok());
      }
      d = CompareRows(logits.data(), c.logits.data(), rows, vocab);
      EXPECT_LE(d.max_abs, m.tolerance) << "decode: worst row " << d.worst_row;

      // 3. Greedy continuation: identical ids while the recorded margin exceeds our error.
      (*session)->Reset();
      GenerateOptions go;
      go.sampling.temperature = 0;
      go.max_tokens = static_cast<int64_t>(c.greedy_ids.size());
      go.stop_on_eos = false;
      auto result = (*session)->Generate(c.prompt_ids, go, nullptr);
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      size_t compared = 0;
      for (size_t i = 0; i < c.greedy_ids.size() && c.margins[i] > 1e-3; ++i, ++compared) {
        ASSERT_LT(i, result->ids.size());
        ASSERT_EQ(result->ids[i], c.greedy_ids[i]) << "greedy step " << i;
      }
      EXPECT_GE(compared, 16u);

      // 4. The tokenizer agrees with run.c's encoder and decoder on the same case.
      if (m.stories && engine->tokenizer() != nullptr) {
        auto ids = engine->Tokenize(c.prompt_text, true, true);
        ASSERT_TRUE(ids.ok());
        EXPECT_EQ(*ids, c.prompt_ids);
        std::vector<int32_t> whole = c.prompt_ids;
        whole.insert(whole.end(), c.greedy_ids.begin(), c.greedy_ids.end());
        auto text = engine->Detokenize(whole, /*skip_special=*/true);
        ASSERT_TRUE(text.ok());
        EXPECT_EQ(*text, c.full_text);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, LogitsGolden,
    ::testing::Values(GoldenModel{"stories260K", "models/stories260K/hf", "--quant f32 --quiet", 1e-4, true},
                      GoldenModel{"llama", "models/random/llama", "--quant f32 --no-tokenizer --quiet", 1e-3, false},
                      GoldenModel{"llama_tied_linear", "models/random/llama_tied_linear",
                                  "--quant f32 --no-tokenizer --quiet", 1e-3, false},
                      GoldenModel{"qwen2", "models/random/qwen2", "--quant f32 --no-tokenizer --quiet", 1e-3, false},
                      GoldenModel{"qwen3", "models/random/qwen3", "--quant f32 --no-tokenizer --quiet", 1e-3, false}),
    [](const ::testing::TestParamInfo<GoldenModel>& info) { return info.param.name; });

// A session that asks for no context gets DefaultContextTokens: the model's positions, capped at
// 4096 (4096 when the config has none). The wasm API reports the same value to the web package.
TEST(DefaultContext, IsTheModelsPositionsCappedAt4096) {
  ModelConfig config;
  config.max_position_embeddings = 512;
  EXPECT_EQ(DefaultContextTokens(config), 512);
  config.max_position_embeddings = 131072;
  EXPECT_EQ(DefaultContextTokens(config), 4096);
  config.max_position_embeddings = 0;
  EXPECT_EQ(DefaultContextTokens(config), 4096);

  const std::string artifact = ConvertShared("models/stories260K/hf", "--quant f32 --quiet");
  std::unique_ptr<Engine> engine = LoadEngine(artifact);
  ASSERT_NE(engine, nullptr);
  auto session = Session::Create(*engine, SessionOptions());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_EQ((*session)->context_tokens(), DefaultContextTokens(engine->config()));
  EXPECT_EQ((*session)->context_tokens(), 512);
}

}  // namespace
}  // namespace testing
}  // namespace kite
