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
class XnnpackMatrix;

// Whether the Engine packs f32/f16 linear weights for XNNPACK prefill (runtime/backend/xnnpack).
// Packing costs 4 bytes per packed weight on top of the mapped model and only pays off in prefill.
enum class XnnpackMode {
  kAuto,    // as kOn for artifacts whose linear weights are f32 (the copy at most doubles them), else
            // off; a failure to pack just leaves Kite's kernels (kOn/kAlways fail the load instead)
  kOff,     // never
  kOn,      // the matrices XnnpackWorthPacking accepts, f32 or f16; products the measured rule picks
  kAlways,  // tests: every f32/f16 linear matrix, every product of m >= 2 rows (forces the rule)
};

struct EngineOptions {
  std::string model_path;
  // Instead of a path: the artifact's bytes, already in memory (the wasm heap, a caller's buffer).
  // They are used in place, never copied, and the caller keeps them alive as long as the engine.
  const uint8_t* model_data = nullptr;
  uint64_t model_size = 0;
  std::string model_name = "<memory>";  // names model_data in error messages
  bool verify_checksums = false;    // recompute every tensor checksum at load
  bool reference_kernels = false;   // scalar kernels only (tests, debugging)
  XnnpackMode xnnpack = XnnpackMode::kAuto;  // ignored without XNNPACK (build or CPU) or with reference_kernels
};

// What the Engine packed for XNNPACK at load.
struct XnnpackPackStats {
  int matrices = 0;           // packed matrices
  uint64_t packed_bytes = 0;  // held by XNNPACK on top of the mapped model
  double pack_ms = 0;         // wall time of packing them
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
  const XnnpackPackStats& xnnpack_stats() const { return xnnpack_stats_; }
  // Products run through XNNPACK so far, by all sessions together (tests: which path ran).
  uint64_t xnnpack_products() const;
  // Rearranges the model's weights, in memory, into the kernel set's own layout where it has one
  // (GemmKernels::gemm_q4_transposed: the relaxed wasm set), for the matrices the model reads only
  // through its kernels (Model::KernelLayoutMatrices, every family; kernel_layout.h moves the bytes).
  // Only for an engine loaded from model_data the caller lets it modify (the wasm heap), before any
  // session runs; afterwards the artifact's tensor bytes are no longer the stored ones (checksums,
  // other backends reading them). Returns how many tensors it rearranged (0 when the kernels read
  // the stored layout).
  Result<int> RearrangeWeightsForKernels();
  int rearranged_tensors() const { return rearranged_tensors_; }

  Result<std::vector<int32_t>> Tokenize(const std::string& text, bool parse_special, bool add_special) const;
  // skip_special drops special tokens (BOS, <|im_end|>, ...) from the text.
  Result<std::string> Detokenize(const std::vector<int32_t>& ids, bool skip_special = false) const;
  // Renders the model's chat template (Hugging Face apply_chat_template semantics).
  // ordered_json keeps object keys in the caller's order, as tojson must print them.
  Result<std::string> RenderChat(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                 bool add_generation_prompt) const;

 private:
  Engine() = default;
  // Attaches XNNPACK-packed copies to the model's matrices; `where` names the artifact in errors.
  Status PackForXnnpack(XnnpackMode mode, const std::string& where);

  std::unique_ptr<Artifact> artifact_;
  // Declared before model_ so that they outlive the Matrix views pointing at them.
  std::vector<std::unique_ptr<XnnpackMatrix>> xnnpack_matrices_;
  XnnpackPackStats xnnpack_stats_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ChatTemplate> chat_template_;
  std::vector<int32_t> eos_ids_;
  bool from_memory_ = false;  // loaded from EngineOptions::model_data
  int rearranged_tensors_ = 0;
};

}  // namespace kite
