#include "runtime/llm/engine.h"

#include <algorithm>
#include <chrono>

#include "runtime/backend/xnnpack/xnnpack_matmul.h"
#include "runtime/core/thread_pool.h"
#include "runtime/llm/chat_template/chat_template.h"
#include "runtime/llm/tokenizer/tokenizer.h"
#include "runtime/model/kernel_layout.h"
#include "runtime/model/weights.h"

namespace kite {

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Load(const EngineOptions& options) {
  if (options.model_data != nullptr) {
    KITE_ASSIGN_OR_RETURN(std::unique_ptr<Artifact> artifact,
                          Artifact::FromView(ViewOfExternal(options.model_data, options.model_size, options.model_name)));
    KITE_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, FromArtifact(std::move(artifact), options));
    engine->from_memory_ = true;
    return engine;
  }
  if (options.model_path.empty()) return InvalidArgument("no model path given");
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<Artifact> artifact, Artifact::Open(options.model_path));
  return FromArtifact(std::move(artifact), options);
}

Result<std::unique_ptr<Engine>> Engine::FromArtifact(std::unique_ptr<Artifact> artifact, const EngineOptions& options) {
  if (options.verify_checksums) KITE_RETURN_IF_ERROR(artifact->VerifyChecksums());
  std::unique_ptr<Engine> engine(new Engine());
  const kernels::GemmKernels& kernels =
      options.reference_kernels ? kernels::ReferenceGemmKernels() : kernels::BestGemmKernels();
  KITE_ASSIGN_OR_RETURN(engine->model_, CreateModel(*artifact, kernels));
  if (!options.reference_kernels) KITE_RETURN_IF_ERROR(engine->PackForXnnpack(options.xnnpack, artifact->path()));
  if (artifact->has_tokenizer()) {
    KITE_ASSIGN_OR_RETURN(engine->tokenizer_, Tokenizer::Create(artifact->tokenizer()));
    if (engine->tokenizer_->vocab_size() > static_cast<int32_t>(artifact->config().vocab_size)) {
      return CorruptArtifact(artifact->path() + ": the tokenizer has " + std::to_string(engine->tokenizer_->vocab_size()) +
                             " tokens but the model's vocabulary is " + std::to_string(artifact->config().vocab_size));
    }
  }
  if (!artifact->chat_template().source.empty()) {
    auto parsed = ChatTemplate::Parse(artifact->chat_template().source);
    if (!parsed.ok()) return Status(parsed.status().code(), artifact->path() + ": chat template: " + parsed.status().message());
    engine->chat_template_ = std::move(parsed).value();
  }
  engine->eos_ids_ = artifact->config().eos_token_ids;
  if (engine->tokenizer_ != nullptr && engine->tokenizer_->eos_id() >= 0 &&
      std::find(engine->eos_ids_.begin(), engine->eos_ids_.end(), engine->tokenizer_->eos_id()) == engine->eos_ids_.end()) {
    engine->eos_ids_.push_back(engine->tokenizer_->eos_id());
  }
  engine->artifact_ = std::move(artifact);
  return engine;
}

Result<int> Engine::RearrangeWeightsForKernels() {
  if (!from_memory_) {
    return Status(StatusCode::kUnsupported,
                  "RearrangeWeightsForKernels: the engine was not loaded from model_data (a mapped file is read-only)");
  }
  // A second call finds every matrix marked and adds nothing.
  rearranged_tensors_ += RearrangeQ4ForKernels(*model_);
  return rearranged_tensors_;
}

Status Engine::PackForXnnpack(XnnpackMode mode, const std::string& where) {
  if (mode == XnnpackMode::kOff || !XnnpackAvailable()) return Status::Ok();
  std::vector<Matrix*> matrices = model_->PackableMatrices();
  if (mode == XnnpackMode::kAuto) {
    // Auto packs only all-f32 artifacts: there the packed copy is as large as the weights it copies,
    // while f16 weights would take three times their size (2 + 4 bytes per weight).
    for (const Matrix* m : matrices) {
      if (m->present() && m->dtype != DType::kF32) return Status::Ok();
    }
  }
  const kernels::GemmKernels& kite = model_->kernels();
  const XnnpackRule rule = mode == XnnpackMode::kAlways ? XnnpackRule::kAlways : XnnpackRule::kMeasured;
  // As many column slices as a default session has threads (fewer threads just run several each).
  const int threads = ThreadPool::DefaultThreadCount();
  const auto start = std::chrono::steady_clock::now();
  for (Matrix* m : matrices) {
    if (!m->present() || (m->dtype != DType::kF32 && m->dtype != DType::kF16)) continue;
    const XnnpackWeights type = m->dtype == DType::kF32 ? XnnpackWeights::kF32 : XnnpackWeights::kF16;
    if (rule == XnnpackRule::kMeasured && !XnnpackWorthPacking(type, m->rows, m->cols, kite)) continue;
    const int slices = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, m->rows)));
    auto packed = XnnpackMatrix::Create(type, m->data, m->rows, m->cols, /*ldy=*/m->rows, slices, rule);
    if (!packed.ok()) {
      // Packing is an optimization: in auto mode Kite's kernels simply run everything instead; a
      // caller who asked for XNNPACK (on, always) learns why it is not there.
      for (Matrix* unpacked : matrices) unpacked->xnnpack = nullptr;
      xnnpack_matrices_.clear();
      xnnpack_stats_ = XnnpackPackStats();
      if (mode == XnnpackMode::kAuto) return Status::Ok();
      return Status(packed.status().code(), where + ": packing for XNNPACK (option xnnpack = off avoids it): " +
                                                packed.status().message());
    }
    m->xnnpack = packed.value().get();
    xnnpack_stats_.packed_bytes += packed.value()->packed_bytes();
    xnnpack_matrices_.push_back(std::move(packed).value());
  }
  xnnpack_stats_.matrices = static_cast<int>(xnnpack_matrices_.size());
  xnnpack_stats_.pack_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return Status::Ok();
}

uint64_t Engine::xnnpack_products() const {
  uint64_t products = 0;
  for (const auto& m : xnnpack_matrices_) products += m->products();
  return products;
}

Result<std::vector<int32_t>> Engine::Tokenize(const std::string& text, bool parse_special, bool add_special) const {
  if (tokenizer_ == nullptr) return Unsupported(artifact_->path() + " has no tokenizer (converted with --no-tokenizer)");
  return tokenizer_->Encode(text, parse_special, add_special);
}

Result<std::string> Engine::Detokenize(const std::vector<int32_t>& ids, bool skip_special) const {
  if (tokenizer_ == nullptr) return Unsupported(artifact_->path() + " has no tokenizer (converted with --no-tokenizer)");
  return tokenizer_->Decode(ids, skip_special);
}

Result<std::string> Engine::RenderChat(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                       bool add_generation_prompt) const {
  if (chat_template_ == nullptr) return Unsupported(artifact_->path() + " has no chat template");
  if (!messages.is_array()) return InvalidArgument("messages must be a JSON array");
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  context["messages"] = messages;
  if (!tools.is_null()) {
    if (!tools.is_array()) return InvalidArgument("tools must be a JSON array");
    context["tools"] = tools;
  }
  context["add_generation_prompt"] = add_generation_prompt;
  context["bos_token"] = artifact_->chat_template().bos_token;
  context["eos_token"] = artifact_->chat_template().eos_token;
  return chat_template_->Render(context);
}

}  // namespace kite
