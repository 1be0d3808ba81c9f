#include "converter/gguf/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kite {
namespace gguf {
namespace {

// GGUF is little-endian; so is every platform Kite's converter runs on.
template <typename T>
void Append(std::vector<uint8_t>* out, T value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  out->insert(out->end(), p, p + sizeof(T));
}

void AppendString(std::vector<uint8_t>* out, const std::string& s) {
  Append<uint64_t>(out, s.size());
  out->insert(out->end(), s.begin(), s.end());
}

uint64_t RoundUp(uint64_t value, uint64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

}  // namespace

const char* TensorTypeName(TensorType type) {
  switch (type) {
    case TensorType::kF32: return "F32";
    case TensorType::kF16: return "F16";
    case TensorType::kQ4_0: return "Q4_0";
    case TensorType::kQ8_0: return "Q8_0";
  }
  return "?";
}

int64_t BlockElements(TensorType type) {
  return type == TensorType::kQ4_0 || type == TensorType::kQ8_0 ? 32 : 1;
}

int64_t BlockBytes(TensorType type) {
  switch (type) {
    case TensorType::kF32: return 4;
    case TensorType::kF16: return 2;
    case TensorType::kQ4_0: return 2 + 16;  // f16 scale + 32 nibbles
    case TensorType::kQ8_0: return 2 + 32;  // f16 scale + 32 int8
  }
  return 0;
}

Result<uint64_t> TensorBytes(TensorType type, const std::vector<uint64_t>& ne) {
  if (ne.empty() || ne.size() > 4) return InvalidArgument("a GGUF tensor has 1 to 4 dimensions, not " + std::to_string(ne.size()));
  const uint64_t block = static_cast<uint64_t>(BlockElements(type));
  if (ne[0] % block != 0) {
    return InvalidArgument(std::string(TensorTypeName(type)) + " needs rows of a multiple of " + std::to_string(block) +
                           " elements, not " + std::to_string(ne[0]));
  }
  uint64_t bytes = ne[0] / block * static_cast<uint64_t>(BlockBytes(type));
  for (size_t i = 1; i < ne.size(); ++i) bytes *= ne[i];
  return bytes;
}

Writer::~Writer() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

void Writer::AddKey(const std::string& key, ValueType type) {
  if (std::find(keys_.begin(), keys_.end(), key) != keys_.end() && deferred_error_.ok()) {
    deferred_error_ = Internal("GGUF metadata key '" + key + "' added twice");
  }
  keys_.push_back(key);
  ++kv_count_;
  AppendString(&metadata_, key);
  Append<uint32_t>(&metadata_, static_cast<uint32_t>(type));
}

void Writer::AddUint32(const std::string& key, uint32_t value) {
  AddKey(key, ValueType::kUint32);
  Append(&metadata_, value);
  if (key == "general.alignment") alignment_ = value;
}
void Writer::AddInt32(const std::string& key, int32_t value) {
  AddKey(key, ValueType::kInt32);
  Append(&metadata_, value);
}
void Writer::AddUint64(const std::string& key, uint64_t value) {
  AddKey(key, ValueType::kUint64);
  Append(&metadata_, value);
}
void Writer::AddFloat32(const std::string& key, float value) {
  AddKey(key, ValueType::kFloat32);
  Append(&metadata_, value);
}
void Writer::AddBool(const std::string& key, bool value) {
  AddKey(key, ValueType::kBool);
  Append<uint8_t>(&metadata_, value ? 1 : 0);
}
void Writer::AddString(const std::string& key, const std::string& value) {
  AddKey(key, ValueType::kString);
  AppendString(&metadata_, value);
}
void Writer::AddStringArray(const std::string& key, const std::vector<std::string>& values) {
  AddKey(key, ValueType::kArray);
  Append<uint32_t>(&metadata_, static_cast<uint32_t>(ValueType::kString));
  Append<uint64_t>(&metadata_, values.size());
  for (const std::string& v : values) AppendString(&metadata_, v);
}
void Writer::AddFloat32Array(const std::string& key, const std::vector<float>& values) {
  AddKey(key, ValueType::kArray);
  Append<uint32_t>(&metadata_, static_cast<uint32_t>(ValueType::kFloat32));
  Append<uint64_t>(&metadata_, values.size());
  for (float v : values) Append(&metadata_, v);
}
void Writer::AddInt32Array(const std::string& key, const std::vector<int32_t>& values) {
  AddKey(key, ValueType::kArray);
  Append<uint32_t>(&metadata_, static_cast<uint32_t>(ValueType::kInt32));
  Append<uint64_t>(&metadata_, values.size());
  for (int32_t v : values) Append(&metadata_, v);
}

Status Writer::AddTensor(const std::string& name, const std::vector<uint64_t>& ne, TensorType type) {
  if (file_ != nullptr) return Internal("GGUF tensor '" + name + "' added after Open()");
  if (name.empty() || name.size() >= 64) {
    // llama.cpp's GGML_MAX_NAME is 64 bytes including the terminator.
    return InvalidArgument("GGUF tensor name '" + name + "' must have 1 to 63 bytes");
  }
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) return InvalidArgument("GGUF tensor '" + name + "' added twice");
  }
  auto bytes = TensorBytes(type, ne);
  if (!bytes.ok()) return InvalidArgument("GGUF tensor '" + name + "': " + bytes.status().message());
  tensors_.push_back({name, ne, type, next_offset_, bytes.value()});
  next_offset_ = RoundUp(next_offset_ + bytes.value(), alignment_);
  return Status::Ok();
}

