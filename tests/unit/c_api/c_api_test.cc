// kite.h's conventions, checked on the C API itself with stories260K (f32, converted by the
// kite-convert binary once per process): destroy(NULL) is a no-op; NULL arguments give
// KITE_INVALID_ARGUMENT with a message; the last error is thread-local; options structs from
// older (smaller) and newer (larger) callers work; buffer, context, stop-string and callback
// contracts; determinism; sessions on one engine do not affect each other.
#include "runtime/c_api/kite.h"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_paths.h"

namespace kite {
namespace {

using testing::SharedPath;
using testing::TempPath;

// Removes this process's temp folder (the converted model) at the end.
class TempCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    const std::filesystem::path dir = std::filesystem::path(TempPath("x")).parent_path();
    std::error_code ec;
    if (std::getenv("KITE_KEEP_TEST_TMP") == nullptr && dir.filename() != "tmp") std::filesystem::remove_all(dir, ec);
  }
};
::testing::Environment* const g_cleanup = ::testing::AddGlobalTestEnvironment(new TempCleanup);

const std::string& StoriesModel() {
  static const std::string path = [] {
    const std::string out = TempPath("c_api_stories.kite");
    const std::string command = std::string("'") + KITE_CONVERT_EXE + "' '" + SharedPath("models/stories260K/hf") +
                                "' -o '" + out + "' --quant f32 --quiet";
    return std::system(command.c_str()) == 0 ? out : std::string();
  }();
  return path;
}

// The golden greedy continuation of "Once upon a time" (stories260K/reference/once_upon.json).
const std::vector<int32_t> kOncePrompt = {1, 403, 407, 261, 378};
const std::vector<int32_t> kOnceGreedy = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
                                          410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394};
const char kOnceGreedyText[] = ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw";

// Makes a distinctive failure so a test can tell that a later call replaced the message.
void SetSentinelError(const char* tag = "kite-sentinel") {
  const std::string path = std::string("/nonexistent/") + tag + ".kite";
  ASSERT_NE(kite_verify_artifact(path.c_str(), nullptr, nullptr), KITE_OK);
  ASSERT_NE(std::string(kite_last_error_message()).find(tag), std::string::npos);
}

struct Generated {
  kite_status status = KITE_INTERNAL;
  std::vector<int32_t> ids;  // from the callback
  std::string text;          // from the callback
  int calls = 0;
  int calls_after_stop = 0;
  int stop_after_calls = -1;  // the callback returns 0 on this call (1-based); -1: never
  kite_generation_stats stats{};
};

int OnToken(int32_t id, const char* text, size_t size, void* user) {
  Generated* g = static_cast<Generated*>(user);
  if (g->stop_after_calls >= 0 && g->calls >= g->stop_after_calls) ++g->calls_after_stop;
  ++g->calls;
  if (id >= 0) g->ids.push_back(id);
  g->text.append(text, size);
  return g->stop_after_calls >= 0 && g->calls >= g->stop_after_calls ? 0 : 1;
}

kite_sampling_params Greedy(int32_t max_tokens) {
  kite_sampling_params p;
  kite_sampling_params_init(&p);
  p.temperature = 0;
  p.repetition_penalty = 1.0f;  // the golden is plain argmax
  p.max_tokens = max_tokens;
  return p;
}

class CApi : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(StoriesModel().empty()) << "kite-convert failed";
    kite_engine_options options;
    kite_engine_options_init(&options);
    options.model_path = StoriesModel().c_str();
    ASSERT_EQ(kite_engine_create(&options, &engine_), KITE_OK) << kite_last_error_message();
  }
  void TearDown() override {
    for (kite_session* s : sessions_) kite_session_destroy(s);
    kite_engine_destroy(engine_);
  }
  kite_session* NewSession(int32_t context_tokens = 0, int32_t threads = 1) {
    kite_session_options o;
    kite_session_options_init(&o);
    o.context_tokens = context_tokens;
    o.n_threads = threads;
    kite_session* s = nullptr;
    EXPECT_EQ(kite_session_create(engine_, &o, &s), KITE_OK) << kite_last_error_message();
    if (s != nullptr) sessions_.push_back(s);
    return s;
  }
  Generated Generate(kite_session* s, const std::vector<int32_t>& prompt, const kite_sampling_params& p,
                     int stop_after_calls = -1) {
    Generated g;
    g.stop_after_calls = stop_after_calls;
    g.stats.struct_size = sizeof(g.stats);
    g.status = kite_session_generate(s, prompt.data(), prompt.size(), &p, OnToken, &g, &g.stats);
    return g;
  }
  kite_engine* engine_ = nullptr;
  std::vector<kite_session*> sessions_;
};

