// The tensors an architecture needs, by Hugging Face name and shape, and the
// check that a checkpoint has exactly those before anything is written.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "converter/safetensors.h"
#include "runtime/core/status.h"
#include "runtime/model/model_config.h"

namespace kite {

struct ExpectedTensor {
  std::string name;             // e.g. "model.layers.0.self_attn.q_proj.weight"
  std::vector<int64_t> shape;   // matrices are [out, in]
};

// In artifact order: embeddings, each layer's tensors, the final norm, then lm_head unless tied.
std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config);

// Every expected tensor must be present as F32/F16/BF16 with the expected shape. Checkpoint
// tensors the model does not use are errors, except ones known to be harmless (rotary
// inv_freq buffers; lm_head.weight of a tied model), which add a line to `warnings`.
// The error lists every problem found (up to a limit), not just the first.
Status CheckCheckpointTensors(const ModelConfig& config, const SafetensorsCheckpoint& checkpoint,
                              std::vector<std::string>* warnings);

}  // namespace kite
