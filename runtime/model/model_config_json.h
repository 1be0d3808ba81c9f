// ModelConfig as JSON, every field by its Hugging Face name (rope_scaling as an object): the
// "config" of kite_engine_describe and of the wasm module's describe call (the browser's WebGPU
// forward pass reads its shapes from there).
#pragma once

#include <nlohmann/json.hpp>

#include "runtime/model/model_config.h"

namespace kite {

nlohmann::json ModelConfigToJson(const ModelConfig& c);

}  // namespace kite
