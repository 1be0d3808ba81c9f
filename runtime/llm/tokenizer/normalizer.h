// The normalizer stage of tokenizer.json: Sequence, NFC, NFD, NFKC, NFKD,
// Lowercase, Prepend, Replace (String or Regex), Strip, StripAccents, ByteLevel.
// A Sequence is flattened into one list of steps applied in order.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/llm/tokenizer/json_fields.h"
#include "runtime/llm/tokenizer/regex.h"

namespace kite {
namespace tok {

class Normalizer {
 public:
  // `json_text` is the stage as tokenizer.json writes it; "" or "null" is the identity.
  static Result<std::unique_ptr<Normalizer>> Parse(std::string_view json_text);
  ~Normalizer();

  bool empty() const { return steps_.empty(); }
  // Rewrites *text (valid UTF-8) in place.
  Status Apply(std::string* text) const;

 private:
  enum class Kind { kNfc, kNfd, kNfkc, kNfkd, kLowercase, kPrepend, kReplace, kStrip, kStripAccents, kByteLevel };
  struct Step {
    Kind kind;
    std::string text;              // Prepend: the prefix; Replace: the content
    std::unique_ptr<Regex> regex;  // Replace: the pattern
    bool left = false;             // Strip
    bool right = false;
  };
  Status AddStage(const Json& stage, const std::string& where);

  std::vector<Step> steps_;
};

// Replaces every match of `regex` in `text` by `content` (no group references, as in HF).
Result<std::string> ReplaceAll(const Regex& regex, std::string_view text, std::string_view content);

}  // namespace tok
}  // namespace kite