TEST(CApiBasics, DestroyAndFreeNullAreNoops) {
  kite_engine_destroy(nullptr);
  kite_session_destroy(nullptr);
  kite_string_free(nullptr);
  kite_string empty{nullptr, 0};
  kite_string_free(&empty);
  kite_engine_options_init(nullptr);
  kite_session_options_init(nullptr);
  kite_sampling_params_init(nullptr);
  EXPECT_EQ(kite_session_position(nullptr), 0);
  EXPECT_STRNE(kite_version(), "");
  for (int code = KITE_OK; code <= KITE_CANCELLED; ++code) {
    const char* name = kite_status_name(static_cast<kite_status>(code));
    ASSERT_NE(name, nullptr) << code;
    EXPECT_STRNE(name, "") << code;
  }
  // A code from a newer library must not crash an older caller's error printing.
  EXPECT_NE(kite_status_name(static_cast<kite_status>(1000)), nullptr);
}

TEST(CApiBasics, LastErrorIsThreadLocal) {
  SetSentinelError("main-thread-error");
  std::string other_before, other_after;
  std::thread t([&] {
    other_before = kite_last_error_message();  // this thread has not failed yet
    SetSentinelError("other-thread-error");
    other_after = kite_last_error_message();
  });
  t.join();
  EXPECT_EQ(other_before.find("main-thread-error"), std::string::npos) << other_before;
  EXPECT_NE(other_after.find("other-thread-error"), std::string::npos) << other_after;
  const std::string mine = kite_last_error_message();
  EXPECT_NE(mine.find("main-thread-error"), std::string::npos) << mine;
  EXPECT_EQ(mine.find("other-thread-error"), std::string::npos) << mine;
}

