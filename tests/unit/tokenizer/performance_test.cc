// Load and encode speed of the largest tokenizer here (Qwen2.5: 151k tokens, 151k
// merges). Times are printed for the record, not asserted: speed is judged by
// benchmarks; this test checks that large inputs encode and round-trip.
#include <chrono>
#include <cstdio>

#include <gtest/gtest.h>

#include "converter/tokenizer/hf_tokenizer.h"
#include "tests/unit/tokenizer/tokenizer_test_util.h"

namespace kite {
namespace testing {
namespace {

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

TEST(TokenizerPerformance, QwenLoadAndEncode) {
  auto start = std::chrono::steady_clock::now();
  auto spec = LoadHfTokenizer(ModelDir("tokenizers/qwen2.5"));
  const double convert_ms = MillisecondsSince(start);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();

  start = std::chrono::steady_clock::now();
  auto tokenizer = Tokenizer::Create(*spec);
  const double create_ms = MillisecondsSince(start);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();

  std::vector<EncodingCase> cases = ReadCases(ModelDir("tokenizers/qwen2.5/reference/encodings.json"));
  for (const EncodingCase& c : ReadCases(ModelDir("tokenizers/qwen2.5/reference/chat_encodings.json"))) {
    cases.push_back(c);
  }
  size_t bytes = 0, tokens = 0;
  start = std::chrono::steady_clock::now();
  for (const EncodingCase& c : cases) {
    auto ids = (*tokenizer)->Encode(c.text, c.parse_special);
    ASSERT_TRUE(ids.ok());
    bytes += c.text.size();
    tokens += ids->size();
  }
  const double cases_ms = MillisecondsSince(start);

  // Throughput on ~1 MB of mixed text (the cases repeated), one Encode call.
  std::string big;
  while (big.size() < (1u << 20)) {
    for (const EncodingCase& c : cases) big += c.text + "\n";
  }
  start = std::chrono::steady_clock::now();
  auto big_ids = (*tokenizer)->Encode(big);
  const double big_ms = MillisecondsSince(start);
  ASSERT_TRUE(big_ids.ok());

  std::printf("[ timing   ] qwen2.5 LoadHfTokenizer (vocab.json + merges.txt parse): %.1f ms\n", convert_ms);
  std::printf("[ timing   ] qwen2.5 Tokenizer::Create (151k vocab, 151k merges): %.1f ms\n", create_ms);
  std::printf("[ timing   ] qwen2.5 encode %zu cases (%zu bytes -> %zu tokens): %.2f ms\n", cases.size(), bytes,
              tokens, cases_ms);
  std::printf("[ timing   ] qwen2.5 encode %.2f MB -> %zu tokens: %.1f ms (%.1f MB/s)\n", big.size() / 1e6,
              big_ids->size(), big_ms, big.size() / 1e3 / big_ms);
}

// Long runs that stress the regexes' backtracking and BPE on one huge word: they must
// encode (linear-ish) and decode back exactly.
TEST(TokenizerPerformance, PathologicalRunsRoundTrip) {
  auto tokenizer = LoadTokenizer(ModelDir("tokenizers/qwen2.5"));
  ASSERT_NE(tokenizer, nullptr);
  const size_t n = 100000;
  for (const std::string& text : {std::string(n, ' ') + "x", std::string(n, 'a'), std::string(n, '\n') + " ",
                                  std::string(n / 2, '!') + std::string(n / 2, '\t'), std::string(n, '7')}) {
    const auto start = std::chrono::steady_clock::now();
    auto ids = tokenizer->Encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status().ToString();
    auto back = tokenizer->Decode(*ids);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(*back == text) << "round trip of a run starting " << Printable(text.substr(0, 8));
    const double ms = MillisecondsSince(start);
    std::printf("[ timing   ] %zu-byte run starting %s: %zu tokens, %.1f ms\n", text.size(),
                Printable(text.substr(0, 4)).c_str(), ids->size(), ms);
  }
}

}  // namespace
}  // namespace testing
}  // namespace kite