Status Writer::WriteRaw(const void* data, uint64_t bytes) {
  if (bytes == 0) return Status::Ok();
  if (std::fwrite(data, 1, bytes, file_) != bytes) {
    return IoError("cannot write '" + temp_path_ + "' at byte " + std::to_string(file_pos_) + ": " + std::strerror(errno));
  }
  file_pos_ += bytes;
  return Status::Ok();
}

Status Writer::Pad(uint64_t to_multiple) {
  static const uint8_t kZeros[256] = {};
  uint64_t pad = RoundUp(file_pos_, to_multiple) - file_pos_;
  while (pad > 0) {
    const uint64_t n = std::min<uint64_t>(pad, sizeof(kZeros));
    KITE_RETURN_IF_ERROR(WriteRaw(kZeros, n));
    pad -= n;
  }
  return Status::Ok();
}

Status Writer::Open(const std::string& path) {
  KITE_RETURN_IF_ERROR(deferred_error_);
  if (file_ != nullptr) return Internal("GGUF writer opened twice");
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) {
    return InvalidArgument("general.alignment must be a power of two, not " + std::to_string(alignment_));
  }
  // Offsets were computed with the alignment in force when each tensor was added.
  for (const TensorInfo& t : tensors_) {
    if (t.offset % alignment_ != 0) return Internal("general.alignment was set after tensors were added");
  }
  path_ = path;
  temp_path_ = path + ".tmp";
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (file_ == nullptr) return IoError("cannot create '" + temp_path_ + "': " + std::strerror(errno));
  file_pos_ = 0;

  std::vector<uint8_t> head;
  head.insert(head.end(), {'G', 'G', 'U', 'F'});
  Append<uint32_t>(&head, kVersion);
  Append<uint64_t>(&head, tensors_.size());
  Append<uint64_t>(&head, kv_count_);
  KITE_RETURN_IF_ERROR(WriteRaw(head.data(), head.size()));
  KITE_RETURN_IF_ERROR(WriteRaw(metadata_.data(), metadata_.size()));
  std::vector<uint8_t> infos;
  for (const TensorInfo& t : tensors_) {
    AppendString(&infos, t.name);
    Append<uint32_t>(&infos, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t n : t.ne) Append<uint64_t>(&infos, n);
    Append<uint32_t>(&infos, static_cast<uint32_t>(t.type));
    Append<uint64_t>(&infos, t.offset);
  }
  KITE_RETURN_IF_ERROR(WriteRaw(infos.data(), infos.size()));
  KITE_RETURN_IF_ERROR(Pad(alignment_));
  current_tensor_ = 0;
  current_written_ = 0;
  return Status::Ok();
}

Status Writer::WriteTensorData(const void* data, uint64_t bytes) {
  if (file_ == nullptr) return Internal("GGUF tensor data written before Open()");
  const auto* p = static_cast<const uint8_t*>(data);
  while (bytes > 0) {
    if (current_tensor_ >= tensors_.size()) return Internal("GGUF tensor data written past the last tensor");
    const TensorInfo& t = tensors_[current_tensor_];
    const uint64_t n = std::min(bytes, t.bytes - current_written_);
    KITE_RETURN_IF_ERROR(WriteRaw(p, n));
    p += n;
    bytes -= n;
    current_written_ += n;
    if (current_written_ == t.bytes) {
      KITE_RETURN_IF_ERROR(Pad(alignment_));
      ++current_tensor_;
      current_written_ = 0;
    }
  }
  return Status::Ok();
}

Status Writer::Commit() {
  if (file_ == nullptr) return Internal("GGUF writer committed before Open()");
  // A zero-byte tensor is complete as soon as the tensors before it are.
  while (current_tensor_ < tensors_.size() && tensors_[current_tensor_].bytes == 0) ++current_tensor_;
  if (current_tensor_ != tensors_.size()) {
    const TensorInfo& t = tensors_[current_tensor_];
    return Internal("GGUF tensor '" + t.name + "' got " + std::to_string(current_written_) + " of its " +
                    std::to_string(t.bytes) + " bytes");
  }
  const bool flushed = std::fflush(file_) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!flushed || !closed) {
    std::remove(temp_path_.c_str());
    return IoError("cannot finish writing '" + temp_path_ + "': " + std::strerror(errno));
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temp_path_.c_str());
    return IoError("cannot rename '" + temp_path_ + "' to '" + path_ + "': " + reason);
  }
  return Status::Ok();
}

}  // namespace gguf
}  // namespace kite
