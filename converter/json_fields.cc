#include "converter/json_fields.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/core/file.h"

namespace kite {

using nlohmann::json;

namespace {

// A value for a message, cut short: a config can hold a 100 KB chat template.
std::string Shown(const json& value) {
  std::string s = value.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace

const json* JsonFields::Get(const char* key) const {
  if (!object_.is_object()) return nullptr;
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonFields::IsNull(const char* key) const {
  if (!object_.is_object()) return false;
  auto it = object_.find(key);
  return it != object_.end() && it->is_null();
}

Status JsonFields::Error(const char* key, const std::string& problem) const {
  return InvalidArgument(source_ + ": field '" + Name(key) + "' " + problem);
}

Status JsonFields::U32(const char* key, uint32_t* out) const {
  const json* v = Get(key);
  if (v == nullptr) return Status::Ok();
  if (!v->is_number_unsigned() || v->get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
    return Error(key, "must be a non-negative integer below 2^32 (got " + Shown(*v) + ")");
  }
  *out = static_cast<uint32_t>(v->get<uint64_t>());
  return Status::Ok();
}

Status JsonFields::PositiveU32(const char* key, uint32_t* out) const {
  if (!Has(key)) return InvalidArgument(source_ + ": missing field '" + Name(key) + "'");
  uint32_t value = 0;
  KITE_RETURN_IF_ERROR(U32(key, &value));
  if (value == 0) return Error(key, "must be positive (got 0)");
  *out = value;
  return Status::Ok();
}

Status JsonFields::TokenId(const char* key, uint32_t vocab_size, int32_t* out) const {
  int32_t id = *out;
  KITE_RETURN_IF_ERROR(I32(key, &id));
  if (id < -1 || id >= static_cast<int64_t>(vocab_size)) {
    return Error(key, "is " + std::to_string(id) + ", outside the vocabulary (" + std::to_string(vocab_size) + " tokens)");
  }
  *out = id;
  return Status::Ok();
}

Status JsonFields::TokenIds(const char* key, uint32_t vocab_size, std::vector<int32_t>* out) const {
  const json* v = Get(key);
  if (v == nullptr) return Status::Ok();
  const json list = v->is_array() ? *v : json::array({*v});
  for (const json& id : list) {
    if (!id.is_number_unsigned() || id.get<uint64_t>() >= vocab_size) {
      return Error(key, "must be a token id below vocab_size " + std::to_string(vocab_size) +
                            " or a list of them (got " + Shown(*v) + ")");
    }
    const int32_t value = static_cast<int32_t>(id.get<uint64_t>());
    if (std::find(out->begin(), out->end(), value) == out->end()) out->push_back(value);
  }
  return Status::Ok();
}

Status JsonFields::I32(const char* key, int32_t* out) const {
  const json* v = Get(key);
  if (v == nullptr) return Status::Ok();
  if (!v->is_number_integer() || v->get<int64_t>() < std::numeric_limits<int32_t>::min() ||
      v->get<int64_t>() > std::numeric_limits<int32_t>::max() ||
      (v->is_number_unsigned() && v->get<uint64_t>() > std::numeric_limits<int32_t>::max())) {
    return Error(key, "must be a 32-bit integer (got " + Shown(*v) + ")");
  }
  *out = static_cast<int32_t>(v->get<int64_t>());
  return Status::Ok();
}

Status JsonFields::F32(const char* key, float* out) const {
  const json* v = Get(key);
  if (v == nullptr) return Status::Ok();
  if (!v->is_number() || !std::isfinite(v->get<double>()) ||
      std::fabs(v->get<double>()) > std::numeric_limits<float>::max()) {
    return Error(key, "must be a finite number (got " + Shown(*v) + ")");
  }
  *out = static_cast<float>(v->get<double>());
  return Status::Ok();
}

Status JsonFields::Bool(const char* key, bool* out) const {
  const json* v = Get(key);
  if (v == nullptr) return Status::Ok();
  if (!v->is_boolean()) return Error(key, "must be true or false (got " + Shown(*v) + ")");
  *out = v->get<bool>();
  return Status::Ok();
}

Status JsonFields::String(const char* key, std::string* out) const {
  const json* v = Get(key);
  if (v == nullptr) return Status::Ok();
  if (!v->is_string()) return Error(key, "must be a string (got " + Shown(*v) + ")");
  *out = v->get<std::string>();
  return Status::Ok();
}

Result<json> ReadJsonFile(const std::string& path) {
  KITE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return InvalidArgument(path + ": not valid JSON");
  return parsed;
}

}  // namespace kite
