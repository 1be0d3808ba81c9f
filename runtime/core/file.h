// Read-only views of files: an mmap where the platform has one, an owned
// buffer otherwise (wasm, or a caller handing us bytes). Weights are used in
// place from these views and never copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/status.h"

namespace kite {

class FileView {
 public:
  virtual ~FileView() = default;
  virtual const uint8_t* data() const = 0;
  virtual uint64_t size() const = 0;
  virtual const std::string& name() const = 0;
};

// Maps `path` read-only. Errors name the path and the system's reason.
Result<std::unique_ptr<FileView>> MapFile(const std::string& path);
// Wraps bytes the caller gives up (no copy of the vector's storage).
std::unique_ptr<FileView> ViewOfBuffer(std::vector<uint8_t> bytes, std::string name);
// Wraps bytes the caller keeps alive for the view's lifetime.
std::unique_ptr<FileView> ViewOfExternal(const uint8_t* data, uint64_t size, std::string name);

Result<std::string> ReadTextFile(const std::string& path);
bool FileExists(const std::string& path);
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace kite
