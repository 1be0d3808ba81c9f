#include "runtime/llm/engine.h"

#include <algorithm>

#include "runtime/llm/chat_template/chat_template.h"
#include "runtime/llm/tokenizer/tokenizer.h"

namespace kite {

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Load(const EngineOptions& options) {
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