TEST_F(CApi, NullArgumentsAreInvalidArgumentWithAMessage) {
  kite_session* s = NewSession();
  ASSERT_NE(s, nullptr);
  kite_engine_options no_path;
  kite_engine_options_init(&no_path);
  kite_engine* e = nullptr;
  kite_session* out_session = nullptr;
  kite_model_info info;
  info.struct_size = sizeof(info);
  kite_string str{nullptr, 0};
  const int32_t ids[2] = {1, 403};
  int32_t buffer[8];
  size_t count = 0;
  kite_sampling_params p = Greedy(4);
  const std::vector<std::pair<const char*, std::function<kite_status()>>> calls = {
      {"engine_create(NULL options)", [&] { return kite_engine_create(nullptr, &e); }},
      {"engine_create(NULL out)", [&] { return kite_engine_create(&no_path, nullptr); }},
      {"engine_create(NULL model_path)", [&] { return kite_engine_create(&no_path, &e); }},
      {"engine_info(NULL engine)", [&] { return kite_engine_info(nullptr, &info); }},
      {"engine_info(NULL out)", [&] { return kite_engine_info(engine_, nullptr); }},
      {"engine_describe(NULL engine)", [&] { return kite_engine_describe(nullptr, &str); }},
      {"engine_describe(NULL out)", [&] { return kite_engine_describe(engine_, nullptr); }},
      {"verify_artifact(NULL)", [&] { return kite_verify_artifact(nullptr, nullptr, nullptr); }},
      {"tokenize(NULL engine)", [&] { return kite_tokenize(nullptr, "a", 1, 1, 1, buffer, 8, &count); }},
      {"tokenize(NULL text)", [&] { return kite_tokenize(engine_, nullptr, 3, 1, 1, buffer, 8, &count); }},
      {"tokenize(NULL out_count)", [&] { return kite_tokenize(engine_, "a", 1, 1, 1, buffer, 8, nullptr); }},
      {"detokenize(NULL engine)", [&] { return kite_detokenize(nullptr, ids, 2, &str); }},
      {"detokenize(NULL ids)", [&] { return kite_detokenize(engine_, nullptr, 2, &str); }},
      {"detokenize(NULL out)", [&] { return kite_detokenize(engine_, ids, 2, nullptr); }},
      {"apply_chat_template(NULL engine)", [&] { return kite_apply_chat_template(nullptr, "[]", nullptr, 1, &str); }},
      {"apply_chat_template(NULL messages)", [&] { return kite_apply_chat_template(engine_, nullptr, nullptr, 1, &str); }},
      {"apply_chat_template(NULL out)", [&] { return kite_apply_chat_template(engine_, "[]", nullptr, 1, nullptr); }},
      {"session_create(NULL engine)", [&] { return kite_session_create(nullptr, nullptr, &out_session); }},
      {"session_create(NULL out)", [&] { return kite_session_create(engine_, nullptr, nullptr); }},
      {"session_reset(NULL)", [&] { return kite_session_reset(nullptr); }},
      {"session_truncate(NULL)", [&] { return kite_session_truncate(nullptr, 0); }},
      {"session_truncate(-1)", [&] { return kite_session_truncate(s, -1); }},
      {"session_tokens(NULL session)", [&] { return kite_session_tokens(nullptr, buffer, 8, &count); }},
      {"session_tokens(NULL out_count)", [&] { return kite_session_tokens(s, buffer, 8, nullptr); }},
      {"session_eval(NULL session)", [&] { return kite_session_eval(nullptr, ids, 2, nullptr, 0); }},
      {"session_eval(NULL ids)", [&] { return kite_session_eval(s, nullptr, 2, nullptr, 0); }},
      {"session_eval(0 ids)", [&] { return kite_session_eval(s, ids, 0, nullptr, 0); }},
      {"session_generate(NULL session)", [&] { return kite_session_generate(nullptr, ids, 2, &p, nullptr, nullptr, nullptr); }},
      {"session_generate(NULL prompt)", [&] { return kite_session_generate(s, nullptr, 2, &p, nullptr, nullptr, nullptr); }},
      {"session_generate(0 prompt ids)", [&] { return kite_session_generate(s, ids, 0, &p, nullptr, nullptr, nullptr); }},
  };
  for (const auto& call : calls) {
    SCOPED_TRACE(call.first);
    SetSentinelError();
    EXPECT_EQ(call.second(), KITE_INVALID_ARGUMENT);
    const std::string message = kite_last_error_message();
    EXPECT_FALSE(message.empty());
    EXPECT_EQ(message.find("kite-sentinel"), std::string::npos) << "the message was not replaced: " << message;
  }
  EXPECT_EQ(e, nullptr);
  EXPECT_EQ(out_session, nullptr);
  EXPECT_EQ(kite_session_position(s), 0) << "a failed call changed the session";
}

