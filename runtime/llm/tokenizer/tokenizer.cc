#include "runtime/llm/tokenizer/tokenizer.h"

#include "runtime/llm/tokenizer/added_tokens.h"
#include "runtime/llm/tokenizer/bpe_model.h"
#include "runtime/llm/tokenizer/decoder.h"
#include "runtime/llm/tokenizer/normalizer.h"
#include "runtime/llm/tokenizer/post_processor.h"
#include "runtime/llm/tokenizer/pre_tokenizer.h"
#include "runtime/llm/tokenizer/unicode.h"

namespace kite {

namespace {

// Caps what a spec may declare, so a corrupt artifact cannot make us allocate wildly.
constexpr size_t kMaxVocab = size_t{1} << 24;

Status Prefixed(const Status& status, const std::string& prefix) {
  return Status(status.code(), prefix + status.message());
}

// transformers' clean_up_tokenization: undo the spaces a word-level join puts before
// punctuation and English contractions.
std::string CleanUpSpaces(std::string text) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& rule : kRules) {
    const std::string from = rule.first, to = rule.second;
    std::string out;
    size_t last = 0, pos;
    while ((pos = text.find(from, last)) != std::string::npos) {
      out.append(text, last, pos - last);
      out += to;
      last = pos + from.size();
    }
    out.append(text, last, std::string::npos);
    text = std::move(out);
  }
  return text;
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::Create(const TokenizerSpec& spec) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  if (spec.vocab.size() > kMaxVocab) {
    return InvalidArgument("tokenizer: vocabulary of " + std::to_string(spec.vocab.size()) + " tokens is too large");
  }
  for (size_t id = 0; id < spec.vocab.size(); ++id) {
    if (tok::FindInvalidUtf8(spec.vocab[id]) != std::string::npos) {
      return InvalidArgument("tokenizer: token " + std::to_string(id) + " is not valid UTF-8");
    }
  }
  t->token_text_ = spec.vocab;

  // Added tokens: their ids may lie past the model vocabulary (Qwen's do).
  for (const AddedTokenSpec& added : spec.added_tokens) {
    if (added.id >= kMaxVocab) {
      return InvalidArgument("tokenizer: added token '" + added.content + "' has id " + std::to_string(added.id) +
                             ", beyond any vocabulary");
    }
    if (added.content.empty() || tok::FindInvalidUtf8(added.content) != std::string::npos) {
      return InvalidArgument("tokenizer: added token " + std::to_string(added.id) +
                             " has empty or invalid UTF-8 content");
    }
    if (added.id >= t->token_text_.size()) t->token_text_.resize(added.id + 1);
  }
  t->special_.assign(t->token_text_.size(), 0);
  for (const AddedTokenSpec& added : spec.added_tokens) {
    const int32_t id = static_cast<int32_t>(added.id);
    std::string& text = t->token_text_[added.id];
    if (text.empty()) {
      text = added.content;
    } else if (text != added.content) {
      t->added_text_[id] = added.content;  // HF decodes an added id as its content
    }
    t->added_ids_.emplace(added.content, id);
    if (added.special) t->special_[added.id] = 1;
  }

  KITE_ASSIGN_OR_RETURN(t->model_, tok::BpeModel::Create(spec, t->token_text_));
  auto normalizer = tok::Normalizer::Parse(spec.normalizer_json);
  if (!normalizer.ok()) return Prefixed(normalizer.status(), "tokenizer: ");
  t->normalizer_ = std::move(normalizer).value();
  auto pre = tok::PreTokenizer::Parse(spec.pre_tokenizer_json);
  if (!pre.ok()) return Prefixed(pre.status(), "tokenizer: ");
  t->pre_tokenizer_ = std::move(pre).value();
  auto post = tok::PostProcessor::Parse(spec.post_processor_json, t->vocab_size());
  if (!post.ok()) return Prefixed(post.status(), "tokenizer: ");
  t->post_processor_ = std::move(post).value();
  auto decoder = tok::Decoder::Parse(spec.decoder_json);
  if (!decoder.ok()) return Prefixed(decoder.status(), "tokenizer: ");
  t->decoder_ = std::move(decoder).value();

  // Tokens with normalized=true are searched for in normalized text, as their normalized form.
  t->raw_matcher_.reset(new tok::AddedTokenMatcher());
  t->normalized_matcher_.reset(new tok::AddedTokenMatcher());
  for (const AddedTokenSpec& added : spec.added_tokens) {
    tok::AddedTokenMatcher::Entry entry{added.content, static_cast<int32_t>(added.id), added.special,
                                        added.lstrip, added.rstrip, added.single_word};
    if (added.normalized) {
      Status s = t->normalizer_->Apply(&entry.pattern);
      if (!s.ok()) return Prefixed(s, "tokenizer: added token '" + added.content + "': ");
      t->normalized_matcher_->Add(std::move(entry));
    } else {
      t->raw_matcher_->Add(std::move(entry));
    }
  }

