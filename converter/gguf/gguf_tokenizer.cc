#include "converter/gguf/gguf_tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace kite {
namespace gguf {
namespace {

using Json = nlohmann::json;

Json ParseOrNull(const std::string& text) {
  if (text.empty()) return Json();
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? Json() : j;
}

// True if any object inside `j` has "type" == `type` (the stages nest in Sequences).
bool HasStage(const Json& j, const std::string& type, const Json** found = nullptr) {
  if (j.is_object()) {
    auto it = j.find("type");
    if (it != j.end() && it->is_string() && *it == type) {
      if (found != nullptr) *found = &j;
      return true;
    }
    for (const auto& item : j.items()) {
      if (HasStage(item.value(), type, found)) return true;
    }
  } else if (j.is_array()) {
    for (const auto& item : j) {
      if (HasStage(item, type, found)) return true;
    }
  }
  return false;
}

bool IsByteToken(const std::string& t) {
  // "<0xAB>"
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return false;
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); };
  return hex(t[3]) && hex(t[4]);
}

std::string GuessGpt2Pre(const TokenizerSpec& spec, const ModelConfig& config, std::vector<std::string>* warnings) {
  if (config.model_type == "qwen2" || config.model_type == "qwen3") return "qwen2";
  const Json pre = ParseOrNull(spec.pre_tokenizer_json);
  const std::string text = spec.pre_tokenizer_json;
  if (text.find("\\\\p{N}{1,3}") != std::string::npos || text.find("\\p{N}{1,3}") != std::string::npos) return "llama-bpe";
  const Json* digits = nullptr;
  if (HasStage(pre, "Digits", &digits) && digits->value("individual_digits", false)) return "smollm";
  warnings->push_back("tokenizer: pre-tokenizer not recognised; wrote 'gpt2' (use --pre NAME to choose another)");
  return "gpt2";
}

}  // namespace