TEST_F(CApi, OlderAndNewerOptionsStructs) {
  // An older caller's engine options: only struct_size and model_path. The struct is allocated
  // at exactly that size so a sanitizer build catches any read past it.
  struct OldEngineOptions {
    size_t struct_size;
    const char* model_path;
  };
  auto old_engine = std::make_unique<OldEngineOptions>();
  old_engine->struct_size = sizeof(OldEngineOptions);
  old_engine->model_path = StoriesModel().c_str();
  kite_engine* e = nullptr;
  ASSERT_EQ(kite_engine_create(reinterpret_cast<const kite_engine_options*>(old_engine.get()), &e), KITE_OK)
      << kite_last_error_message();
  kite_engine_destroy(e);

  // A newer caller's engine options: unknown trailing fields are ignored.
  std::vector<unsigned char> newer(sizeof(kite_engine_options) + 32, 0xFF);
  kite_engine_options* newer_options = reinterpret_cast<kite_engine_options*>(newer.data());
  kite_engine_options_init(newer_options);
  newer_options->struct_size = newer.size();
  newer_options->model_path = StoriesModel().c_str();
  e = nullptr;
  ASSERT_EQ(kite_engine_create(newer_options, &e), KITE_OK) << kite_last_error_message();
  kite_engine_destroy(e);

  // Older session options {struct_size, context_tokens}: the context is honoured.
  struct OldSessionOptions {
    size_t struct_size;
    int32_t context_tokens;
  };
  static_assert(offsetof(OldSessionOptions, context_tokens) == offsetof(kite_session_options, context_tokens), "");
  auto old_session = std::make_unique<OldSessionOptions>();
  old_session->struct_size = sizeof(OldSessionOptions);
  old_session->context_tokens = 16;
  kite_session* s = nullptr;
  ASSERT_EQ(kite_session_create(engine_, reinterpret_cast<const kite_session_options*>(old_session.get()), &s), KITE_OK)
      << kite_last_error_message();
  sessions_.push_back(s);
  const std::vector<int32_t> ids(17, 300);
  EXPECT_EQ(kite_session_eval(s, ids.data(), 17, nullptr, 0), KITE_CONTEXT_FULL);
  EXPECT_EQ(kite_session_eval(s, ids.data(), 16, nullptr, 0), KITE_OK) << kite_last_error_message();

  // Older sampling params, up to max_tokens (no stop strings, no ignore_eos).
  struct OldSamplingParams {
    size_t struct_size;
    float temperature;
    int32_t top_k;
    float top_p;
    float min_p;
    float repetition_penalty;
    uint64_t seed;
    int32_t max_tokens;
  };
  static_assert(offsetof(OldSamplingParams, max_tokens) == offsetof(kite_sampling_params, max_tokens), "");
  auto old_params = std::make_unique<OldSamplingParams>();
  *old_params = {sizeof(OldSamplingParams), 0.0f, 0, 1.0f, 0.0f, 1.0f, 0, 5};
  kite_session* s2 = NewSession();
  Generated g;
  g.stats.struct_size = sizeof(g.stats);
  ASSERT_EQ(kite_session_generate(s2, kOncePrompt.data(), kOncePrompt.size(),
                                  reinterpret_cast<const kite_sampling_params*>(old_params.get()), OnToken, &g, &g.stats),
            KITE_OK)
      << kite_last_error_message();
  EXPECT_EQ(g.ids, std::vector<int32_t>(kOnceGreedy.begin(), kOnceGreedy.begin() + 5));
  EXPECT_STREQ(g.stats.stop_reason, "max_tokens");

  // Older out-structs: nothing is written past the caller's struct_size.
  const size_t old_info_size = offsetof(kite_model_info, has_tokenizer);
  std::vector<unsigned char> info_bytes(sizeof(kite_model_info), 0xAB);
  kite_model_info* info = reinterpret_cast<kite_model_info*>(info_bytes.data());
  info->struct_size = old_info_size;
  ASSERT_EQ(kite_engine_info(engine_, info), KITE_OK);
  EXPECT_EQ(info->vocab_size, 512);
  EXPECT_EQ(info->context_max, 512);
  EXPECT_EQ(info->bos_id, 1);
  EXPECT_EQ(info->struct_size, old_info_size);
  for (size_t i = old_info_size; i < info_bytes.size(); ++i) ASSERT_EQ(info_bytes[i], 0xAB) << "info byte " << i;

  const size_t old_stats_size = offsetof(kite_generation_stats, prefill_ms);
  std::vector<unsigned char> stats_bytes(sizeof(kite_generation_stats), 0xCD);
  kite_generation_stats* stats = reinterpret_cast<kite_generation_stats*>(stats_bytes.data());
  stats->struct_size = old_stats_size;
  kite_session* s3 = NewSession();
  kite_sampling_params p = Greedy(3);
  ASSERT_EQ(kite_session_generate(s3, kOncePrompt.data(), kOncePrompt.size(), &p, nullptr, nullptr, stats), KITE_OK);
  EXPECT_EQ(stats->prompt_tokens, 5);
  EXPECT_EQ(stats->generated_tokens, 3);
  for (size_t i = old_stats_size; i < stats_bytes.size(); ++i) ASSERT_EQ(stats_bytes[i], 0xCD) << "stats byte " << i;
}

