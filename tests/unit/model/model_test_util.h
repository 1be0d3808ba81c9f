// Helpers for the model-family unit tests: converting a checkpoint folder in
// process (f32 unless asked), loading it, and running a whole sequence
// through a ForwardState.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "converter/convert.h"
#include "runtime/llm/engine.h"
#include "runtime/model/model.h"
#include "tests/test_paths.h"

namespace kite {
namespace testing {

// Converts with `options` (input_dir and the quantization set) to a fresh artifact, without the
// tokenizer, in the test temp folder; "" on failure (reported).
inline std::string ConvertToTemp(ConvertOptions options, const std::string& name) {
  options.output_path = TempPath(name + ".kite");
  options.include_tokenizer = false;
  auto report = ConvertCheckpoint(options);
  EXPECT_TRUE(report.ok()) << report.status().ToString();
  return report.ok() ? options.output_path : "";
}

// Converts `dir` (absolute) to a fresh artifact in the test temp folder; "" on failure (reported).
inline std::string ConvertDir(const std::string& dir, const std::string& name, QuantScheme scheme = QuantScheme::kF32) {
  ConvertOptions options;
  options.input_dir = dir;
  options.scheme = scheme;
  return ConvertToTemp(options, name);
}

inline std::unique_ptr<Engine> Load(const std::string& artifact) {
  EngineOptions options;
  options.model_path = artifact;
  auto engine = Engine::Load(options);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

// A copy of a shared checkpoint folder with config.json replaced by `config_json`; the weights
// are linked, not copied.
inline std::string CheckpointWithConfig(const std::string& shared_model, const std::string& name,
                                        const std::string& config_json) {
  namespace fs = std::filesystem;
  const std::string dir = TempPath(name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::create_symlink(SharedPath(shared_model + "/model.safetensors"), fs::path(dir) / "model.safetensors");
  std::ofstream(dir + "/config.json") << config_json;
  return dir;
}

// Runs ids through `state` from position 0: chunks of `chunk` tokens (the state's max_batch
// caps them), logits of every row. Returns [ids.size()][vocab].
inline std::vector<float> RunAll(const Model& model, ForwardState& state, ThreadPool& pool,
                                 const std::vector<int32_t>& ids, int64_t chunk) {
  const int64_t vocab = model.config().vocab_size;
  std::vector<float> logits(ids.size() * vocab);
  for (size_t done = 0; done < ids.size(); done += chunk) {
    const int64_t n = std::min<int64_t>(chunk, static_cast<int64_t>(ids.size() - done));
    Status s = model.Forward(state, pool, ids.data() + done, n, static_cast<int64_t>(done), logits.data() + done * vocab,
                             true);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return logits;
}

inline double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = a.size() == b.size() ? 0.0 : 1e30;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  return worst;
}

}  // namespace testing
}  // namespace kite