  for (int32_t id : {spec.bos_id, spec.eos_id}) {
    if (id < -1 || id >= t->vocab_size()) {
      return InvalidArgument("tokenizer: bos/eos id " + std::to_string(id) + " is outside the vocabulary (" +
                             std::to_string(t->vocab_size()) + " tokens)");
    }
  }
  t->bos_id_ = spec.bos_id;
  t->eos_id_ = spec.eos_id;
  if (t->post_processor_->defines_specials()) {
    t->add_bos_ = !t->post_processor_->prefix().empty();
    t->add_eos_ = !t->post_processor_->suffix().empty();
  } else {
    t->add_bos_ = spec.add_bos && spec.bos_id >= 0;
    t->add_eos_ = spec.add_eos && spec.eos_id >= 0;
  }
  t->clean_up_spaces_ = spec.clean_up_tokenization_spaces;
  return t;
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < vocab_size() && special_[static_cast<size_t>(id)] != 0;
}

int32_t Tokenizer::TokenId(std::string_view token_text) const {
  auto it = added_ids_.find(std::string(token_text));
  if (it != added_ids_.end()) return it->second;
  return model_->Find(token_text);
}

const std::string& Tokenizer::TokenText(int32_t id) const {
  static const std::string kEmpty;
  if (id < 0 || id >= vocab_size()) return kEmpty;
  auto it = added_text_.find(id);
  return it != added_text_.end() ? it->second : token_text_[static_cast<size_t>(id)];
}

Status Tokenizer::EncodePiece(std::string text, bool at_origin, std::vector<int32_t>* ids) const {
  if (text.empty()) return Status::Ok();  // HF drops empty splits
  std::vector<tok::PreToken> pieces;
  pieces.push_back({std::move(text), at_origin});
  KITE_RETURN_IF_ERROR(pre_tokenizer_->Apply(&pieces));
  for (const tok::PreToken& piece : pieces) model_->Tokenize(piece.text, ids);
  return Status::Ok();
}

Result<std::vector<int32_t>> Tokenizer::Encode(std::string_view text, bool parse_special, bool add_special) const {
  const size_t bad = tok::FindInvalidUtf8(text);
  if (bad != std::string::npos) {
    return InvalidArgument("tokenizer: text is not valid UTF-8 at byte " + std::to_string(bad));
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  const bool template_specials = add_special && post_processor_->defines_specials();
  if (template_specials) {
    ids = post_processor_->prefix();
  } else if (add_special && add_bos_) {
    ids.push_back(bos_id_);
  }

  std::vector<tok::AddedSegment> segments;
  raw_matcher_->Split(text, parse_special, &segments);
  std::vector<tok::AddedSegment> inner;
  for (const tok::AddedSegment& seg : segments) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    std::string piece(text.substr(seg.begin, seg.end - seg.begin));
    KITE_RETURN_IF_ERROR(normalizer_->Apply(&piece));
    const bool at_origin = seg.begin == 0;
    if (normalized_matcher_->empty()) {
      KITE_RETURN_IF_ERROR(EncodePiece(std::move(piece), at_origin, &ids));
      continue;
    }
    inner.clear();
    normalized_matcher_->Split(piece, parse_special, &inner);
    for (const tok::AddedSegment& sub : inner) {
      if (sub.id >= 0) {
        ids.push_back(sub.id);
      } else {
        KITE_RETURN_IF_ERROR(
            EncodePiece(piece.substr(sub.begin, sub.end - sub.begin), at_origin && sub.begin == 0, &ids));
      }
    }
  }

  if (template_specials) {
    ids.insert(ids.end(), post_processor_->suffix().begin(), post_processor_->suffix().end());
  } else if (add_special && add_eos_) {
    ids.push_back(eos_id_);
  }
  return ids;
}

Result<std::string> Tokenizer::DecodeRange(const int32_t* ids, size_t count, bool skip_special, bool clean_up) const {
  std::vector<std::string> tokens;
  tokens.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= vocab_size()) {
      return OutOfRange("tokenizer: token id " + std::to_string(id) + " at position " + std::to_string(i) +
                        " is outside the vocabulary (" + std::to_string(vocab_size()) + " tokens)");
    }
    if (skip_special && special_[static_cast<size_t>(id)] != 0) continue;
    tokens.push_back(TokenText(id));
  }
  KITE_ASSIGN_OR_RETURN(std::string text, decoder_->Decode(std::move(tokens)));
  if (clean_up && clean_up_spaces_) text = CleanUpSpaces(std::move(text));
  return text;
}

Result<std::string> Tokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special) const {
  return DecodeRange(ids.data(), ids.size(), skip_special, /*clean_up=*/true);
}

}  // namespace kite
