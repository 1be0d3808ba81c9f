#include "runtime/llm/tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "runtime/llm/tokenizer/unicode.h"

namespace kite {
namespace tok {

struct Regex::Impl {
  pcre2_code* code = nullptr;
  ~Impl() {
    if (code != nullptr) pcre2_code_free(code);
  }
};

namespace {

// Per-thread match state: the default 32 KiB JIT stack overflows on long runs of
// whitespace with the `\s+(?!\S)` patterns, so each thread gets a growable one.
struct MatchScratch {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchScratch() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (context != nullptr && jit_stack != nullptr) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchScratch() {
    if (jit_stack != nullptr) pcre2_jit_stack_free(jit_stack);
    if (context != nullptr) pcre2_match_context_free(context);
    if (data != nullptr) pcre2_match_data_free(data);
  }
};

MatchScratch& Scratch() {
  thread_local MatchScratch scratch;
  return scratch;
}

std::string Pcre2Message(int code) {
  PCRE2_UCHAR buffer[256];
  int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
  if (n < 0) return "PCRE2 error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buffer), static_cast<size_t>(n));
}

}  // namespace

Regex::Regex() = default;
Regex::~Regex() = default;

Result<std::unique_ptr<Regex>> Regex::Compile(const std::string& pattern) {
  if (FindInvalidUtf8(pattern) != std::string::npos) {
    return InvalidArgument("regex pattern is not valid UTF-8");
  }
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    return InvalidArgument("regex '" + pattern + "' does not compile at offset " +
                           std::to_string(error_offset) + ": " + Pcre2Message(error_code));
  }
  // JIT is an optimization only: the interpreter is used where it is unavailable.
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  std::unique_ptr<Regex> regex(new Regex());
  regex->impl_.reset(new Impl());
  regex->impl_->code = code;
  regex->pattern_ = pattern;
  return regex;
}

Status Regex::FindAll(std::string_view text, std::vector<Span>* matches) const {
  if (!literal_.empty()) {
    FindLiteral(text, matches);
    return Status::Ok();
  }
  MatchScratch& scratch = Scratch();
  if (scratch.data == nullptr) return Internal("regex: out of memory for match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset <= text.size()) {
    // The caller validated the UTF-8, so PCRE2 need not check it again on every call.
    int rc = pcre2_match(impl_->code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, scratch.data,
                         scratch.context);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // Pathologically long input: retry with the interpreter, which uses the heap.
      rc = pcre2_match(impl_->code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                       scratch.data, scratch.context);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      return InvalidArgument("regex '" + pattern_ + "' failed at byte " + std::to_string(offset) +
                             ": " + Pcre2Message(rc));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(scratch.data);
    const size_t begin = ovector[0], end = ovector[1];
    if (begin > end || end > text.size()) break;  // \K tricks; not produced by tokenizer regexes
    matches->push_back({begin, end});
    if (end > begin) {
      offset = end;
    } else {
      if (end >= text.size()) break;
      char32_t cp;
      offset = end + NextCodePoint(text, end, &cp);
    }
  }
  return Status::Ok();
}

}  // namespace tok
}  // namespace kite
