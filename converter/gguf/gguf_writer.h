// A GGUF v3 file writer (the format llama.cpp loads): header, typed metadata
// key-values, tensor infos, then the tensor data, each tensor starting at a
// multiple of the alignment (general.alignment, 32 by default).
//
// Use: Add* the metadata, AddTensor every tensor (name, ggml dims, type), then
// Open() writes everything up to the data section; WriteTensorData is called
// in tensor order, in as many pieces as the caller likes, and Commit() checks
// that every tensor got exactly its size and renames the temporary file into
// place. Nothing half-written is left behind: a writer destroyed before
// Commit() removes its temporary file.
//
// Layout (all little-endian): "GGUF", u32 version=3, u64 n_tensors, u64 n_kv;
// kv = string key, u32 type, value; string = u64 length + bytes (no NUL);
// array = u32 element type, u64 count, elements; tensor info = string name,
// u32 n_dims, u64 ne[n_dims] (ne[0] the contiguous dimension), u32 ggml type,
// u64 offset from the start of the data section.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/core/status.h"

namespace kite {
namespace gguf {

// Metadata value types, as numbered by the GGUF spec.
enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};

// The ggml tensor types this writer produces (numbering from ggml.h).
enum class TensorType : uint32_t { kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8 };

const char* TensorTypeName(TensorType type);
// Elements per block and bytes per block: F32 1/4, F16 1/2, Q8_0 32/34, Q4_0 32/18.
int64_t BlockElements(TensorType type);
int64_t BlockBytes(TensorType type);
// Bytes of a tensor whose contiguous dimension ne0 must be a multiple of BlockElements.
Result<uint64_t> TensorBytes(TensorType type, const std::vector<uint64_t>& ne);

constexpr uint32_t kVersion = 3;
constexpr uint32_t kDefaultAlignment = 32;

class Writer {
 public:
  Writer() = default;
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Metadata, written in the order added. Keys must be unique.
  void AddUint32(const std::string& key, uint32_t value);
  void AddInt32(const std::string& key, int32_t value);
  void AddUint64(const std::string& key, uint64_t value);
  void AddFloat32(const std::string& key, float value);
  void AddBool(const std::string& key, bool value);
  void AddString(const std::string& key, const std::string& value);
  void AddStringArray(const std::string& key, const std::vector<std::string>& values);
  void AddFloat32Array(const std::string& key, const std::vector<float>& values);
  void AddInt32Array(const std::string& key, const std::vector<int32_t>& values);

  // ne in ggml order: {columns, rows} for a matrix stored row-major.
  Status AddTensor(const std::string& name, const std::vector<uint64_t>& ne, TensorType type);

  // Writes the header, metadata and tensor infos to PATH.tmp.
  Status Open(const std::string& path);
  // Appends bytes of the current tensor; moves to the next one once this one is complete.
  Status WriteTensorData(const void* data, uint64_t bytes);
  // Checks completeness, flushes, renames PATH.tmp to PATH.
  Status Commit();

  size_t tensor_count() const { return tensors_.size(); }
  uint64_t data_bytes() const { return next_offset_; }

 private:
  struct TensorInfo {
    std::string name;
    std::vector<uint64_t> ne;
    TensorType type;
    uint64_t offset;
    uint64_t bytes;
  };
  void AddKey(const std::string& key, ValueType type);
  Status WriteRaw(const void* data, uint64_t bytes);
  Status Pad(uint64_t to_multiple);

  std::vector<uint8_t> metadata_;  // serialized key-values
  uint64_t kv_count_ = 0;
  std::vector<std::string> keys_;
  std::vector<TensorInfo> tensors_;
  uint64_t next_offset_ = 0;  // data-section bytes so far (aligned)
  uint32_t alignment_ = kDefaultAlignment;

  std::string path_, temp_path_;
  std::FILE* file_ = nullptr;
  uint64_t file_pos_ = 0;
  size_t current_tensor_ = 0;
  uint64_t current_written_ = 0;
  Status deferred_error_;  // a duplicate key found while adding metadata
};

}  // namespace gguf
}  // namespace kite
