// The pre_tokenizer stage of tokenizer.json: Sequence, ByteLevel, Split, Digits,
// Metaspace, Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer. Each
// step splits every piece further (HF's PreTokenizedString::split); empty pieces
// are dropped, as HF drops them.
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

struct PreToken {
  std::string text;
  // True when the piece starts at offset 0 of the original input (Metaspace "first").
  bool at_origin = false;
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Splits `piece` around `matches` (sorted, non-overlapping byte spans) the way
// NormalizedString::split does, appending the non-empty results to *out.
void SplitAround(const PreToken& piece, const std::vector<Span>& matches, SplitBehavior behavior,
                 bool invert, std::vector<PreToken>* out);

class PreTokenizer {
 public:
  // `json_text` is the stage as tokenizer.json writes it; "" or "null" means none.
  static Result<std::unique_ptr<PreTokenizer>> Parse(std::string_view json_text);
  ~PreTokenizer();

  bool empty() const { return steps_.empty(); }
  // Splits the pieces in place (text is valid UTF-8).
  Status Apply(std::vector<PreToken>* pieces) const;

 private:
  enum class Kind { kByteLevel, kRegexSplit, kCharSplit, kMetaspace };
  enum class CharClass { kNumeric, kWhitespace, kPunctuation };
  enum class Prepend { kAlways, kFirst, kNever };
  struct Step {
    Kind kind;
    std::unique_ptr<Regex> regex;  // kRegexSplit, and kByteLevel with use_regex
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
    CharClass char_class = CharClass::kNumeric;  // kCharSplit
    bool add_prefix_space = false;                // kByteLevel
    std::string replacement;                      // kMetaspace, as UTF-8
    Prepend prepend = Prepend::kAlways;           // kMetaspace
    bool split = true;                            // kMetaspace
  };
  Status AddStage(const Json& stage, const std::string& where);
  Status ApplyStep(const Step& step, std::vector<PreToken>* pieces) const;

  std::vector<Step> steps_;
};

}  // namespace tok
}  // namespace kite
