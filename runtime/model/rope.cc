#include "runtime/model/rope.h"

#include <algorithm>
#include <cmath>

namespace kite {
namespace {

constexpr double kPi = 3.14159265358979323846;

double YarnMscale(double scale, double mscale) {
  if (scale <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

void RopeTable::CosSin(int64_t position, float* out_cos, float* out_sin) const {
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    // Angle in double: positions reach 10^5 and f32 angles lose the low bits.
    const double angle = static_cast<double>(position) * static_cast<double>(inv_freq[i]);
    out_cos[i] = static_cast<float>(std::cos(angle) * attention_scaling);
    out_sin[i] = static_cast<float>(std::sin(angle) * attention_scaling);
  }
}

Result<RopeTable> MakeRopeTable(const ModelConfig& config, int64_t rotary_dim, float theta) {
  if (rotary_dim <= 0 || rotary_dim % 2 != 0) return InvalidArgument("rotary dimension must be even and positive");
  const RopeScalingConfig& s = config.rope_scaling;
  RopeTable table;
  const int64_t half = rotary_dim / 2;
  std::vector<double> freq(half);
  for (int64_t i = 0; i < half; ++i) {
    // HF computes base ** (arange(0, dim, 2) / dim) in float32 then inverts.
    freq[i] = 1.0 / std::pow(static_cast<double>(theta), static_cast<double>(2 * i) / static_cast<double>(rotary_dim));
  }
  const std::string& type = s.type;
  if (type.empty() || type == "default") {
  } else if (type == "linear") {
    if (!(s.factor > 0)) return InvalidArgument("rope_scaling.factor must be positive");
    for (double& f : freq) f /= s.factor;
  } else if (type == "llama3") {
    const double factor = s.factor, low = s.low_freq_factor, high = s.high_freq_factor;
    const double old_len = s.original_max_position_embeddings;
    if (!(factor > 0) || !(old_len > 0) || !(high > low)) return InvalidArgument("rope_scaling (llama3) has invalid fields");
    const double low_wavelen = old_len / low, high_wavelen = old_len / high;
    for (double& f : freq) {
      const double wavelen = 2 * kPi / f;
      double scaled = wavelen > low_wavelen ? f / factor : f;
      const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
      if (medium) {
        const double smooth = (old_len / wavelen - low) / (high - low);
        scaled = (1 - smooth) * scaled / factor + smooth * scaled;
      }
      f = scaled;
    }
  } else if (type == "yarn") {
    const double factor = s.factor;
    const double old_len = s.original_max_position_embeddings > 0 ? s.original_max_position_embeddings
                                                                   : config.max_position_embeddings;
    if (!(factor > 0) || !(old_len > 0)) return InvalidArgument("rope_scaling (yarn) has invalid fields");
    auto correction_dim = [&](double rotations) {
      return (rotary_dim * std::log(old_len / (rotations * 2 * kPi))) / (2 * std::log(static_cast<double>(theta)));
    };
    double low = std::floor(correction_dim(s.beta_fast));
    double high = std::ceil(correction_dim(s.beta_slow));
    low = std::max(low, 0.0);
    high = std::min(high, static_cast<double>(rotary_dim - 1));
    if (low == high) high += 0.001;
    for (int64_t i = 0; i < half; ++i) {
      double ramp = (static_cast<double>(i) - low) / (high - low);
      ramp = std::min(1.0, std::max(0.0, ramp));
      const double extrapolation_factor = 1.0 - ramp;
      const double interpolated = freq[i] / factor;
      freq[i] = interpolated * (1 - extrapolation_factor) + freq[i] * extrapolation_factor;
    }
    if (s.attention_factor > 0) {
      table.attention_scaling = s.attention_factor;
    } else if (s.mscale_all_dim > 0) {
      table.attention_scaling = static_cast<float>(YarnMscale(factor, s.mscale) / YarnMscale(factor, s.mscale_all_dim));
    } else {
      table.attention_scaling = static_cast<float>(YarnMscale(factor, 1.0));
    }
  } else {
    return Unsupported("rope_scaling type '" + type + "' is not supported (default, linear, llama3, yarn)");
  }
  table.inv_freq.assign(freq.begin(), freq.end());
  return table;
}

}  // namespace kite
