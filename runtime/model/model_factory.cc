// Maps config.architecture to the family that runs it.
#include "runtime/model/llama_model.h"
#include "runtime/model/model.h"

namespace kite {

Result<std::unique_ptr<Model>> CreateModel(const Artifact& artifact, const kernels::GemmKernels& kernels) {
  const std::string& arch = artifact.config().architecture;
  if (IsLlamaFamily(arch)) {
    KITE_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, LlamaModel::Create(artifact, kernels));
    return std::unique_ptr<Model>(std::move(model));
  }
  return Unsupported(artifact.path() + ": architecture '" + arch +
                     "' is not supported (supported: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)");
}

}  // namespace kite
