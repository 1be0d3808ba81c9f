// Which dtype each tensor gets. Schemes: f32, f16, q8, q4 apply to every 2-D
// weight; mixed (the default) keeps the embeddings and lm_head at q8 (they
// are the most sensitive to error) and makes the other 2-D weights q4. 1-D
// tensors (norms, biases) are always f32: they are tiny and precision-critical.
// Mixture-of-experts routers (*.mlp.gate.weight) stay f32 under q8/q4/mixed.
// --override REGEX=SCHEME sets the dtype of the 2-D tensors whose names contain
// a match of REGEX (std::regex ECMAScript, searched); later overrides win.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/artifact/artifact.h"
#include "runtime/artifact/artifact_metadata.h"
#include "runtime/core/status.h"

namespace kite {

enum class QuantScheme { kF32, kF16, kQ8, kQ4, kMixed };

Result<QuantScheme> ParseQuantScheme(const std::string& name);  // "f32" | "f16" | "q8" | "q4" | "mixed"
const char* QuantSchemeName(QuantScheme scheme);

class QuantPolicy {
 public:
  // group_size: 32, 64 or 128 (Q4 tensors). overrides: "REGEX=SCHEME", SCHEME one of f32, f16, q8, q4.
  static Result<QuantPolicy> Create(QuantScheme scheme, int64_t group_size, const std::vector<std::string>& overrides);

  // The artifact description of a tensor with this name and shape.
  TensorSpec Choose(const std::string& name, const std::vector<int64_t>& shape) const;
  // The override patterns that matched no tensor passed to Choose so far (likely typos).
  std::vector<std::string> UnusedOverrides() const;

  QuantScheme scheme() const { return scheme_; }
  int64_t group_size() const { return group_size_; }

 private:
  struct Override;
  QuantScheme scheme_ = QuantScheme::kMixed;
  int64_t group_size_ = 32;
  std::vector<std::shared_ptr<Override>> overrides_;
};

}  // namespace kite
