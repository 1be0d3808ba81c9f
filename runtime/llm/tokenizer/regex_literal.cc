// The part of Regex that needs no regex engine: String patterns, matched with plain search.
// Built with either backend (regex.cc with PCRE2, regex_js.cc in wasm).
#include "runtime/llm/tokenizer/regex.h"
#include "runtime/llm/tokenizer/unicode.h"

namespace kite {
namespace tok {

Result<std::unique_ptr<Regex>> Regex::Literal(const std::string& literal) {
  if (literal.empty()) return InvalidArgument("empty string pattern");
  if (FindInvalidUtf8(literal) != std::string::npos) return InvalidArgument("string pattern is not valid UTF-8");
  std::unique_ptr<Regex> regex(new Regex());
  regex->pattern_ = literal;
  regex->literal_ = literal;
  return regex;
}

void Regex::FindLiteral(std::string_view text, std::vector<Span>* matches) const {
  size_t pos = text.find(literal_);
  while (pos != std::string_view::npos) {
    matches->push_back({pos, pos + literal_.size()});
    pos = text.find(literal_, pos + literal_.size());
  }
}

}  // namespace tok
}  // namespace kite
