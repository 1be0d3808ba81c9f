// Engine: one loaded model — the mapped artifact, bound weights, tokenizer and
// chat template. Read-only after Load, so any number of Sessions (one
// conversation each) can share it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/gemm.h"
#include "runtime/artifact/artifact.h"
#include "runtime/core/status.h"
#include "runtime/model/model.h"

namespace kite {

class Tokenizer;
class ChatTemplate;

struct EngineOptions {
  std::string model_path;
  bool verify_checksums = false;    // recompute every tensor checksum at load
  bool reference_kernels = false;   // scalar kernels only (tests, debugging)
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Load(const EngineOptions& options);
  static Result<std::unique_ptr<Engine>> FromArtifact(std::unique_ptr<Artifact> artifact, const EngineOptions& options);
  ~Engine();

  const Artifact& artifact() const { return *artifact_; }
  const Model& model() const { return *model_; }
  const ModelConfig& config() const { return model_->config(); }
  // Null when the artifact was converted with --no-tokenizer.
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  bool has_chat_template() const { return chat_template_ != nullptr; }
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }
  const char* kernel_isa() const { return model_->kernels().isa; }

  Result<std::vector<int32_t>> Tokenize(const std::string& text, bool parse_special, bool add_special) const;
  // skip_special drops special tokens (BOS, <|im_end|>, ...) from the text.
  Result<std::string> Detokenize(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // Renders the model's chat template (Hugging Face apply_chat_template semantics).
  // ordered_json keeps object keys in the caller's order, as tojson must print them.
  Result<std::string> RenderChat(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                 bool add_generation_prompt) const;

 private:
  Engine() = default;
  std::unique_ptr<Artifact> artifact_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ChatTemplate> chat_template_;
  std::vector<int32_t> eos_ids_;
};

}  // namespace kite
