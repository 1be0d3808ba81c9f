#include "runtime/llm/chat_template/json_dump.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "runtime/llm/chat_template/unicode.h"

namespace kite {
namespace jinja {
namespace {

void AppendJsonString(const std::string& s, bool ensure_ascii, std::string* out) {
  out->push_back('"');
  size_t length = 0;
  for (size_t pos = 0; pos < s.size(); pos += length) {
    const uint32_t cp = Utf8Decode(s, pos, &length);
    char buf[16];
    switch (cp) {
      case '"': *out += "\\\""; continue;
      case '\\': *out += "\\\\"; continue;
      case '\n': *out += "\\n"; continue;
      case '\r': *out += "\\r"; continue;
      case '\t': *out += "\\t"; continue;
      case '\b': *out += "\\b"; continue;
      case '\f': *out += "\\f"; continue;
      default: break;
    }
    if (cp < 0x20) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      *out += buf;
    } else if (ensure_ascii && cp >= 0x80) {
      if (cp >= 0x10000) {  // a surrogate pair, as Python writes it
        const uint32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      }
      *out += buf;
    } else {
      out->append(s, pos, length);
    }
  }
  out->push_back('"');
}

std::string JsonFloat(double f) {
  if (std::isnan(f)) return "NaN";
  if (std::isinf(f)) return f > 0 ? "Infinity" : "-Infinity";
  return FormatFloat(f);
}

// json.dumps turns these keys into strings; anything else is a TypeError.
Status KeyText(const Value& key, std::string* text) {
  switch (key.kind()) {
    case Kind::kString: *text = key.str(); return Status::Ok();
    case Kind::kBool: *text = key.bool_value() ? "true" : "false"; return Status::Ok();
    case Kind::kInt: *text = std::to_string(key.int_value()); return Status::Ok();
    case Kind::kFloat: *text = JsonFloat(key.float_value()); return Status::Ok();
    case Kind::kNone: *text = "null"; return Status::Ok();
    default:
      return InvalidArgument(std::string("keys must be str, int, float, bool or None, not ") + TypeName(key));
  }
}

class JsonWriter {
 public:
  JsonWriter(const JsonOptions& options, size_t max_bytes, std::string* out)
      : options_(options), max_bytes_(max_bytes), out_(out) {}

  Status Write(const Value& v, int level) {
    if (level > kMaxValueDepth) return OutOfRange("value nested more than " + std::to_string(kMaxValueDepth) + " levels deep");
    if (out_->size() > max_bytes_) {
      return OutOfRange("tojson result exceeds the output limit of " + std::to_string(max_bytes_) + " bytes");
    }
    switch (v.kind()) {
      case Kind::kNone: *out_ += "null"; return Status::Ok();
      case Kind::kBool: *out_ += v.bool_value() ? "true" : "false"; return Status::Ok();
      case Kind::kInt: *out_ += std::to_string(v.int_value()); return Status::Ok();
      case Kind::kFloat: *out_ += JsonFloat(v.float_value()); return Status::Ok();
      case Kind::kString: AppendJsonString(v.str(), options_.ensure_ascii, out_); return Status::Ok();
      case Kind::kList:
      case Kind::kTuple: {
        const ValueList& items = v.list();
        if (items.empty()) {
          *out_ += "[]";
          return Status::Ok();
        }
        *out_ += '[';
        for (size_t i = 0; i < items.size(); ++i) {
          if (i > 0) *out_ += options_.item_separator;
          NewLine(level + 1);
          KITE_RETURN_IF_ERROR(Write(items[i], level + 1));
        }
        NewLine(level);
        *out_ += ']';
        return Status::Ok();
      }
      case Kind::kDict: return WriteDict(v.dict(), level);
      default:
        return InvalidArgument(std::string("Object of type ") + TypeName(v) + " is not JSON serializable");
    }
  }

 private:
  Status WriteDict(const Dict& dict, int level) {
    if (dict.empty()) {
      *out_ += "{}";
      return Status::Ok();
    }
    std::vector<std::pair<std::string, const Value*>> entries;
    for (const auto& item : dict.items()) {
      std::string key;
      KITE_RETURN_IF_ERROR(KeyText(item.first, &key));
      entries.emplace_back(std::move(key), &item.second);
    }
    if (options_.sort_keys) {
      std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    *out_ += '{';
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i > 0) *out_ += options_.item_separator;
      NewLine(level + 1);
      AppendJsonString(entries[i].first, options_.ensure_ascii, out_);
      *out_ += options_.key_separator;
      KITE_RETURN_IF_ERROR(Write(*entries[i].second, level + 1));
    }
    NewLine(level);
    *out_ += '}';
    return Status::Ok();
  }

  void NewLine(int level) {
    if (!options_.pretty) return;
    *out_ += '\n';
    for (int i = 0; i < level && out_->size() <= max_bytes_; ++i) *out_ += options_.indent;
  }

  const JsonOptions& options_;
  size_t max_bytes_;
  std::string* out_;
};

}  // namespace

Status DumpJson(const Value& v, const JsonOptions& options, size_t max_bytes, std::string* out) {
  JsonWriter writer(options, max_bytes, out);
  KITE_RETURN_IF_ERROR(writer.Write(v, 0));
  if (out->size() > max_bytes) {
    return OutOfRange("tojson result exceeds the output limit of " + std::to_string(max_bytes) + " bytes");
  }
  return Status::Ok();
}

}  // namespace jinja
}  // namespace kite
