// Everything a .kite header says besides the tensor table, as plain structs:
// what the converter hands to ArtifactWriter and what the reader parses back
// (runtime/artifact/artifact_header.cc does both directions).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/artifact/artifact.h"
#include "runtime/llm/tokenizer_spec.h"
#include "runtime/model/model_config.h"

namespace kite {

struct ArtifactMetadata {
  std::string producer;  // "kite-convert 0.1"
  ModelConfig config;
  bool has_tokenizer = false;
  TokenizerSpec tokenizer;
  ChatTemplateInfo chat_template;  // empty source: no template
  GenerationDefaultsInfo generation;
  std::vector<std::string> stop_strings;
  QuantizationInfo quantization;
};

// One tensor as the writer plans it; its byte sizes follow from dtype, shape and group size
// (ComputeTensorByteSizes in artifact_layout.h).
struct TensorSpec {
  std::string name;             // Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight"
  std::vector<int64_t> shape;   // logical shape, outermost first; matrices are [out, in]
  DType dtype = DType::kF32;
  int64_t group_size = 0;       // Q4 only
};

}  // namespace kite
