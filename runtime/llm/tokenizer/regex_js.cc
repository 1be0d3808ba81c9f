// The wasm build's Regex: JavaScript's RegExp (with the 'u' flag) in place of PCRE2, which has no
// wasm build. The pattern is translated once at Compile into JS syntax with PCRE2's meaning
// (platforms/wasm/kite_unicode_lib.js says how, and refuses what it cannot translate); matching
// returns UTF-8 byte spans exactly as regex.cc's PCRE2 loop does. Native builds use regex.cc, and
// this file compiles to nothing there.
#if defined(__EMSCRIPTEN__)

#include <atomic>
#include <cstdint>
#include <cstdlib>

#include "runtime/llm/tokenizer/regex.h"
#include "runtime/llm/tokenizer/unicode.h"

extern "C" {
// platforms/wasm/kite_unicode_lib.js
int kite_js_regex_translate(const char* pattern, int len, char** out);
int kite_js_regex_find_all(int id, const char* source, int source_len, const char* text, int len, uint32_t** out);
void kite_js_regex_release(int id);
}

namespace kite {
namespace tok {

struct Regex::Impl {
  int id = 0;              // key of the compiled RegExp in each thread's JS table
  std::string js_source;   // the translated pattern (a thread without a RegExp compiles it)
  ~Impl() { kite_js_regex_release(id); }
};

namespace {
std::atomic<int> g_next_regex_id{1};

std::string TakeString(char* s) {
  std::string out = s == nullptr ? std::string() : std::string(s);
  std::free(s);
  return out;
}
}  // namespace

Regex::Regex() = default;
Regex::~Regex() = default;

Result<std::unique_ptr<Regex>> Regex::Compile(const std::string& pattern) {
  if (FindInvalidUtf8(pattern) != std::string::npos) return InvalidArgument("regex pattern is not valid UTF-8");
  char* translated = nullptr;
  const int rc = kite_js_regex_translate(pattern.data(), static_cast<int>(pattern.size()), &translated);
  std::string text = TakeString(translated);
  if (rc != 0) return InvalidArgument("regex '" + pattern + "' does not compile: " + text);
  std::unique_ptr<Regex> regex(new Regex());
  regex->impl_.reset(new Impl());
  regex->impl_->id = g_next_regex_id.fetch_add(1);
  regex->impl_->js_source = std::move(text);
  regex->pattern_ = pattern;
  return regex;
}

Status Regex::FindAll(std::string_view text, std::vector<Span>* matches) const {
  if (!literal_.empty()) {
    FindLiteral(text, matches);
    return Status::Ok();
  }
  uint32_t* spans = nullptr;
  const int n = kite_js_regex_find_all(impl_->id, impl_->js_source.data(), static_cast<int>(impl_->js_source.size()),
                                       text.data(), static_cast<int>(text.size()), &spans);
  if (n < 0) {
    return InvalidArgument("regex '" + pattern_ + "' failed: " + TakeString(reinterpret_cast<char*>(spans)));
  }
  for (int i = 0; i < n; ++i) matches->push_back({spans[2 * i], spans[2 * i + 1]});
  std::free(spans);
  return Status::Ok();
}

}  // namespace tok
}  // namespace kite

#endif  // __EMSCRIPTEN__
