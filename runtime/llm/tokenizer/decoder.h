// The decoder stage of tokenizer.json: Sequence, ByteLevel, Replace, ByteFallback,
// Fuse, Strip, Metaspace, BPEDecoder. Like HF's decode_chain, every step maps the
// list of token strings to a new list; the result is their concatenation.
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

class Decoder {
 public:
  // `json_text` is the stage as tokenizer.json writes it; "" or "null" joins tokens with
  // a space, as HF does without a decoder.
  static Result<std::unique_ptr<Decoder>> Parse(std::string_view json_text);
  ~Decoder();

  Result<std::string> Decode(std::vector<std::string> tokens) const;

 private:
  enum class Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip, kMetaspace, kBpeSuffix };
  struct Step {
    Kind kind;
    std::unique_ptr<Regex> regex;  // Replace pattern; Metaspace char; BPE suffix
    std::string text;              // Replace: content; Strip/Metaspace: the character; BPE: suffix
    size_t start = 0, stop = 0;    // Strip
    bool strip_first = true;       // Metaspace: prepend_scheme != never
  };
  Status AddStage(const Json& stage, const std::string& where);

  std::vector<Step> steps_;
  bool present_ = false;
};

}  // namespace tok
}  // namespace kite
