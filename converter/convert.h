// The converter's entry point: a Hugging Face checkpoint folder -> one .kite
// file. Everything is checked before the first byte is written (config,
// tensor names and shapes, tokenizer, chat template, generation config); the
// weights are then converted and streamed one block of rows at a time.
// kite-convert (converter/main.cc) is a thin command line around this.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "converter/quant_policy.h"
#include "converter/tensor_encoder.h"
#include "runtime/artifact/artifact.h"
#include "runtime/core/status.h"
#include "runtime/model/model_config.h"

namespace kite {

constexpr const char* kConverterProducer = "kite-convert 0.1";

struct ConvertOptions {
  std::string input_dir;    // config.json, *.safetensors, tokenizer files
  std::string output_path;  // OUT.kite (written as OUT.kite.tmp-<pid>, renamed at the end)
  QuantScheme scheme = QuantScheme::kMixed;
  int64_t group_size = 32;             // Q4 tensors: 32, 64 or 128
  std::vector<std::string> overrides;  // "REGEX=SCHEME", applied in order (see quant_policy.h)
  bool include_tokenizer = true;       // false: --no-tokenizer
};

struct TensorReport {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::kF32;
  int64_t group_size = 0;
  uint64_t source_bytes = 0;  // in the checkpoint
  uint64_t bytes = 0;         // data + scales in the artifact
  ErrorStats error;           // relative to the checkpoint's values
};

struct ConversionReport {
  std::string output_path;
  ModelConfig config;
  QuantScheme scheme = QuantScheme::kMixed;
  int64_t group_size = 0;  // 0 when no tensor is Q4
  std::vector<TensorReport> tensors;
  ErrorStats total_error;  // over every converted weight
  uint64_t source_bytes = 0;
  uint64_t output_bytes = 0;  // the artifact's size
  bool has_tokenizer = false;
  bool has_chat_template = false;
  std::vector<std::string> warnings;
};

struct ConvertEvent {
  enum class Kind {
    kWarning,         // message
    kTensorProgress,  // bytes of `tensor` (name, shape, dtype known) are being written
    kTensorDone,      // `tensor` is complete, with its error
  };
  Kind kind = Kind::kWarning;
  std::string message;
  size_t tensor_index = 0;
  size_t num_tensors = 0;
  const TensorReport* tensor = nullptr;
  uint64_t bytes_done = 0;   // artifact weight bytes written so far, all tensors
  uint64_t bytes_total = 0;
};
using ConvertProgressFn = std::function<void(const ConvertEvent&)>;

// Converts options.input_dir to options.output_path. On failure nothing is left at
// output_path (an existing file there is untouched) and no temporary file remains.
Result<ConversionReport> ConvertCheckpoint(const ConvertOptions& options, const ConvertProgressFn& progress = nullptr);

}  // namespace kite
