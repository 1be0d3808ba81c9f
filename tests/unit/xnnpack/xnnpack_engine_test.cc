// The Engine's XNNPACK packing end to end (runtime/llm/engine.h, XnnpackMode): with the rule forced
// on (kAlways: every f32/f16 linear matrix packed, every product of two or more rows through
// XNNPACK), prefill and KV-cache decode logits of the shared checkpoints against Kite's own kernels
// on the same artifact and against the independent float64 references (stories260K: llama2.c's
// run.c transcribed; random llama/qwen2: ../shared/reference's numpy implementation). Also which
// matrices each mode packs. Without XNNPACK in the build nothing is packed and both engines run
// Kite's kernels, which the same comparisons then check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "runtime/backend/xnnpack/xnnpack_matmul.h"
#include "runtime/c_api/kite.h"
#include "runtime/llm/session.h"
#include "tests/golden/golden_util.h"
#include "tests/test_paths.h"

namespace kite {
namespace testing {
namespace {

struct Case {
  std::string name;
  std::vector<int32_t> ids;   // prompt + the first 16 greedy ids
  int64_t prompt = 0;
  std::vector<float> logits;  // [ids, vocab] float64 reference, rounded to f32
};

struct ParityModel {
  std::string name;
  std::string hf_dir;  // relative to ../shared
  std::string quant;   // f32 | f16
  bool stories;
  // Against the float64 reference. f32: the references' READMEs (stories260K: a plain f32 run is
  // within 2.6e-5, 1e-4 leaves room for summation order; random models: 1e-3 per logit for a C++
  // f32 pass). f16: the weights themselves are rounded to 11 bits (relative 2^-12), which moves
  // these logits by ~1e-2 whichever kernels multiply them (XNNPACK and Kite agree to ~1e-5, checked
  // separately); bounds ~3x above the max |diff| measured here, noted per model.
  double reference_tolerance;
  std::string Name() const { return name + "_" + quant; }
};

void PrintTo(const ParityModel& m, std::ostream* os) { *os << m.Name(); }

std::vector<Case> LoadCases(const ParityModel& m) {
  std::vector<Case> cases;
  auto add = [&](const std::string& name, const nlohmann::json& j, const std::string& dir) {
    Case c;
    c.name = name;
    c.ids = IdsOf(j["prompt_ids"]);
    c.prompt = static_cast<int64_t>(c.ids.size());
    const std::vector<int32_t> greedy = IdsOf(j["greedy_ids"]);
    c.ids.insert(c.ids.end(), greedy.begin(), greedy.begin() + 16);
    c.logits = ReadF32(dir + j["logits_file"].get<std::string>());
    cases.push_back(std::move(c));
  };
  if (m.stories) {
    const std::string dir = SharedPath("models/stories260K/reference/");
    for (const char* name : {"once_upon", "dialogue"}) add(name, ReadJson(dir + name + ".json"), dir);
  } else {
    const std::string dir = SharedPath(m.hf_dir + "/reference/");
    const nlohmann::json j = ReadJson(dir + "cases.json");
    for (const auto& jc : j["cases"]) add(jc["name"].get<std::string>(), jc, dir);
  }
  return cases;
}

std::unique_ptr<Engine> Load(const std::string& artifact, XnnpackMode mode) {
  EngineOptions options;
  options.model_path = artifact;
  options.xnnpack = mode;
  auto engine = Engine::Load(options);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

// Logits of every row: by one prefill in chunks of max_batch, or (decode) the prompt by prefill
// and then one token at a time.
std::vector<float> RunLogits(const Engine& engine, const Case& c, int64_t max_batch, bool decode) {
  const int64_t vocab = engine.config().vocab_size, rows = static_cast<int64_t>(c.ids.size());
  SessionOptions so;
  so.kv_format = kernels::KvFormat::kF32;  // the references are f32 math
  so.n_threads = 2;
  so.max_batch = max_batch;
  so.context_tokens = rows + 1;
  auto session = Session::Create(engine, so);
  EXPECT_TRUE(session.ok()) << session.status().ToString();
  std::vector<float> logits(static_cast<size_t>(rows * vocab), 0.0f);
  if (!session.ok()) return logits;
  if (!decode) {
    EXPECT_TRUE((*session)->Eval(c.ids.data(), rows, logits.data(), true).ok());
    return logits;
  }
  EXPECT_TRUE((*session)->Eval(c.ids.data(), c.prompt, logits.data(), true).ok());
  const uint64_t products_after_prompt = engine.xnnpack_products();
  for (int64_t t = c.prompt; t < rows; ++t) {
    EXPECT_TRUE((*session)->Eval(&c.ids[t], 1, logits.data() + t * vocab, false).ok());
  }
  EXPECT_EQ(engine.xnnpack_products(), products_after_prompt) << "a one-row decode step went through XNNPACK";
  return logits;
}

class XnnpackEngineParity : public ::testing::TestWithParam<ParityModel> {};

TEST_P(XnnpackEngineParity, ForcedXnnpackMatchesKiteAndReference) {
  const ParityModel& m = GetParam();
  std::string log;
  const std::string artifact = ConvertShared(m.hf_dir, "--quant " + m.quant + " --no-tokenizer --quiet", &log);
  ASSERT_FALSE(artifact.empty()) << log;
  std::unique_ptr<Engine> kite = Load(artifact, XnnpackMode::kOff);
  std::unique_ptr<Engine> xnn = Load(artifact, XnnpackMode::kAlways);
  ASSERT_NE(kite, nullptr);
  ASSERT_NE(xnn, nullptr);
  EXPECT_EQ(kite->xnnpack_stats().matrices, 0);
  const ModelConfig& c = xnn->config();
  // kAlways packs all seven linear matrices of every (dense) layer.
  EXPECT_EQ(xnn->xnnpack_stats().matrices, XnnpackAvailable() ? 7 * static_cast<int>(c.num_layers) : 0);
  if (XnnpackAvailable()) {
    const uint64_t D = c.hidden_size, F = c.intermediate_size, q = c.num_heads * c.head_dim,
                   kv = c.num_kv_heads * c.head_dim;
    // At least the packed f32 values of every weight (XNNPACK adds tile padding and zero biases).
    EXPECT_GE(xnn->xnnpack_stats().packed_bytes, 4 * c.num_layers * (2 * q * D + 2 * kv * D + 3 * F * D));
  }
  const int64_t vocab = c.vocab_size;
  const std::vector<Case> cases = LoadCases(m);
  ASSERT_FALSE(cases.empty());
  double worst_reference = 0, worst_kite = 0;
  for (const Case& cs : cases) {
    const int64_t rows = static_cast<int64_t>(cs.ids.size());
    ASSERT_EQ(static_cast<int64_t>(cs.logits.size()), rows * vocab);
    // max_batch 64: the whole sequence in one product of up to 49 rows; 8: chunks of 8 and a
    // remainder (down to one row, which must stay on Kite's kernels).
    for (int64_t max_batch : {int64_t{64}, int64_t{8}}) {
      for (bool decode : {false, true}) {
        SCOPED_TRACE(m.Name() + "/" + cs.name + " max_batch " + std::to_string(max_batch) +
                     (decode ? " decode" : " prefill"));
        const uint64_t before = xnn->xnnpack_products();
        const std::vector<float> got = RunLogits(*xnn, cs, max_batch, decode);
        const std::vector<float> want = RunLogits(*kite, cs, max_batch, decode);
        const int64_t prefill_rows = decode ? cs.prompt : rows;
        if (XnnpackAvailable() && std::min(prefill_rows, max_batch) >= 2) {
          EXPECT_GT(xnn->xnnpack_products(), before) << "XNNPACK never ran";
        }
        // Against Kite's kernels on the same weights: the same products summed in another order
        // (f32 accumulation, k <= 512 here) give ~1e-6 relative per dot product, a few e-6 on
        // these logits (|logit| < ~10) after the layers; 1e-4 catches any wrong row, column or
        // slice (those move logits by O(0.1-1)) while leaving 10x room.
        const RowDiff vs_kite = CompareRows(got.data(), want.data(), rows, vocab);
        EXPECT_LE(vs_kite.max_abs, 1e-4) << "vs Kite's kernels: worst row " << vs_kite.worst_row;
        const RowDiff vs_reference = CompareRows(got.data(), cs.logits.data(), rows, vocab);
        EXPECT_LE(vs_reference.max_abs, m.reference_tolerance) << "vs reference: worst row " << vs_reference.worst_row;
        worst_kite = std::max(worst_kite, vs_kite.max_abs);
        worst_reference = std::max(worst_reference, vs_reference.max_abs);
      }
    }
  }
  std::printf("[xnnpack parity] %-16s max |diff| vs Kite kernels %.3g, vs reference %.3g (%d matrices, %.2f MB packed)\n",
              m.Name().c_str(), worst_kite, worst_reference, xnn->xnnpack_stats().matrices,
              xnn->xnnpack_stats().packed_bytes / 1e6);
}

INSTANTIATE_TEST_SUITE_P(
    Models, XnnpackEngineParity,
    ::testing::Values(ParityModel{"stories260K", "models/stories260K/hf", "f32", true, 1e-4},
                      ParityModel{"llama", "models/random/llama", "f32", false, 1e-3},
                      ParityModel{"qwen2", "models/random/qwen2", "f32", false, 1e-3},
                      ParityModel{"stories260K", "models/stories260K/hf", "f16", true, 3e-2},  // 1.1e-2
                      ParityModel{"llama", "models/random/llama", "f16", false, 3e-2},         // 8.0e-3
                      ParityModel{"qwen2", "models/random/qwen2", "f16", false, 5e-2}),        // 1.7e-2
    [](const ::testing::TestParamInfo<ParityModel>& info) { return info.param.Name(); });

// Which matrices each mode packs, by the rule for this CPU's kernels.
TEST(XnnpackEngineModes, PackWhatTheModeAndRuleSay) {
  for (const char* quant : {"f32", "f16"}) {
    std::string log;
    const std::string artifact = ConvertShared("models/random/qwen2", std::string("--quant ") + quant + " --no-tokenizer --quiet", &log);
    ASSERT_FALSE(artifact.empty()) << log;
    const bool f32 = std::string(quant) == "f32";
    const XnnpackWeights type = f32 ? XnnpackWeights::kF32 : XnnpackWeights::kF16;
    std::unique_ptr<Engine> on = Load(artifact, XnnpackMode::kOn);
    ASSERT_NE(on, nullptr);
    const ModelConfig& c = on->config();
    const int64_t D = c.hidden_size, F = c.intermediate_size, q = c.num_heads * c.head_dim,
                  kv = c.num_kv_heads * c.head_dim;
    const kernels::GemmKernels& kite = on->model().kernels();
    int per_layer = 0;
    for (const auto& nk : {std::pair<int64_t, int64_t>{q, D}, {kv, D}, {kv, D}, {D, q}, {F, D}, {F, D}, {D, F}}) {
      per_layer += XnnpackWorthPacking(type, nk.first, nk.second, kite) ? 1 : 0;
    }
    const int expect_on = XnnpackAvailable() ? per_layer * static_cast<int>(c.num_layers) : 0;
    SCOPED_TRACE(std::string(quant) + " kernels " + kite.isa);
    EXPECT_EQ(on->xnnpack_stats().matrices, expect_on);
    std::unique_ptr<Engine> automatic = Load(artifact, XnnpackMode::kAuto);
    ASSERT_NE(automatic, nullptr);
    EXPECT_EQ(automatic->xnnpack_stats().matrices, f32 ? expect_on : 0);  // auto: f32 artifacts only
    std::unique_ptr<Engine> off = Load(artifact, XnnpackMode::kOff);
    ASSERT_NE(off, nullptr);
    EXPECT_EQ(off->xnnpack_stats().matrices, 0);
    EXPECT_EQ(off->xnnpack_stats().packed_bytes, 0u);
    // The scalar reference kernels are the truth other kernels are tested against: never packed.
    EngineOptions reference;
    reference.model_path = artifact;
    reference.reference_kernels = true;
    reference.xnnpack = XnnpackMode::kAlways;
    auto engine = Engine::Load(reference);
    ASSERT_TRUE(engine.ok());
    EXPECT_EQ((*engine)->xnnpack_stats().matrices, 0);
  }
}

// The C API's appended option: an out-of-range mode is refused; a caller built before the field
// existed (a smaller struct_size, whatever bytes follow) gets the default, auto.
TEST(XnnpackEngineModes, CApiOption) {
  std::string log;
  const std::string artifact = ConvertShared("models/random/qwen2", "--quant f32 --no-tokenizer --quiet", &log);
  ASSERT_FALSE(artifact.empty()) << log;
  kite_engine_options options;
  kite_engine_options_init(&options);
  EXPECT_EQ(options.xnnpack, KITE_XNNPACK_AUTO);
  options.model_path = artifact.c_str();
  options.xnnpack = 7;
  kite_engine* engine = nullptr;
  EXPECT_EQ(kite_engine_create(&options, &engine), KITE_INVALID_ARGUMENT);
  EXPECT_EQ(engine, nullptr);
  EXPECT_NE(std::string(kite_last_error_message()).find("xnnpack"), std::string::npos) << kite_last_error_message();

  options.struct_size = offsetof(kite_engine_options, xnnpack);  // an older caller; 7 is not read
  ASSERT_EQ(kite_engine_create(&options, &engine), KITE_OK) << kite_last_error_message();
  kite_string described{nullptr, 0};
  ASSERT_EQ(kite_engine_describe(engine, &described), KITE_OK);
  const nlohmann::json j = nlohmann::json::parse(std::string(described.data, described.size));
  kite_string_free(&described);
  kite_engine_destroy(engine);
  std::unique_ptr<Engine> automatic = Load(artifact, XnnpackMode::kAuto);
  ASSERT_NE(automatic, nullptr);
  EXPECT_EQ(j["xnnpack"]["matrices"].get<int>(), automatic->xnnpack_stats().matrices);
  EXPECT_EQ(j["xnnpack"]["available"].get<bool>(), XnnpackAvailable());

  options.struct_size = sizeof(options);
  options.xnnpack = KITE_XNNPACK_OFF;
  ASSERT_EQ(kite_engine_create(&options, &engine), KITE_OK) << kite_last_error_message();
  ASSERT_EQ(kite_engine_describe(engine, &described), KITE_OK);
  const nlohmann::json off = nlohmann::json::parse(std::string(described.data, described.size));
  kite_string_free(&described);
  kite_engine_destroy(engine);
  EXPECT_EQ(off["xnnpack"]["matrices"].get<int>(), 0);
  EXPECT_EQ(off["xnnpack"]["packed_bytes"].get<uint64_t>(), 0u);
}

}  // namespace
}  // namespace testing
}  // namespace kite