TEST_F(CApi, TokenizeReportsNeededCapacity) {
  const char text[] = "Once upon a time";
  std::vector<int32_t> ids(8, -7);
  size_t count = 0;
  ASSERT_EQ(kite_tokenize(engine_, text, std::strlen(text), 1, 1, ids.data(), 2, &count), KITE_OUT_OF_RANGE);
  EXPECT_EQ(count, kOncePrompt.size());
  EXPECT_FALSE(std::string(kite_last_error_message()).empty());
  EXPECT_EQ(ids, std::vector<int32_t>(8, -7)) << "nothing may be written when the buffer is too small";
  count = 0;
  ASSERT_EQ(kite_tokenize(engine_, text, std::strlen(text), 1, 1, nullptr, 0, &count), KITE_OUT_OF_RANGE);
  EXPECT_EQ(count, kOncePrompt.size());
  ASSERT_EQ(kite_tokenize(engine_, text, std::strlen(text), 1, 1, ids.data(), count, &count), KITE_OK);
  ids.resize(count);
  EXPECT_EQ(ids, kOncePrompt);
  // text_size is honoured: no NUL needed, bytes past it ignored.
  ASSERT_EQ(kite_tokenize(engine_, "Once upon a timeXYZ", std::strlen(text), 1, 1, ids.data(), ids.size(), &count), KITE_OK);
  EXPECT_EQ(ids, kOncePrompt);
  // Detokenizing without the BOS gives the text back (the decoder drops the dummy-prefix space;
  // special tokens such as BOS are kept as text, like transformers' decode by default).
  kite_string back{nullptr, 0};
  ASSERT_EQ(kite_detokenize(engine_, kOncePrompt.data() + 1, kOncePrompt.size() - 1, &back), KITE_OK);
  EXPECT_EQ(std::string(back.data, back.size), text);
  EXPECT_EQ(back.data[back.size], '\0');
  kite_string_free(&back);
  EXPECT_EQ(back.data, nullptr);
}

TEST_F(CApi, EvalPastTheContextIsContextFull) {
  kite_session* s = NewSession(8);
  ASSERT_NE(s, nullptr);
  const std::vector<int32_t> nine(9, 300);
  EXPECT_EQ(kite_session_eval(s, nine.data(), 9, nullptr, 0), KITE_CONTEXT_FULL);
  EXPECT_FALSE(std::string(kite_last_error_message()).empty());
  EXPECT_EQ(kite_session_position(s), 0);
  ASSERT_EQ(kite_session_eval(s, nine.data(), 8, nullptr, 0), KITE_OK) << kite_last_error_message();
  EXPECT_EQ(kite_session_position(s), 8);
  EXPECT_EQ(kite_session_eval(s, nine.data(), 1, nullptr, 0), KITE_CONTEXT_FULL);
  EXPECT_EQ(kite_session_position(s), 8);
  kite_sampling_params p = Greedy(4);
  EXPECT_EQ(kite_session_generate(s, nine.data(), 1, &p, nullptr, nullptr, nullptr), KITE_CONTEXT_FULL);
  // Truncating frees room again; the kept tokens are the first ones.
  ASSERT_EQ(kite_session_truncate(s, 3), KITE_OK);
  EXPECT_EQ(kite_session_position(s), 3);
  size_t count = 0;
  ASSERT_EQ(kite_session_tokens(s, nullptr, 0, &count), KITE_OK);
  EXPECT_EQ(count, 3u);
  EXPECT_EQ(kite_session_eval(s, nine.data(), 5, nullptr, 0), KITE_OK) << kite_last_error_message();
  // Generation that runs into the end of the context stops there, reporting why.
  kite_session* g = NewSession(16);
  kite_sampling_params long_run = Greedy(100);
  long_run.ignore_eos = 1;
  Generated out = Generate(g, kOncePrompt, long_run);
  ASSERT_EQ(out.status, KITE_OK) << kite_last_error_message();
  EXPECT_STREQ(out.stats.stop_reason, "context_full");
  EXPECT_LE(kite_session_position(g), 16);
}

