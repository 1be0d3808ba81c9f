// Rotary position embedding frequencies, with the rope_scaling variants of
// Hugging Face's modeling_rope_utils (default, linear, llama3, yarn). The
// table is computed once per engine; each forward call turns positions into
// cos/sin rows.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/model/model_config.h"

namespace kite {

struct RopeTable {
  std::vector<float> inv_freq;    // [rotary_dim / 2]
  float attention_scaling = 1.0f; // multiplies cos and sin (yarn)
  // cos/sin for `position`: out_cos, out_sin [rotary_dim / 2]
  void CosSin(int64_t position, float* out_cos, float* out_sin) const;
};

Result<RopeTable> MakeRopeTable(const ModelConfig& config, int64_t rotary_dim, float theta);

}  // namespace kite
