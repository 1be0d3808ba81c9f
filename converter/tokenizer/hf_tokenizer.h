// Reads the tokenizer files of a Hugging Face checkpoint folder into a
// TokenizerSpec: tokenizer.json, or vocab.json + merges.txt, together with
// tokenizer_config.json (special tokens, BOS/EOS behaviour).
//
// Without tokenizer.json the stages are synthesized from tokenizer_class:
// Qwen2Tokenizer -> NFC, Split(Qwen2 regex, Isolated) + ByteLevel(no regex),
// ByteLevel decoder; GPT2Tokenizer (or no class) -> ByteLevel with the GPT-2 regex.
// The finished spec is checked by building a Tokenizer from it, so anything the
// runtime cannot run is reported here, with the file and field named.
#pragma once

#include <string>

#include "runtime/core/status.h"
#include "runtime/llm/tokenizer_spec.h"

namespace kite {

Result<TokenizerSpec> LoadHfTokenizer(const std::string& dir);

}  // namespace kite
