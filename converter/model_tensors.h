// The tensors an architecture needs, by name and shape in the artifact, where
// each comes from in the Hugging Face checkpoint, and the check that a
// checkpoint has exactly those before anything is written.
//
// Most tensors are copied under their own name. The exceptions: GPT-2's
// Conv1D weights are stored [in, out] and are transposed to Kite's [out, in]
// (its fused c_attn is split into q/k/v, weight and bias); GPT-2 names may
// carry a "transformer." prefix; Mixtral's experts (block_sparse_moe.*.w1/w2/w3)
// are renamed to the mlp.experts.*.{gate,down,up}_proj layout the runtime binds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "converter/safetensors.h"
#include "converter/tensor_encoder.h"
#include "runtime/core/status.h"
#include "runtime/model/model_config.h"

namespace kite {

struct ExpectedTensor {
  std::string name;             // in the artifact, e.g. "model.layers.0.self_attn.q_proj.weight"
  std::vector<int64_t> shape;   // in the artifact; matrices are [out, in]
  std::string source;           // checkpoint name; CheckCheckpointTensors resolves prefixes
  std::vector<int64_t> source_shape;
  SourceLayout layout = SourceLayout::kSame;
  int64_t offset = 0;
};

// In artifact order: embeddings, each layer's tensors, the final norm, then lm_head unless tied.
std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config);

// Every expected source tensor must be present as F32/F16/BF16 with the expected shape. Checkpoint
// tensors the model does not use are errors, except ones known to be harmless (rotary
// inv_freq buffers, GPT-2's attention-mask buffers, lm_head.weight of a tied model), which add a
// line to `warnings`. The error lists every problem found (up to a limit), not just the first.
// `plan`, when given, receives ExpectedTensors with source names as found in the checkpoint.
Status CheckCheckpointTensors(const ModelConfig& config, const SafetensorsCheckpoint& checkpoint,
                              std::vector<std::string>* warnings, std::vector<ExpectedTensor>* plan = nullptr);

}  // namespace kite
