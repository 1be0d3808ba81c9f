// A compiled PCRE2 pattern (UTF + UCP, JIT when available) for the regexes that
// tokenizer.json stages carry (Split, Replace, the GPT-2 ByteLevel pattern).
// Matching is thread-safe: each thread keeps its own match data and JIT stack.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/core/status.h"

namespace kite {
namespace tok {

struct Span {
  size_t begin = 0;
  size_t end = 0;
};

class Regex {
 public:
  // `pattern` uses the Oniguruma/Rust subset HF tokenizers write, which PCRE2 accepts.
  static Result<std::unique_ptr<Regex>> Compile(const std::string& pattern);
  // A regex that matches `literal` exactly (what a String pattern means).
  static Result<std::unique_ptr<Regex>> Literal(const std::string& literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends every leftmost non-overlapping match in `text` (valid UTF-8). An empty match
  // is recorded and the search resumes one character later, as Rust's find_iter does.
  Status FindAll(std::string_view text, std::vector<Span>* matches) const;
  const std::string& pattern() const { return pattern_; }

 private:
  Regex();  // defined with Impl, in the backend's file
  // The literal_ case of FindAll, shared by the PCRE2 (regex.cc) and JS (regex_js.cc) backends.
  void FindLiteral(std::string_view text, std::vector<Span>* matches) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string pattern_;
  std::string literal_;  // non-empty: match this string without PCRE2 (faster)
};

}  // namespace tok
}  // namespace kite
