// The decode step allocates nothing: every buffer (K/V cache, activations,
// quantized activations, attention and MoE scratch) is sized when the session
// starts. This binary replaces the global operator new with a counting one and
// evaluates tokens one by one, for every model family, weight format, K/V cache
// format and thread count that changes which buffers a step touches.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "runtime/llm/session.h"
#include "runtime/model/kv_cache.h"
#include "tests/golden/golden_util.h"

// gcc pairs operator new with free() across the replacement below and warns; the pair is correct.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace kite {
namespace testing {
namespace {

struct AllocCase {
  std::string model;  // under ../shared/models/
  std::string quant;
  kernels::KvFormat kv;
  int threads;
  std::string Name() const {
    std::string n = model + "_" + quant + "_" + KvFormatName(kv) + "_t" + std::to_string(threads);
    for (char& c : n) {
      if (c == '/') c = '_';
    }
    return n;
  }
};

// The counter itself sees allocations (otherwise the test below could not fail).
TEST(DecodeAllocationCounter, CountsAllocations) {
  g_allocations.store(0);
  g_counting.store(true);
  std::vector<float>* v = new std::vector<float>(100);
  g_counting.store(false);
  delete v;
  EXPECT_EQ(g_allocations.load(), 2);
}

class DecodeAllocations : public ::testing::TestWithParam<AllocCase> {};

TEST_P(DecodeAllocations, NoneAfterTheSessionStarts) {
  const AllocCase& c = GetParam();
  std::string log;
  const std::string artifact = ConvertShared("models/" + c.model, "--quant " + c.quant + " --no-tokenizer --quiet", &log);
  ASSERT_FALSE(artifact.empty()) << log;
  std::unique_ptr<Engine> engine = LoadEngine(artifact);
  ASSERT_NE(engine, nullptr);
  SessionOptions so;
  so.kv_format = c.kv;
  so.n_threads = c.threads;
  so.context_tokens = 64;
  so.max_batch = 16;
  auto session = Session::Create(*engine, so);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  const int64_t vocab = engine->config().vocab_size;
  std::vector<float> logits(vocab);
  std::vector<int32_t> prompt;
  for (int i = 0; i < 20; ++i) prompt.push_back(3 + (i * 37) % static_cast<int32_t>(vocab - 3));
  ASSERT_TRUE((*session)->Eval(prompt.data(), static_cast<int64_t>(prompt.size()), logits.data(), false).ok());
  // A first decode step outside the count: lazily set-up state (thread wake-up paths) is fine once.
  int32_t next = 5;
  ASSERT_TRUE((*session)->Eval(&next, 1, logits.data(), false).ok());
  g_allocations.store(0);
  g_counting.store(true);
  bool ok = true;
  for (int step = 0; step < 24 && ok; ++step) {
    next = 3 + (step * 101) % static_cast<int32_t>(vocab - 3);
    ok = (*session)->Eval(&next, 1, logits.data(), false).ok();
  }
  g_counting.store(false);
  ASSERT_TRUE(ok);
  EXPECT_EQ(g_allocations.load(), 0) << "heap allocations during 24 decode steps";
}

constexpr kernels::KvFormat kF32 = kernels::KvFormat::kF32;
constexpr kernels::KvFormat kF16 = kernels::KvFormat::kF16;
constexpr kernels::KvFormat kQ8 = kernels::KvFormat::kQ8;
INSTANTIATE_TEST_SUITE_P(
    Families, DecodeAllocations,
    ::testing::Values(AllocCase{"stories260K/hf", "f32", kF32, 1}, AllocCase{"stories260K/hf", "q4", kF16, 2},
                      AllocCase{"stories260K/hf", "q8", kQ8, 2}, AllocCase{"random/qwen2", "mixed", kF16, 2},
                      AllocCase{"random/qwen3", "q8", kF16, 1}, AllocCase{"random/gemma3", "q4", kF16, 2},
                      AllocCase{"random/gpt2", "f16", kF16, 2}, AllocCase{"random/qwen3_moe", "q8", kF16, 2},
                      AllocCase{"random/deepseek_v2", "q8", kF32, 2}),
    [](const ::testing::TestParamInfo<AllocCase>& info) { return info.param.Name(); });

}  // namespace
}  // namespace testing
}  // namespace kite
