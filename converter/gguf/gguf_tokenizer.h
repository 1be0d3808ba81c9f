// The tokenizer.ggml.* metadata of a GGUF file, from the TokenizerSpec Kite's
// converter reads out of a Hugging Face checkpoint.
//
// Two llama.cpp tokenizer models are written:
//  - "gpt2": byte-level BPE (Qwen2, SmolLM2, Llama 3). tokens in the byte-level
//    form of tokenizer.json, merges as "left right", token_type, and a
//    pre-tokenizer name llama.cpp knows ("qwen2" for Qwen2 models).
//  - "llama": SentencePiece-style BPE with byte fallback (Llama 2, stories260K).
//    tokens with the U+2581 space marker, scores (higher merges first) and
//    token_type (BYTE for <0xXX>, CONTROL for specials, UNKNOWN for <unk>).
// The token list is padded to the model's vocab_size with "[PADn]" entries of
// type UNUSED, as llama.cpp's own converter does, because llama.cpp takes the
// vocabulary size from the list and checks it against token_embd.
#pragma once

#include <string>
#include <vector>

#include "converter/gguf/gguf_writer.h"
#include "runtime/core/status.h"
#include "runtime/llm/tokenizer_spec.h"
#include "runtime/model/model_config.h"

namespace kite {
namespace gguf {

// llama.cpp's token types (llama_token_type).
enum class TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct TokenizerMetadata {
  std::string model;  // "gpt2" or "llama"
  std::string pre;    // gpt2 only: the pre-tokenizer name
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;
  std::vector<float> scores;         // llama only
  std::vector<std::string> merges;   // gpt2 only
  bool add_space_prefix = false;     // llama only
  std::vector<std::string> warnings;
};

// `pre_override`: a pre-tokenizer name to use instead of the one guessed ("" = guess).
Result<TokenizerMetadata> BuildTokenizerMetadata(const TokenizerSpec& spec, const ModelConfig& config,
                                                 const std::string& pre_override);

// Adds tokenizer.ggml.* (and tokenizer.chat_template when `chat_template` is not empty).
void AddTokenizerMetadata(const TokenizerMetadata& meta, const TokenizerSpec& spec, const ModelConfig& config,
                          const std::string& chat_template, Writer* writer);

}  // namespace gguf
}  // namespace kite
