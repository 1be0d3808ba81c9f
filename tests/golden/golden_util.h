// Helpers for the golden tests: converting a shared checkpoint once per test
// process (cached by arguments), loading reference cases and logits files,
// and comparing logits rows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/llm/engine.h"

namespace kite {
namespace testing {

// Runs kite-convert on `hf_dir` (relative to ../shared) with `extra_args`; returns the
// artifact path, or "" with the tool's output in *log on failure.
std::string ConvertShared(const std::string& hf_dir, const std::string& extra_args, std::string* log = nullptr);
std::unique_ptr<Engine> LoadEngine(const std::string& artifact_path, bool reference_kernels = false);

nlohmann::json ReadJson(const std::string& path);
std::vector<float> ReadF32(const std::string& path);

struct RowDiff {
  double max_abs = 0;    // over every logit
  int64_t worst_row = -1;
};
RowDiff CompareRows(const float* got, const float* want, int64_t rows, int64_t vocab);

// Mean KL(p_ref || p_got) over rows, and the share of rows whose argmax agrees.
struct Agreement {
  double mean_kl = 0;
  double max_kl = 0;
  double top1 = 0;
};
Agreement CompareDistributions(const float* got, const float* want, int64_t rows, int64_t vocab);

std::vector<int32_t> IdsOf(const nlohmann::json& array);

}  // namespace testing
}  // namespace kite
