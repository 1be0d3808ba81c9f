// Kite's tokenizer: a TokenizerSpec (what tokenizer.json describes) run exactly
// as Hugging Face `tokenizers` runs it:
//   added tokens found in the raw text -> normalizer -> tokens with normalized=true
//   -> pre-tokenizer -> BPE per piece -> (add_special) post-processor template.
// Decoding maps ids to token strings and runs the decoder chain.
//
// Input text must be valid UTF-8: Encode returns InvalidArgument (naming the byte
// offset) otherwise, so bad input never reaches the regex engine. Decoding never
// produces invalid UTF-8: byte sequences that do not form characters become U+FFFD.
// A Tokenizer is immutable after Create; Encode/Decode may run on many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/llm/tokenizer_spec.h"

namespace kite {

namespace tok {
class AddedTokenMatcher;
class BpeModel;
class Decoder;
class Normalizer;
class PostProcessor;
class PreTokenizer;
}  // namespace tok

class Tokenizer {
 public:
  // Validates the spec (ids in range, every stage understood) and builds the lookup tables.
  static Result<std::unique_ptr<Tokenizer>> Create(const TokenizerSpec& spec);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // parse_special: added tokens written in the text become single ids (false: special
  // added tokens are tokenized as plain text, non-special ones still match, as HF's
  // split_special_tokens). add_special: BOS/EOS as the spec says (the post-processor
  // template when there is one, else add_bos/add_eos).
  Result<std::vector<int32_t>> Encode(std::string_view text, bool parse_special = true,
                                      bool add_special = false) const;
  // Error on an out-of-range id. skip_special drops special added tokens.
  Result<std::string> Decode(const std::vector<int32_t>& ids, bool skip_special = false) const;

  int32_t vocab_size() const { return static_cast<int32_t>(token_text_.size()); }
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool IsSpecial(int32_t id) const;  // special added tokens
  int32_t TokenId(std::string_view token_text) const;  // -1 if none
  const std::string& TokenText(int32_t id) const;       // "" if out of range

 private:
  friend class StreamingDecoder;
  Tokenizer();
  Status EncodePiece(std::string text, bool at_origin, std::vector<int32_t>* ids) const;
  // Decodes ids[0, count); clean_up applies clean_up_tokenization_spaces when the spec asks.
  Result<std::string> DecodeRange(const int32_t* ids, size_t count, bool skip_special, bool clean_up) const;

  std::vector<std::string> token_text_;                   // by id, model vocab + added tokens
  std::unordered_map<int32_t, std::string> added_text_;   // added content that differs from the vocab
  std::unordered_map<std::string, int32_t> added_ids_;    // added content -> id
  std::vector<uint8_t> special_;                          // 1 for special added tokens
  std::unique_ptr<tok::BpeModel> model_;
  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<tok::PostProcessor> post_processor_;
  std::unique_ptr<tok::Decoder> decoder_;
  std::unique_ptr<tok::AddedTokenMatcher> raw_matcher_;         // normalized == false
  std::unique_ptr<tok::AddedTokenMatcher> normalized_matcher_;  // normalized == true
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  bool add_bos_ = false;
  bool add_eos_ = false;
  bool clean_up_spaces_ = false;
};

// Streams decoded text token by token. Push returns only text that a full Decode of
// every id pushed so far is sure to contain: complete UTF-8 characters (partial
// multi-byte sequences are held back), with SentencePiece's leading-space strip
// applied only where a full Decode applies it. It decodes a short window that starts
// at a token already emitted, so the cost per token is constant. Flush returns the
// rest. clean_up_tokenization_spaces is not applied to streamed text.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  Result<std::string> Push(int32_t id);
  std::string Flush();
  void Reset();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::vector<int32_t> ids_;  // ids from prefix_offset_ on (older ones are dropped)
  size_t read_offset_ = 0;    // ids_[0, read_offset_) are emitted; prefix_text_ is their text
  std::string prefix_text_;
};

}  // namespace kite
