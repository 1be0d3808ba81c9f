// safetensors layout: u64 little-endian N, N bytes of JSON
//   {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}
// then the tensor bytes; offsets are relative to the first byte after the JSON.
#include "converter/safetensors.h"

#include <cstring>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "kernels/quantize.h"

namespace kite {
namespace {

using nlohmann::json;

// Element size by safetensors dtype name; 0: unknown (such tensors are listed but never read).
uint64_t ElementBytes(const std::string& dtype) {
  static const std::unordered_map<std::string, uint64_t> kSizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},   {"I16", 2},
      {"I8", 1},  {"U8", 1},  {"U16", 2}, {"U32", 4},  {"U64", 8}, {"BOOL", 1}, {"F8_E4M3", 1},
      {"F8_E5M2", 1}};
  auto it = kSizes.find(dtype);
  return it == kSizes.end() ? 0 : it->second;
}

SourceDType ParseDType(const std::string& dtype) {
  if (dtype == "F32") return SourceDType::kF32;
  if (dtype == "F16") return SourceDType::kF16;
  if (dtype == "BF16") return SourceDType::kBF16;
  return SourceDType::kOther;
}

bool GetU64(const json& j, uint64_t* out) {
  if (!j.is_number_unsigned()) return false;
  *out = j.get<uint64_t>();
  return true;
}

}  // namespace

int64_t SourceTensor::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // AddFile proved the product fits
  return n;
}

Status SafetensorsCheckpoint::AddFile(const std::string& path) {
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<FileView> view, MapFile(path));
  const uint8_t* bytes = view->data();
  const uint64_t size = view->size();
  if (size < 8) return InvalidArgument(path + ": " + std::to_string(size) + " bytes is too short for a safetensors file");
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | bytes[i];
  if (header_bytes > size - 8) {
    return InvalidArgument(path + ": the header claims " + std::to_string(header_bytes) + " bytes but the file has only " +
                           std::to_string(size - 8) + " after the size field (truncated, or not safetensors)");
  }
  const char* text = reinterpret_cast<const char*>(bytes + 8);
  json header = json::parse(text, text + header_bytes, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return InvalidArgument(path + ": the header is not a JSON object");
  }
  const uint64_t data_start = 8 + header_bytes;
  const uint64_t data_bytes = size - data_start;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string at = path + ": tensor '" + it.key() + "'";
    const json& entry = it.value();
    if (!entry.is_object()) return InvalidArgument(at + " is not a JSON object");
    auto dtype = entry.find("dtype");
    auto shape = entry.find("shape");
    auto offsets = entry.find("data_offsets");
    if (dtype == entry.end() || !dtype->is_string()) return InvalidArgument(at + " has no string 'dtype'");
    if (shape == entry.end() || !shape->is_array()) return InvalidArgument(at + " has no array 'shape'");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2) {
      return InvalidArgument(at + " has no 'data_offsets' [begin, end]");
    }
    SourceTensor t;
    t.name = it.key();
    t.file = path;
    t.dtype_name = dtype->get<std::string>();
    t.dtype = ParseDType(t.dtype_name);
    uint64_t elements = 1;
    for (const json& d : *shape) {
      uint64_t dim = 0;
      if (!GetU64(d, &dim) || dim > (uint64_t{1} << 62) || __builtin_mul_overflow(elements, dim, &elements) ||
          elements > (uint64_t{1} << 62)) {
        return InvalidArgument(at + " has an invalid or too large shape " + shape->dump());
      }
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    uint64_t begin = 0, end = 0;
    if (!GetU64((*offsets)[0], &begin) || !GetU64((*offsets)[1], &end) || begin > end || end > data_bytes) {
      return InvalidArgument(at + " has data_offsets " + offsets->dump() + " outside the data section (" +
                             std::to_string(data_bytes) + " bytes)");
    }
    const uint64_t element_bytes = ElementBytes(t.dtype_name);
    if (element_bytes != 0 && end - begin != elements * element_bytes) {
      return InvalidArgument(at + " has " + std::to_string(end - begin) + " bytes but " + t.dtype_name + " " +
                             shape->dump() + " needs " + std::to_string(elements * element_bytes));
    }
    t.data = bytes + data_start + begin;
    t.bytes = end - begin;
    if (!index_.emplace(t.name, tensors_.size()).second) {
      return InvalidArgument(at + " also appears in " + tensors_[index_[t.name]].file);
    }
    tensors_.push_back(std::move(t));
  }
  views_.push_back(std::move(view));
  files_.push_back(path);
  return Status::Ok();
}

