// config.json of a Hugging Face checkpoint -> ModelConfig, for the
// architectures Kite runs: LlamaForCausalLM (incl. SmolLM2), Qwen2ForCausalLM,
// Qwen3ForCausalLM. Missing or null fields take the defaults of that
// architecture's transformers config class; anything Kite cannot run exactly
// (another architecture, activation, rope type, sliding window) is an error
// that names the field.
#pragma once

#include <string>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/model/model_config.h"

namespace kite {

const std::vector<std::string>& SupportedArchitectures();

// `source` names the file in messages (e.g. the path of config.json).
Result<ModelConfig> ParseHfConfig(const std::string& json_text, const std::string& source);
// Reads DIR/config.json.
Result<ModelConfig> LoadHfConfig(const std::string& dir);

}  // namespace kite
