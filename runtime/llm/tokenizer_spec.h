// The tokenizer's description as plain data: what the converter extracts
// from tokenizer.json (or vocab.json + merges.txt + tokenizer_config.json),
// what the artifact stores (table Tokenizer in kite.fbs, field for field)
// and what Tokenizer::Create builds from.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kite {

struct AddedTokenSpec {
  uint32_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

struct TokenizerSpec {
  std::string model_type = "BPE";
  std::vector<std::string> vocab;                        // token text by id (tokenizer.json form)
  std::vector<std::pair<uint32_t, uint32_t>> merges;     // (left id, right id), by rank
  std::vector<float> scores;                             // optional
  int32_t unk_id = -1;
  bool byte_fallback = false;
  bool fuse_unk = false;
  bool ignore_merges = false;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  // Hugging Face tokenizer.json stages, kept as their JSON text ("" or "null" = absent).
  std::string normalizer_json;
  std::string pre_tokenizer_json;
  std::string post_processor_json;
  std::string decoder_json;
  std::vector<AddedTokenSpec> added_tokens;
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool clean_up_tokenization_spaces = false;
};

}  // namespace kite