TEST_F(CApi, StopStringsCutTheTextBeforeThem) {
  struct Case {
    std::vector<const char*> stops;
    std::string text;
  };
  const std::string golden = kOnceGreedyText;
  const std::vector<Case> cases = {
      {{"Lily"}, golden.substr(0, golden.find("Lily"))},
      {{"little girl"}, golden.substr(0, golden.find("little girl"))},          // spans tokens
      {{"park", "was a"}, golden.substr(0, golden.find("was a"))},              // the earliest wins
      {{"e w"}, golden.substr(0, golden.find("e w"))},                          // across a token boundary
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string("stop '") + c.stops[0] + "'");
    kite_sampling_params p = Greedy(64);
    p.stop_strings = c.stops.data();
    p.stop_string_count = c.stops.size();
    Generated g = Generate(NewSession(), kOncePrompt, p);
    ASSERT_EQ(g.status, KITE_OK) << kite_last_error_message();
    EXPECT_STREQ(g.stats.stop_reason, "stop_string");
    EXPECT_EQ(g.text, c.text);
  }
  // A stop string that never appears changes nothing.
  const char* never[] = {"zebra"};
  kite_sampling_params p = Greedy(static_cast<int32_t>(kOnceGreedy.size()));
  p.stop_strings = never;
  p.stop_string_count = 1;
  Generated g = Generate(NewSession(), kOncePrompt, p);
  ASSERT_EQ(g.status, KITE_OK);
  EXPECT_STREQ(g.stats.stop_reason, "max_tokens");
  EXPECT_EQ(g.ids, kOnceGreedy);
  EXPECT_EQ(g.text, golden);
  // An empty stop string is a caller error.
  const char* empty[] = {""};
  p.stop_strings = empty;
  EXPECT_EQ(kite_session_generate(NewSession(), kOncePrompt.data(), kOncePrompt.size(), &p, nullptr, nullptr, nullptr),
            KITE_INVALID_ARGUMENT);
}

TEST_F(CApi, CallbackReturningZeroCancels) {
  for (int stop_at : {1, 3}) {
    SCOPED_TRACE("stop at call " + std::to_string(stop_at));
    Generated g = Generate(NewSession(), kOncePrompt, Greedy(32), stop_at);
    ASSERT_EQ(g.status, KITE_OK) << kite_last_error_message();
    EXPECT_STREQ(g.stats.stop_reason, "cancelled");
    EXPECT_EQ(g.stats.generated_tokens, stop_at);
    EXPECT_EQ(g.calls, stop_at);
    EXPECT_EQ(g.ids, std::vector<int32_t>(kOnceGreedy.begin(), kOnceGreedy.begin() + stop_at));
  }
  // Cancelling while text is held back (the first token "," could start the stop string ",zz"):
  // once the callback said stop, it must not be called again.
  const char* stops[] = {",zz"};
  kite_sampling_params p = Greedy(32);
  p.stop_strings = stops;
  p.stop_string_count = 1;
  Generated g = Generate(NewSession(), kOncePrompt, p, 1);
  ASSERT_EQ(g.status, KITE_OK);
  EXPECT_STREQ(g.stats.stop_reason, "cancelled");
  EXPECT_EQ(g.calls_after_stop, 0) << "the callback was called again after returning 0 (text: '" << g.text << "')";
}

