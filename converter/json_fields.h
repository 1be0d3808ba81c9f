// Typed reads of config-file fields with messages that name the file and the
// field. An absent field and a JSON null both mean "keep the default".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/core/status.h"

namespace kite {

class JsonFields {
 public:
  // `object` must outlive this; `source` names the file, `prefix` the enclosing field ("rope_scaling.").
  JsonFields(const nlohmann::json& object, std::string source, std::string prefix = "")
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

  // nullptr when the field is absent or null.
  const nlohmann::json* Get(const char* key) const;
  bool Has(const char* key) const { return Get(key) != nullptr; }
  // True when the field is present with the value null (some configs use null for "off").
  bool IsNull(const char* key) const;

  Status U32(const char* key, uint32_t* out) const;
  Status I32(const char* key, int32_t* out) const;
  Status F32(const char* key, float* out) const;
  Status Bool(const char* key, bool* out) const;
  Status String(const char* key, std::string* out) const;
  // Like U32, but the field must be present and > 0.
  Status PositiveU32(const char* key, uint32_t* out) const;
  // A token id (bos_token_id, pad_token_id): -1 or below `vocab_size`.
  Status TokenId(const char* key, uint32_t vocab_size, int32_t* out) const;
  // A token id or a list of them (eos_token_id), each below `vocab_size`; appends the ids not
  // already in `out`.
  Status TokenIds(const char* key, uint32_t vocab_size, std::vector<int32_t>* out) const;

  // "config.json: field 'rope_scaling.factor' ..."
  Status Error(const char* key, const std::string& problem) const;
  std::string Name(const char* key) const { return prefix_ + key; }
  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& object_;
  std::string source_;
  std::string prefix_;
};

// Parses a JSON file; errors name the path. Never throws.
Result<nlohmann::json> ReadJsonFile(const std::string& path);

}  // namespace kite
