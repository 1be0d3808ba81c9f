#include "converter/quant_policy.h"

#include <regex>

namespace kite {

struct QuantPolicy::Override {
  std::string text;  // as given, for messages
  std::regex regex;
  DType dtype = DType::kF32;
  bool used = false;  // set by Choose (through the shared pointer)
};

namespace {

DType SchemeDType(QuantScheme scheme) {
  switch (scheme) {
    case QuantScheme::kF32: return DType::kF32;
    case QuantScheme::kF16: return DType::kF16;
    case QuantScheme::kQ8: return DType::kQ8;
    case QuantScheme::kQ4:
    case QuantScheme::kMixed: return DType::kQ4;
  }
  return DType::kF32;
}

// MoE routers, and Qwen2-MoE's [1, hidden] shared-expert gate (a router with one output).
bool IsRouterWeight(const std::string& name) {
  for (const std::string suffix : {".mlp.gate.weight", ".mlp.shared_expert_gate.weight"}) {
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

Result<QuantScheme> ParseQuantScheme(const std::string& name) {
  if (name == "f32") return QuantScheme::kF32;
  if (name == "f16") return QuantScheme::kF16;
  if (name == "q8") return QuantScheme::kQ8;
  if (name == "q4") return QuantScheme::kQ4;
  if (name == "mixed") return QuantScheme::kMixed;
  return InvalidArgument("unknown quantization '" + name + "' (choose f32, f16, q8, q4 or mixed)");
}

const char* QuantSchemeName(QuantScheme scheme) {
  switch (scheme) {
    case QuantScheme::kF32: return "f32";
    case QuantScheme::kF16: return "f16";
    case QuantScheme::kQ8: return "q8";
    case QuantScheme::kQ4: return "q4";
    case QuantScheme::kMixed: return "mixed";
  }
  return "?";
}

Result<QuantPolicy> QuantPolicy::Create(QuantScheme scheme, int64_t group_size,
                                        const std::vector<std::string>& overrides) {
  if (group_size != 32 && group_size != 64 && group_size != 128) {
    return InvalidArgument("group size " + std::to_string(group_size) + " is not supported (choose 32, 64 or 128)");
  }
  QuantPolicy policy;
  policy.scheme_ = scheme;
  policy.group_size_ = group_size;
  for (const std::string& text : overrides) {
    const size_t eq = text.rfind('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("override '" + text + "' is not REGEX=SCHEME (e.g. 'mlp\\.down_proj=q8')");
    }
    auto o = std::make_shared<Override>();
    o->text = text;
    auto target = ParseQuantScheme(text.substr(eq + 1));
    if (!target.ok() || target.value() == QuantScheme::kMixed) {
      return InvalidArgument("override '" + text + "': the scheme after '=' must be f32, f16, q8 or q4");
    }
    o->dtype = SchemeDType(target.value());
    try {
      o->regex = std::regex(text.substr(0, eq), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return InvalidArgument("override '" + text + "': invalid regular expression (" + e.what() + ")");
    }
    policy.overrides_.push_back(std::move(o));
  }
  return policy;
}

TensorSpec QuantPolicy::Choose(const std::string& name, const std::vector<int64_t>& shape) const {
  TensorSpec spec;
  spec.name = name;
  spec.shape = shape;
  spec.dtype = DType::kF32;
  if (shape.size() == 2) {
    // GPT-2's token and position tables (wte is also its tied output head) count as embeddings.
    const bool embedding_or_head = name == "model.embed_tokens.weight" || name == "lm_head.weight" ||
                                   name == "wte.weight" || name == "wpe.weight";
    spec.dtype = scheme_ == QuantScheme::kMixed && embedding_or_head ? DType::kQ8 : SchemeDType(scheme_);
    // MoE routers stay f32 (as llama.cpp keeps ffn_gate_inp): they are tiny ([experts, hidden]),
    // and quantization noise there flips expert choices, which changes a whole MLP's output.
    if (IsRouterWeight(name) && spec.dtype != DType::kF16) spec.dtype = DType::kF32;
    for (const auto& o : overrides_) {
      if (std::regex_search(name, o->regex)) {
        spec.dtype = o->dtype;
        o->used = true;
      }
    }
  }
  if (spec.dtype == DType::kQ4) spec.group_size = group_size_;
  return spec;
}

std::vector<std::string> QuantPolicy::UnusedOverrides() const {
  std::vector<std::string> unused;
  for (const auto& o : overrides_) {
    if (!o->used) unused.push_back(o->text);
  }
  return unused;
}

}  // namespace kite
