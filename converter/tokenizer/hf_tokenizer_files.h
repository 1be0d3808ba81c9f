// Internal to LoadHfTokenizer: readers for the two layouts of a checkpoint's
// tokenizer (tokenizer.json; vocab.json + merges.txt) and the JSON file helper.
#pragma once

#include <string>

#include "runtime/core/status.h"
#include "runtime/llm/tokenizer/json_fields.h"
#include "runtime/llm/tokenizer_spec.h"

namespace kite {
namespace hf_tokenizer {

// Reads and parses a JSON file; errors name `label` (the file name) and the position.
Result<tok::Json> ReadJsonFile(const std::string& path, const std::string& label);

// Fills model, vocab, merges, added tokens and the four stages from tokenizer.json.
Status ReadTokenizerJson(const std::string& path, TokenizerSpec* spec);

// Fills model, vocab and merges from vocab.json + merges.txt and synthesizes the stages
// that `tokenizer_class` (from tokenizer_config.json, may be null) implies.
Status ReadVocabAndMerges(const std::string& dir, const tok::Json& config, TokenizerSpec* spec);

}  // namespace hf_tokenizer
}  // namespace kite
