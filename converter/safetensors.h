// Reads Hugging Face safetensors checkpoints in place: each file is mapped
// (MapFile), its JSON header is parsed with every offset checked against the
// file, and tensors are handed out as views. One file (model.safetensors) or
// shards listed by model.safetensors.index.json.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/core/file.h"
#include "runtime/core/status.h"

namespace kite {

enum class SourceDType { kF32, kF16, kBF16, kOther };

struct SourceTensor {
  std::string name;
  std::string dtype_name;  // as the header spells it: "F32", "BF16", "I64", ...
  SourceDType dtype = SourceDType::kOther;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // inside the mapping; not necessarily aligned
  uint64_t bytes = 0;
  std::string file;  // the file it lives in, for messages
  int64_t elements() const;
};

class SafetensorsCheckpoint {
 public:
  // DIR/model.safetensors, or the shards named by DIR/model.safetensors.index.json.
  static Result<std::unique_ptr<SafetensorsCheckpoint>> OpenDir(const std::string& dir);
  // The given files as one checkpoint (names must be unique across them).
  static Result<std::unique_ptr<SafetensorsCheckpoint>> OpenFiles(const std::vector<std::string>& paths);

  const std::vector<SourceTensor>& tensors() const { return tensors_; }
  const SourceTensor* Find(const std::string& name) const;
  const std::vector<std::string>& files() const { return files_; }
  uint64_t total_bytes() const;  // sum of every tensor's bytes

 private:
  Status AddFile(const std::string& path);

  std::vector<std::unique_ptr<FileView>> views_;
  std::vector<std::string> files_;
  std::vector<SourceTensor> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

// Widens elements [begin, begin + count) of an F32/F16/BF16 tensor to f32 (exact).
void ReadAsF32(const SourceTensor& tensor, int64_t begin, int64_t count, float* out);

}  // namespace kite
