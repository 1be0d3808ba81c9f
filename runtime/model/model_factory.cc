// Maps config.architecture to the family that runs it.
#include "runtime/model/deepseek_model.h"
#include "runtime/model/gemma3_model.h"
#include "runtime/model/gpt2_model.h"
#include "runtime/model/llama_model.h"
#include "runtime/model/model.h"

namespace kite {

namespace {
template <typename Family>
Result<std::unique_ptr<Model>> Make(const Artifact& artifact, const kernels::GemmKernels& kernels) {
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<Family> model, Family::Create(artifact, kernels));
  return std::unique_ptr<Model>(std::move(model));
}
}  // namespace

Result<std::unique_ptr<Model>> CreateModel(const Artifact& artifact, const kernels::GemmKernels& kernels) {
  const std::string& arch = artifact.config().architecture;
  if (IsLlamaFamily(arch)) return Make<LlamaModel>(artifact, kernels);
  if (arch == "GPT2LMHeadModel") return Make<Gpt2Model>(artifact, kernels);
  if (arch == "Gemma3ForCausalLM") return Make<Gemma3Model>(artifact, kernels);
  if (arch == "DeepseekV2ForCausalLM" || arch == "DeepseekV3ForCausalLM") return Make<DeepseekModel>(artifact, kernels);
  return Unsupported(artifact.path() + ": architecture '" + arch +
                     "' is not supported (supported: LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, "
                     "Qwen2ForCausalLM, Qwen3ForCausalLM, Qwen3MoeForCausalLM, GPT2LMHeadModel, Gemma3ForCausalLM, DeepseekV2ForCausalLM, "
                     "DeepseekV3ForCausalLM, Qwen2MoeForCausalLM)");
}

}  // namespace kite
