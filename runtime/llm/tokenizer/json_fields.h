// Type-checked reads of tokenizer.json fields. nlohmann::json throws on a type
// mismatch and asserts on a missing key of a const object; these helpers turn
// both into Status errors that name the field, so no file can crash us.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runtime/core/status.h"

namespace kite {
namespace tok {

using Json = nlohmann::json;

// Parses without exceptions; `what` names the text in the error ("normalizer_json").
inline Result<Json> ParseJsonText(std::string_view text, const std::string& what) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(what + " is not valid JSON");
  return j;
}

// A stage given as "", "null" or JSON null means "no stage".
inline bool IsAbsentStage(std::string_view text) {
  size_t b = text.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return true;
  size_t e = text.find_last_not_of(" \t\r\n");
  return text.substr(b, e - b + 1) == "null";
}

// The value at obj[key], or nullptr when obj is not an object or lacks the key.
inline const Json* Field(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

inline Status GetString(const Json& obj, const char* key, const std::string& where, std::string* out,
                        bool required = false) {
  const Json* v = Field(obj, key);
  if (v == nullptr || v->is_null()) {
    if (required) return InvalidArgument(where + ": missing string field '" + key + "'");
    return Status::Ok();
  }
  if (!v->is_string()) return InvalidArgument(where + ": field '" + key + "' must be a string");
  *out = v->get_ref<const std::string&>();
  return Status::Ok();
}

inline Status GetBool(const Json& obj, const char* key, const std::string& where, bool* out) {
  const Json* v = Field(obj, key);
  if (v == nullptr || v->is_null()) return Status::Ok();
  if (!v->is_boolean()) return InvalidArgument(where + ": field '" + key + "' must be a boolean");
  *out = v->get<bool>();
  return Status::Ok();
}

inline Status GetInt(const Json& obj, const char* key, const std::string& where, int64_t* out) {
  const Json* v = Field(obj, key);
  if (v == nullptr || v->is_null()) return Status::Ok();
  if (!v->is_number_integer()) return InvalidArgument(where + ": field '" + key + "' must be an integer");
  *out = v->get<int64_t>();
  return Status::Ok();
}

// The "type" tag of a stage object.
inline Result<std::string> StageType(const Json& stage, const std::string& where) {
  if (!stage.is_object()) return InvalidArgument(where + " must be a JSON object");
  std::string type;
  KITE_RETURN_IF_ERROR(GetString(stage, "type", where, &type, /*required=*/true));
  return type;
}

// A pattern object {"String": "..."} or {"Regex": "..."}.
inline Status GetPattern(const Json& obj, const std::string& where, std::string* text, bool* is_regex) {
  const Json* p = Field(obj, "pattern");
  if (p == nullptr || !p->is_object()) {
    return InvalidArgument(where + ": field 'pattern' must be {\"String\": ...} or {\"Regex\": ...}");
  }
  if (const Json* s = Field(*p, "String"); s != nullptr && s->is_string()) {
    *text = s->get_ref<const std::string&>();
    *is_regex = false;
    return Status::Ok();
  }
  if (const Json* r = Field(*p, "Regex"); r != nullptr && r->is_string()) {
    *text = r->get_ref<const std::string&>();
    *is_regex = true;
    return Status::Ok();
  }
  return InvalidArgument(where + ": field 'pattern' must be {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace tok
}  // namespace kite
