// Helpers for the converter tests: writing small safetensors files and
// making modified copies of the shared checkpoints in a temporary folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "converter/safetensors.h"
#include "tests/test_paths.h"

namespace kite {
namespace testing {

struct StTensor {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", ...
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Writes a safetensors file (header padded to 8 bytes with spaces, as the format allows).
inline void WriteSafetensors(const std::string& path, const std::vector<StTensor>& tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const StTensor& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(n >> (8 * i)));
  out << text;
  for (const StTensor& t : tensors) out.write(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
}

// The tensors of a checkpoint folder as StTensors (bytes copied), in file order.
inline std::vector<StTensor> ReadSafetensors(const std::string& dir) {
  auto checkpoint = SafetensorsCheckpoint::OpenDir(dir);
  std::vector<StTensor> out;
  if (!checkpoint.ok()) return out;
  for (const SourceTensor& t : (*checkpoint)->tensors()) {
    out.push_back({t.name, t.dtype_name, t.shape, std::vector<uint8_t>(t.data, t.data + t.bytes)});
  }
  return out;
}

// A fresh folder under the test temp dir holding copies of `shared_model`'s files
// (".../models/random/llama"); model.safetensors is left out when `with_weights` is false.
inline std::string CopyModel(const std::string& shared_model, const std::string& name, bool with_weights = true) {
  namespace fs = std::filesystem;
  const std::string dir = TempPath(name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(SharedPath(shared_model))) {
    if (!entry.is_regular_file()) continue;
    if (!with_weights && entry.path().filename() == "model.safetensors") continue;
    fs::copy_file(entry.path(), fs::path(dir) / entry.path().filename());
  }
  return dir;
}

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline bool PathExists(const std::string& path) { return std::filesystem::exists(path); }

}  // namespace testing
}  // namespace kite