Result<std::unique_ptr<SafetensorsCheckpoint>> SafetensorsCheckpoint::OpenFiles(const std::vector<std::string>& paths) {
  std::unique_ptr<SafetensorsCheckpoint> checkpoint(new SafetensorsCheckpoint());
  for (const std::string& path : paths) KITE_RETURN_IF_ERROR(checkpoint->AddFile(path));
  return checkpoint;
}

Result<std::unique_ptr<SafetensorsCheckpoint>> SafetensorsCheckpoint::OpenDir(const std::string& dir) {
  const std::string single = JoinPath(dir, "model.safetensors");
  const std::string index_path = JoinPath(dir, "model.safetensors.index.json");
  if (FileExists(single)) return OpenFiles({single});
  if (!FileExists(index_path)) {
    return NotFound(dir + ": no model.safetensors or model.safetensors.index.json (only safetensors checkpoints "
                          "are supported; convert pytorch_model.bin with transformers' save_pretrained first)");
  }
  KITE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(index_path));
  json index = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded() || !index.is_object()) return InvalidArgument(index_path + ": not a JSON object");
  auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object() || map->empty()) {
    return InvalidArgument(index_path + ": no 'weight_map' object naming the shard of each tensor");
  }
  std::vector<std::string> shards;
  std::unordered_set<std::string> seen;
  for (auto it = map->begin(); it != map->end(); ++it) {
    if (!it.value().is_string()) return InvalidArgument(index_path + ": weight_map['" + it.key() + "'] is not a string");
    const std::string shard = it.value().get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") {
      return InvalidArgument(index_path + ": weight_map['" + it.key() + "'] names '" + shard +
                             "', not a file in the checkpoint folder");
    }
    if (seen.insert(shard).second) shards.push_back(JoinPath(dir, shard));
  }
  KITE_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsCheckpoint> checkpoint, OpenFiles(shards));
  for (auto it = map->begin(); it != map->end(); ++it) {
    const SourceTensor* t = checkpoint->Find(it.key());
    const std::string shard = JoinPath(dir, it.value().get<std::string>());
    if (t == nullptr || t->file != shard) {
      return InvalidArgument(index_path + ": tensor '" + it.key() + "' is not in " + shard +
                             (t == nullptr ? "" : " (it is in " + t->file + ")"));
    }
  }
  return checkpoint;
}

const SourceTensor* SafetensorsCheckpoint::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t SafetensorsCheckpoint::total_bytes() const {
  uint64_t total = 0;
  for (const SourceTensor& t : tensors_) total += t.bytes;
  return total;
}

void ReadAsF32(const SourceTensor& tensor, int64_t begin, int64_t count, float* out) {
  switch (tensor.dtype) {
    case SourceDType::kF32:
      std::memcpy(out, tensor.data + begin * 4, static_cast<size_t>(count) * 4);
      return;
    case SourceDType::kF16:
    case SourceDType::kBF16: {
      const uint8_t* p = tensor.data + begin * 2;
      const bool f16 = tensor.dtype == SourceDType::kF16;
      for (int64_t i = 0; i < count; ++i) {
        const uint16_t bits = static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
        out[i] = f16 ? kernels::HalfToFloat(bits) : kernels::Bf16ToFloat(bits);
      }
      return;
    }
    case SourceDType::kOther:
      break;
  }
  for (int64_t i = 0; i < count; ++i) out[i] = 0.0f;  // callers check the dtype first
}

}  // namespace kite
