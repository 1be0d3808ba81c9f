// Sliding-window attention on ring buffers (Gemma 3's local layers, Mistral):
// a long sequence through the ring equals the same model with every position
// cached (the window then applied by masking alone), for several times the
// window and with every batching; memory stays bounded; the window is exactly
// `sliding_window` keys wide (perturbing token 0 reaches position
// layers * (window - 1) and not one further); a rewind the ring cannot serve is
// an error, not a wrong answer. The golden tests check the same models against
// the numpy reference for prompts longer than the windows (33 + 16 tokens).
#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

#include "runtime/llm/session.h"
#include "runtime/model/gemma3_model.h"
#include "runtime/model/llama_model.h"
#include "tests/unit/model/model_test_util.h"

namespace kite {
namespace testing {
namespace {

std::vector<int32_t> RandomIds(int64_t n, int32_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(3, vocab - 1);
  std::vector<int32_t> ids(n);
  for (int32_t& id : ids) id = dist(rng);
  return ids;
}

nlohmann::json SharedConfig(const std::string& model) {
  std::ifstream in(SharedPath(model + "/config.json"));
  return nlohmann::json::parse(in);
}

// Ring and full caches of either family, through the family's NewStateWithCache.
template <typename Family>
std::unique_ptr<ForwardState> NewState(const Model& model, int64_t context, int64_t batch, bool ring) {
  auto state = static_cast<const Family&>(model).NewStateWithCache(context, batch, 2, ring);
  EXPECT_TRUE(state.ok()) << state.status().ToString();
  return state.ok() ? std::move(state).value() : nullptr;
}

template <typename Family>
void ExpectRingEqualsFullCache(const Engine& engine, int64_t window, int64_t length) {
  const Model& model = engine.model();
  ThreadPool pool(2);
  const std::vector<int32_t> ids = RandomIds(length, model.config().vocab_size, 11);
  std::vector<float> first_full;
  for (int64_t batch : {1, 8}) {
    for (int64_t chunk : {int64_t{1}, batch}) {
      if (batch == 1 && chunk == 1 && !first_full.empty()) continue;
      SCOPED_TRACE("max_batch " + std::to_string(batch) + ", chunks of " + std::to_string(chunk));
      auto ring = NewState<Family>(model, length, batch, true);
      auto full = NewState<Family>(model, length, batch, false);
      ASSERT_NE(ring, nullptr);
      ASSERT_NE(full, nullptr);
      // The ring really is bounded: window + batch - 1 rows per sliding layer.
      EXPECT_EQ(ring->kv_cache_bytes(), model.kv_bytes_per_token() * length + model.kv_window_bytes(batch));
      EXPECT_LT(ring->kv_cache_bytes(), full->kv_cache_bytes());
      const std::vector<float> a = RunAll(model, *ring, pool, ids, chunk);
      const std::vector<float> b = RunAll(model, *full, pool, ids, chunk);
      // Same keys in the same order; the only difference is where rows live, but the attention
      // kernels cut their key tiles at the ring's end, which regroups the online-softmax sums:
      // f32 rounding of logits of magnitude ~1-10 (observed <= 7.4e-6), far below the 1e-3 a
      // wrong or missing key would cause.
      EXPECT_LE(MaxAbsDiff(a, b), 1e-4);
      if (first_full.empty()) first_full = b;
      // Other batchings change only the matrix kernels' blocking: f32 rounding.
      EXPECT_LE(MaxAbsDiff(b, first_full), 1e-4);
    }
  }
  (void)window;
}

// Positions that token 0 can influence through `layers` windowed layers: 0..layers*(window-1).
template <typename Family>
void ExpectExactWindowReach(const Engine& engine, int64_t reach) {
  const Model& model = engine.model();
  ThreadPool pool(2);
  const int64_t length = reach + 12;
  std::vector<int32_t> ids = RandomIds(length, model.config().vocab_size, 5);
  std::vector<int32_t> perturbed = ids;
  perturbed[0] = ids[0] == 3 ? 4 : 3;
  const int64_t vocab = model.config().vocab_size;
  for (bool ring : {true, false}) {
    SCOPED_TRACE(ring ? "ring cache" : "full cache");
    auto s1 = NewState<Family>(model, length, 4, ring);
    auto s2 = NewState<Family>(model, length, 4, ring);
    const std::vector<float> a = RunAll(model, *s1, pool, ids, 4);
    const std::vector<float> b = RunAll(model, *s2, pool, perturbed, 4);
    auto row_diff = [&](int64_t row) {
      double d = 0;
      for (int64_t i = 0; i < vocab; ++i) d = std::max(d, std::fabs(double(a[row * vocab + i]) - b[row * vocab + i]));
      return d;
    };
    EXPECT_GT(row_diff(reach), 0.0) << "position " << reach << " must still see token 0";
    for (int64_t row = reach + 1; row < length; ++row) EXPECT_EQ(row_diff(row), 0.0) << "position " << row;
  }
}

TEST(SlidingWindow, Gemma3RingEqualsFullCacheForManyWindows) {
  for (const char* model : {"models/random/gemma3", "models/random/gemma3_softcap"}) {
    SCOPED_TRACE(model);
    const std::string artifact = ConvertDir(SharedPath(model), std::string("ring_") + (model + 14));
    ASSERT_FALSE(artifact.empty());
    std::unique_ptr<Engine> engine = Load(artifact);
    ASSERT_NE(engine, nullptr);
    const int64_t window = engine->config().sliding_window;
    ExpectRingEqualsFullCache<Gemma3Model>(*engine, window, 12 * window);  // the ring wraps many times
  }
}

TEST(SlidingWindow, Gemma3AllSlidingReachesExactlyLayersTimesWindow) {
  // gemma3 with every layer local: 6 layers, window 6 -> token 0 reaches position 30 (the
  // reference README's perturbation check, same number).
  nlohmann::json config = SharedConfig("models/random/gemma3");
  config["layer_types"] = std::vector<std::string>(6, "sliding_attention");
  const std::string dir = CheckpointWithConfig("models/random/gemma3", "gemma3_all_sliding", config.dump());
  const std::string artifact = ConvertDir(dir, "gemma3_all_sliding");
  ASSERT_FALSE(artifact.empty());
  std::unique_ptr<Engine> engine = Load(artifact);
  ASSERT_NE(engine, nullptr);
  ExpectExactWindowReach<Gemma3Model>(*engine, 6 * (6 - 1));
}

TEST(SlidingWindow, MistralWindowOnTheLlamaPath) {
  // random/llama's weights as MistralForCausalLM with a 5-token window on all 4 layers.
  nlohmann::json config = SharedConfig("models/random/llama");
  config["architectures"] = {"MistralForCausalLM"};
  config["model_type"] = "mistral";
  config["sliding_window"] = 5;
  const std::string dir = CheckpointWithConfig("models/random/llama", "mistral_window5", config.dump());
  const std::string artifact = ConvertDir(dir, "mistral_window5");
  ASSERT_FALSE(artifact.empty());
  std::unique_ptr<Engine> engine = Load(artifact);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->model().kv_bytes_per_token(), 0u);  // every layer is windowed
  ExpectRingEqualsFullCache<LlamaModel>(*engine, 5, 60);
  ExpectExactWindowReach<LlamaModel>(*engine, 4 * (5 - 1));
}

TEST(SlidingWindow, MistralWithoutWindowIsLlama) {
  // A window no sequence reaches: identical to the Llama artifact of the same weights, which
  // the golden tests check against the numpy reference.
  nlohmann::json config = SharedConfig("models/random/llama");
  config["architectures"] = {"MistralForCausalLM"};
  config["sliding_window"] = nullptr;
  const std::string dir = CheckpointWithConfig("models/random/llama", "mistral_nowindow", config.dump());
  std::unique_ptr<Engine> mistral = Load(ConvertDir(dir, "mistral_nowindow"));
  std::unique_ptr<Engine> llama = Load(ConvertDir(SharedPath("models/random/llama"), "llama_for_mistral"));
  ASSERT_NE(mistral, nullptr);
  ASSERT_NE(llama, nullptr);
  ThreadPool pool(2);
  const std::vector<int32_t> ids = RandomIds(40, mistral->config().vocab_size, 3);
  auto a = mistral->model().NewState(40, 8, 2);
  auto b = llama->model().NewState(40, 8, 2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(MaxAbsDiff(RunAll(mistral->model(), **a, pool, ids, 8), RunAll(llama->model(), **b, pool, ids, 8)), 0.0);
}

TEST(SlidingWindow, RewindPastTheRingIsAnError) {
  std::unique_ptr<Engine> engine = Load(ConvertDir(SharedPath("models/random/gemma3"), "ring_rewind"));
  ASSERT_NE(engine, nullptr);
  const Model& model = engine->model();
  ThreadPool pool(2);
  const std::vector<int32_t> ids = RandomIds(40, model.config().vocab_size, 9);
  auto state = model.NewState(40, 4, 2);  // local rings of 6 + 4 - 1 = 9 rows
  ASSERT_TRUE(state.ok());
  RunAll(model, **state, pool, ids, 4);
  std::vector<float> logits(model.config().vocab_size);
  // Back to position 20: its window needs positions 15..19, long overwritten.
  Status s = model.Forward(**state, pool, &ids[20], 1, 20, logits.data(), false);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no longer holds position 15"), std::string::npos) << s.ToString();
  // Back 3 tokens (to 37: needs 32..36, still in the 9-row ring): allowed, and identical to
  // the first time position 37 was computed.
  auto fresh = model.NewState(40, 4, 2);
  ASSERT_TRUE(fresh.ok());
  const std::vector<float> expected = RunAll(model, **fresh, pool, ids, 4);
  ASSERT_TRUE(model.Forward(**state, pool, &ids[37], 1, 37, logits.data(), false).ok());
  const int64_t vocab = model.config().vocab_size;
  // (expected came from a 4-token chunk, this from a single token: the matrix kernels block
  // differently, so f32 rounding, not equality.)
  for (int64_t i = 0; i < vocab; ++i) ASSERT_NEAR(logits[i], expected[37 * vocab + i], 1e-4) << i;
  // Starting over from position 0 is always possible.
  EXPECT_TRUE(model.Forward(**state, pool, ids.data(), 4, 0, nullptr, false).ok());
}

}  // namespace
}  // namespace testing
}  // namespace kite
