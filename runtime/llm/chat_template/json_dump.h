// Python's json.dumps for template values: what transformers' tojson filter
// calls (ensure_ascii=False by default, key order kept, ", " and ": "
// separators, optional indent). Floats print like Python's repr.
#pragma once

#include <string>

#include "runtime/core/status.h"
#include "runtime/llm/chat_template/value.h"

namespace kite {
namespace jinja {

struct JsonOptions {
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool pretty = false;  // an indent was given (even an empty one)
  std::string indent;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
};

// Appends the JSON text of `v` to *out; fails for values JSON cannot hold
// (Undefined, namespaces, callables) with Python's message, or past max_bytes.
Status DumpJson(const Value& v, const JsonOptions& options, size_t max_bytes, std::string* out);

}  // namespace jinja
}  // namespace kite
