// The smaller files of a Hugging Face checkpoint: the chat template and its
// special-token strings (tokenizer_config.json, chat_template.jinja,
// special_tokens_map.json) and the generation defaults (generation_config.json).
// Each is optional; a file that exists but is malformed is an error.
#pragma once

#include <string>
#include <vector>

#include "runtime/artifact/artifact.h"
#include "runtime/core/status.h"
#include "runtime/model/model_config.h"

namespace kite {

// chat_template.jinja if present, else tokenizer_config.json's chat_template (a string, or a
// list of {name, template} of which "default" is taken). bos/eos token strings come from
// tokenizer_config.json, else special_tokens_map.json (a string or an {"content": ...} object).
Status LoadChatTemplate(const std::string& dir, ChatTemplateInfo* out, std::vector<std::string>* warnings);

// generation_config.json: sampling defaults into `out` (fields it lacks keep transformers'
// GenerationConfig defaults: temperature 1, top_k 50, top_p 1, no sampling); its eos_token_id
// (an int or a list) adds to config->eos_token_ids, its bos_token_id fills a missing one.
Status LoadGenerationConfig(const std::string& dir, GenerationDefaultsInfo* out, ModelConfig* config);

}  // namespace kite