Result<TokenizerMetadata> BuildTokenizerMetadata(const TokenizerSpec& spec, const ModelConfig& config,
                                                 const std::string& pre_override) {
  TokenizerMetadata meta;
  if (spec.model_type != "BPE") {
    return Unsupported("tokenizer: model type '" + spec.model_type + "' has no GGUF mapping here (BPE only)");
  }
  const Json pre = ParseOrNull(spec.pre_tokenizer_json);
  const Json decoder = ParseOrNull(spec.decoder_json);
  const Json normalizer = ParseOrNull(spec.normalizer_json);
  const bool byte_level = HasStage(pre, "ByteLevel") || HasStage(decoder, "ByteLevel");
  const Json* metaspace = nullptr;
  const bool has_metaspace = HasStage(pre, "Metaspace", &metaspace);
  const bool spm_like = !byte_level && (spec.byte_fallback || has_metaspace || HasStage(normalizer, "Prepend"));
  if (byte_level) {
    meta.model = "gpt2";
    meta.pre = pre_override.empty() ? GuessGpt2Pre(spec, config, &meta.warnings) : pre_override;
  } else if (spm_like) {
    meta.model = "llama";
    if (!pre_override.empty()) meta.warnings.push_back("tokenizer: --pre is ignored for a SentencePiece-style vocabulary");
    const Json* prepend = nullptr;
    meta.add_space_prefix = (HasStage(normalizer, "Prepend", &prepend) && prepend->value("prepend", "") == "\xE2\x96\x81") ||
                            (has_metaspace && metaspace->value("prepend_scheme", "always") != "never" &&
                             metaspace->value("add_prefix_space", true));
  } else {
    return Unsupported("tokenizer: neither byte-level BPE (ByteLevel stage) nor SentencePiece-style BPE "
                       "(byte_fallback / Metaspace / Prepend) was found");
  }

  if (spec.vocab.size() > config.vocab_size) {
    return InvalidArgument("tokenizer: " + std::to_string(spec.vocab.size()) + " tokens, more than the model's vocab_size " +
                           std::to_string(config.vocab_size));
  }
  const size_t n_vocab = config.vocab_size;
  meta.tokens.resize(n_vocab);
  meta.token_types.assign(n_vocab, static_cast<int32_t>(TokenType::kNormal));
  std::unordered_map<uint32_t, const AddedTokenSpec*> added;
  for (const AddedTokenSpec& a : spec.added_tokens) added[a.id] = &a;
  for (size_t id = 0; id < n_vocab; ++id) {
    TokenType type = TokenType::kNormal;
    if (id >= spec.vocab.size() || spec.vocab[id].empty()) {
      meta.tokens[id] = "[PAD" + std::to_string(id) + "]";
      type = TokenType::kUnused;
    } else {
      meta.tokens[id] = spec.vocab[id];
      auto it = added.find(static_cast<uint32_t>(id));
      if (static_cast<int32_t>(id) == spec.unk_id) type = TokenType::kUnknown;
      else if (it != added.end()) type = it->second->special ? TokenType::kControl : TokenType::kUserDefined;
      else if (meta.model == "llama" && spec.byte_fallback && IsByteToken(spec.vocab[id])) type = TokenType::kByte;
    }
    meta.token_types[id] = static_cast<int32_t>(type);
  }

  if (meta.model == "gpt2") {
    meta.merges.reserve(spec.merges.size());
    for (const auto& m : spec.merges) {
      if (m.first >= spec.vocab.size() || m.second >= spec.vocab.size()) {
        return InvalidArgument("tokenizer: a merge names id " + std::to_string(std::max(m.first, m.second)) +
                               ", past the vocabulary");
      }
      meta.merges.push_back(spec.vocab[m.first] + " " + spec.vocab[m.second]);
    }
    return meta;
  }

  // SentencePiece scores: llama.cpp merges the adjacent pair whose joined text has the highest
  // score. The rank of the BPE merge that makes a token gives the same order (score -rank).
  // Pieces no merge makes (characters, bytes, specials) are never the result of joining two
  // symbols except when such a piece is multi-character; those go last.
  if (!spec.scores.empty()) {
    if (spec.scores.size() != spec.vocab.size()) {
      return InvalidArgument("tokenizer: " + std::to_string(spec.scores.size()) + " scores for " +
                             std::to_string(spec.vocab.size()) + " tokens");
    }
    meta.scores = spec.scores;
    meta.scores.resize(n_vocab, 0.0f);
    return meta;
  }
  std::unordered_map<std::string, uint32_t> id_of;
  for (size_t id = 0; id < spec.vocab.size(); ++id) id_of.emplace(spec.vocab[id], static_cast<uint32_t>(id));
  constexpr float kUnset = 1.0f;
  meta.scores.assign(n_vocab, kUnset);
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& m = spec.merges[rank];
    if (m.first >= spec.vocab.size() || m.second >= spec.vocab.size()) {
      return InvalidArgument("tokenizer: merge " + std::to_string(rank) + " names an id past the vocabulary");
    }
    auto it = id_of.find(spec.vocab[m.first] + spec.vocab[m.second]);
    if (it != id_of.end() && meta.scores[it->second] == kUnset) meta.scores[it->second] = -static_cast<float>(rank);
  }
  const float last = -static_cast<float>(spec.merges.size());
  for (size_t id = 0; id < n_vocab; ++id) {
    if (meta.scores[id] != kUnset) continue;
    const bool single_symbol = meta.token_types[id] != static_cast<int32_t>(TokenType::kNormal) ||
                               meta.tokens[id].size() <= 1 ||
                               // one UTF-8 character: a lead byte followed only by continuation bytes
                               [&] {
                                 const std::string& t = meta.tokens[id];
                                 for (size_t i = 1; i < t.size(); ++i) {
                                   if ((static_cast<unsigned char>(t[i]) & 0xC0) != 0x80) return false;
                                 }
                                 return true;
                               }();
    meta.scores[id] = single_symbol ? 0.0f : last - static_cast<float>(id);
  }
  return meta;
}

void AddTokenizerMetadata(const TokenizerMetadata& meta, const TokenizerSpec& spec, const ModelConfig& config,
                          const std::string& chat_template, Writer* writer) {
  writer->AddString("tokenizer.ggml.model", meta.model);
  if (meta.model == "gpt2") writer->AddString("tokenizer.ggml.pre", meta.pre);
  writer->AddStringArray("tokenizer.ggml.tokens", meta.tokens);
  if (!meta.scores.empty()) writer->AddFloat32Array("tokenizer.ggml.scores", meta.scores);
  writer->AddInt32Array("tokenizer.ggml.token_type", meta.token_types);
  if (meta.model == "gpt2") writer->AddStringArray("tokenizer.ggml.merges", meta.merges);
  if (meta.model == "llama") writer->AddBool("tokenizer.ggml.add_space_prefix", meta.add_space_prefix);

  const int32_t bos = spec.bos_id >= 0 ? spec.bos_id : config.bos_token_id;
  const int32_t eos = spec.eos_id >= 0 ? spec.eos_id : (config.eos_token_ids.empty() ? -1 : config.eos_token_ids[0]);
  if (bos >= 0) writer->AddUint32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
  if (eos >= 0) writer->AddUint32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eos));
  if (spec.unk_id >= 0) writer->AddUint32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(spec.unk_id));
  if (config.pad_token_id >= 0) writer->AddUint32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(config.pad_token_id));
  writer->AddBool("tokenizer.ggml.add_bos_token", spec.add_bos);
  writer->AddBool("tokenizer.ggml.add_eos_token", spec.add_eos);
  if (!chat_template.empty()) writer->AddString("tokenizer.chat_template", chat_template);
}

}  // namespace gguf
}  // namespace kite
