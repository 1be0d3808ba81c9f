// Reading a .kite artifact: Artifact::Open maps the file, verifies the
// FlatBuffers header and checks every tensor's offset, length, shape and
// dtype against the file before anything else touches it. Tensor data is
// used in place from the mapping. Layout: runtime/artifact/kite.fbs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/core/file.h"
#include "runtime/core/status.h"
#include "runtime/llm/tokenizer_spec.h"
#include "runtime/model/model_config.h"

namespace kite {

constexpr uint32_t kArtifactFormatVersion = 1;
constexpr uint64_t kArtifactAlignment = 64;
constexpr uint64_t kArtifactPreambleBytes = 64;
constexpr char kArtifactMagic[8] = {'K', 'I', 'T', 'E', 'A', 'R', 'T', '\0'};

enum class DType : uint8_t { kF32 = 0, kF16 = 1, kBF16 = 2, kQ8 = 3, kQ4 = 4, kI32 = 5 };
const char* DTypeName(DType dtype);

struct TensorView {
  std::string name;
  std::vector<int64_t> shape;  // outermost first; matrices are [out, in]
  DType dtype = DType::kF32;
  int64_t group_size = 0;      // Q4 only
  const uint8_t* data = nullptr;
  uint64_t data_bytes = 0;
  const uint8_t* scales = nullptr;  // Q8: f32 [rows]; Q4: f16 [rows][groups]
  uint64_t scales_bytes = 0;
  uint64_t checksum = 0;
  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  int64_t cols() const { return shape.size() < 2 ? (shape.empty() ? 1 : shape[0]) : shape.back(); }
  int64_t elements() const;
};

struct ChatTemplateInfo {
  std::string source;  // empty: the model has no chat template
  std::string bos_token;
  std::string eos_token;
};

struct GenerationDefaultsInfo {
  float temperature = 1.0f;
  int32_t top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  bool do_sample = false;
  uint32_t max_length = 0;
};

struct QuantizationInfo {
  std::string scheme;
  uint32_t group_size = 0;
  float relative_rms_error = 0.0f;
};

class Artifact {
 public:
  // Maps and verifies `path`. Every failure names the file and the problem.
  static Result<std::unique_ptr<Artifact>> Open(const std::string& path);
  // Verifies bytes already in memory (wasm, tests, fuzzing).
  static Result<std::unique_ptr<Artifact>> FromView(std::unique_ptr<FileView> view);

  const std::string& path() const { return view_->name(); }
  uint64_t file_bytes() const { return view_->size(); }
  uint32_t format_version() const { return format_version_; }
  const std::string& producer() const { return producer_; }
  const ModelConfig& config() const { return config_; }
  bool has_tokenizer() const { return has_tokenizer_; }
  const TokenizerSpec& tokenizer() const { return tokenizer_; }
  const ChatTemplateInfo& chat_template() const { return chat_template_; }
  const GenerationDefaultsInfo& generation() const { return generation_; }
  const std::vector<std::string>& stop_strings() const { return stop_strings_; }
  const QuantizationInfo& quantization() const { return quantization_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorView* Find(std::string_view name) const;
  uint64_t weight_bytes() const;  // sum of data + scales bytes

  // Recomputes every tensor's XXH3-64 checksum. progress(done_bytes, total_bytes) may be null.
  Status VerifyChecksums(const std::function<void(uint64_t, uint64_t)>& progress = nullptr) const;

 private:
  Artifact() = default;
  std::unique_ptr<FileView> view_;
  uint32_t format_version_ = 0;
  std::string producer_;
  ModelConfig config_;
  bool has_tokenizer_ = false;
  TokenizerSpec tokenizer_;
  ChatTemplateInfo chat_template_;
  GenerationDefaultsInfo generation_;
  std::vector<std::string> stop_strings_;
  QuantizationInfo quantization_;
  std::vector<TensorView> tensors_;
  std::unordered_map<std::string, size_t> index_;
  friend class ArtifactReader;
};

}  // namespace kite