TEST_F(CApi, GreedyIsDeterministicAndSeededSamplingReproducible) {
  const kite_sampling_params greedy = Greedy(static_cast<int32_t>(kOnceGreedy.size()));
  Generated a = Generate(NewSession(), kOncePrompt, greedy);
  Generated b = Generate(NewSession(0, 2), kOncePrompt, greedy);  // thread count must not matter
  ASSERT_EQ(a.status, KITE_OK);
  ASSERT_EQ(b.status, KITE_OK);
  // Exact: every step's golden top-1/top-2 margin is >= 0.053 (once_upon.json min_margin), far
  // above f32 error.
  EXPECT_EQ(a.ids, kOnceGreedy);
  EXPECT_EQ(b.ids, a.ids);
  EXPECT_EQ(b.text, a.text);
  // The same session after a reset repeats itself.
  kite_session* s = NewSession();
  Generated first = Generate(s, kOncePrompt, greedy);
  ASSERT_EQ(kite_session_reset(s), KITE_OK);
  EXPECT_EQ(kite_session_position(s), 0);
  Generated again = Generate(s, kOncePrompt, greedy);
  EXPECT_EQ(again.ids, first.ids);

  auto sampled = [&](uint64_t seed) {
    kite_sampling_params p;
    kite_sampling_params_init(&p);
    p.temperature = 1.5f;  // hot enough that different seeds diverge
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    p.max_tokens = 48;
    p.ignore_eos = 1;
    return Generate(NewSession(), kOncePrompt, p).ids;
  };
  const std::vector<int32_t> seeded = sampled(1234);
  ASSERT_EQ(seeded.size(), 48u);
  EXPECT_EQ(sampled(1234), seeded);
  bool any_differs = false;
  for (uint64_t seed : {1, 2, 3}) any_differs = any_differs || sampled(seed) != seeded;
  EXPECT_TRUE(any_differs) << "the seed has no effect";
}

TEST_F(CApi, SessionsOnOneEngineAreIndependent) {
  const std::vector<int32_t> tom = {1, 274, 287, 381, 261, 370, 400, 428, 395, 392, 412, 444, 426, 385, 328};
  const int32_t n = 20;
  const kite_sampling_params greedy = Greedy(n);
  Generated alone_a = Generate(NewSession(), kOncePrompt, greedy);
  Generated alone_b = Generate(NewSession(), tom, greedy);
  ASSERT_EQ(alone_a.ids.size(), static_cast<size_t>(n));
  ASSERT_EQ(alone_b.ids.size(), static_cast<size_t>(n));

  // Interleaved one token at a time: each generate call evaluates the previous token and
  // samples the next, alternating between the two sessions.
  kite_session* a = NewSession();
  kite_session* b = NewSession();
  const kite_sampling_params one = Greedy(1);
  std::vector<int32_t> ids_a, ids_b;
  std::vector<int32_t> next_a = kOncePrompt, next_b = tom;
  for (int i = 0; i < n; ++i) {
    Generated ga = Generate(a, next_a, one);
    Generated gb = Generate(b, next_b, one);
    ASSERT_EQ(ga.status, KITE_OK) << kite_last_error_message();
    ASSERT_EQ(gb.status, KITE_OK) << kite_last_error_message();
    ASSERT_EQ(ga.ids.size(), 1u);
    ASSERT_EQ(gb.ids.size(), 1u);
    ids_a.push_back(ga.ids[0]);
    ids_b.push_back(gb.ids[0]);
    next_a = ga.ids;
    next_b = gb.ids;
  }
  EXPECT_EQ(ids_a, alone_a.ids);
  EXPECT_EQ(ids_b, alone_b.ids);

  // Concurrently, one thread per session, several rounds.
  for (int round = 0; round < 3; ++round) {
    kite_session* ca = NewSession();
    kite_session* cb = NewSession();
    Generated ta, tb;
    std::thread t1([&] { ta = Generate(ca, kOncePrompt, greedy); });
    std::thread t2([&] { tb = Generate(cb, tom, greedy); });
    t1.join();
    t2.join();
    EXPECT_EQ(ta.ids, alone_a.ids) << "round " << round;
    EXPECT_EQ(tb.ids, alone_b.ids) << "round " << round;
  }
}

}  // namespace
}  // namespace kite
