// Shared helpers of the tokenizer tests: loading the shared tokenizers and their
// reference encodings, and printable forms of texts and id lists for failures.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/llm/tokenizer/tokenizer.h"

namespace kite {
namespace testing {

struct EncodingCase {
  std::string text;
  std::vector<int32_t> ids;
  bool parse_special = true;
};

// Absolute path of a shared model folder, e.g. "models/tokenizers/qwen2.5".
std::string ModelDir(const std::string& rel);
// LoadHfTokenizer + Tokenizer::Create; fails the test (and returns null) on error.
std::unique_ptr<Tokenizer> LoadTokenizer(const std::string& dir);
// Reads a JSON list of {text, ids, parse_special?}; `key` selects a member list (or "" for the root).
std::vector<EncodingCase> ReadCases(const std::string& path, const std::string& key = "");

// The text as a JSON string literal with non-ASCII escaped, so failures are readable.
std::string Printable(const std::string& text);
std::string Printable(const std::vector<int32_t>& ids);
std::string Nfc(const std::string& text);

// Concatenation of StreamingDecoder::Push over `ids`, then Flush.
std::string StreamDecode(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip_special);

// Checks every case: exact ids, decode(encode(x)) == expected_text(x), and streaming ==
// full decode. Returns the number of cases checked.
struct GoldenOptions {
  bool add_special = false;
  bool skip_special_in_round_trip = false;
  bool nfc_round_trip = false;
};
int CheckGoldenCases(const Tokenizer& tokenizer, const std::vector<EncodingCase>& cases,
                     const GoldenOptions& options);

}  // namespace testing
}  // namespace kite
