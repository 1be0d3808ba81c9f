// Pieces of config.json parsing shared by the architecture families
// (hf_config.cc: Llama/Mistral/Qwen incl. MoE; hf_config_families.cc: GPT-2,
// Gemma 3, DeepSeek). Internal to the converter.
#pragma once

#include <string>
#include <vector>

#include "converter/json_fields.h"
#include "runtime/core/status.h"
#include "runtime/model/model_config.h"

namespace kite {
namespace hf {

// rope_theta plus rope_scaling (classic) or rope_parameters (newer transformers). `allowed`
// lists the scaling types this architecture may use besides "default".
Status ParseRope(const JsonFields& f, const std::vector<std::string>& allowed, ModelConfig* c);
// The scaling part alone, from an object such as rope_scaling; `prefix` names it in messages.
Status ParseRopeScaling(const JsonFields& s, const std::vector<std::string>& allowed, ModelConfig* c);
// bos_token_id, pad_token_id, eos_token_id (an id or a list).
Status ParseTokenIds(const JsonFields& f, ModelConfig* c);
// A list of layer indexes (mlp_only_layers); each must be < num_layers.
Status ParseLayerList(const JsonFields& f, const char* key, uint32_t num_layers, std::vector<uint32_t>* out);
// layer_types: per layer "full_attention" or "sliding_attention"; fills c->sliding_layers.
Status ParseLayerTypes(const JsonFields& f, ModelConfig* c);
std::string Join(const std::vector<std::string>& items);

// The families outside the Llama line (hf_config_families.cc).
Status ParseGpt2(const JsonFields& f, ModelConfig* c);
Status ParseGemma3(const JsonFields& f, ModelConfig* c);
Status ParseDeepseek(const JsonFields& f, ModelConfig* c);

}  // namespace hf
}  // namespace kite
