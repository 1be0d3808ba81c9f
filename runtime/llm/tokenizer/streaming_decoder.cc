// StreamingDecoder: incremental detokenization with a sliding window.
// Each Push decodes the window [first emitted-but-kept token, newest] and emits
// what it adds beyond the text of the kept tokens. Because the window always
// begins with an already-emitted token, stages that treat the first token
// specially (Strip, Metaspace) affect both texts alike and cancel out; a text
// ending in U+FFFD may be an unfinished multi-byte character and is held back.
#include "runtime/llm/tokenizer/tokenizer.h"

#include <cstddef>

namespace kite {

namespace {

bool EndsWithReplacementChar(const std::string& text) {
  return text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

}  // namespace

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(tokenizer), skip_special_(skip_special) {}

void StreamingDecoder::Reset() {
  ids_.clear();
  read_offset_ = 0;
  prefix_text_.clear();
}

Result<std::string> StreamingDecoder::Push(int32_t id) {
  if (id < 0 || id >= tokenizer_.vocab_size()) {
    return OutOfRange("tokenizer: token id " + std::to_string(id) + " is outside the vocabulary (" +
                      std::to_string(tokenizer_.vocab_size()) + " tokens)");
  }
  if (skip_special_ && tokenizer_.IsSpecial(id)) return std::string();
  ids_.push_back(id);
  KITE_ASSIGN_OR_RETURN(std::string text, tokenizer_.DecodeRange(ids_.data(), ids_.size(), false, false));
  if (text.size() <= prefix_text_.size() || EndsWithReplacementChar(text)) {
    return std::string();  // nothing new yet, or a character still incomplete
  }
  std::string delta = text.substr(prefix_text_.size());
  // Slide: keep only the tokens just emitted; their own text is the next prefix.
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(read_offset_));
  read_offset_ = ids_.size();
  KITE_ASSIGN_OR_RETURN(prefix_text_, tokenizer_.DecodeRange(ids_.data(), ids_.size(), false, false));
  return delta;
}

std::string StreamingDecoder::Flush() {
  std::string delta;
  if (!ids_.empty()) {
    auto text = tokenizer_.DecodeRange(ids_.data(), ids_.size(), false, false);
    if (text.ok() && text->size() > prefix_text_.size()) delta = text->substr(prefix_text_.size());
  }
  Reset();
  return delta;
}

}  // namespace kite
