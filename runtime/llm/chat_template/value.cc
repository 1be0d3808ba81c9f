#include "runtime/llm/chat_template/value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime/llm/chat_template/objects.h"
#include "runtime/llm/chat_template/unicode.h"

namespace kite {
namespace jinja {
namespace {

struct ListData {
  ValueList items;
  int depth = 1;
};

struct DictData {
  Dict dict;
  int depth = 1;
};

int MaxChildDepth(const ValueList& items) {
  int depth = 0;
  for (const Value& v : items) depth = std::max(depth, v.depth());
  return depth;
}

Status TooDeep() {
  return OutOfRange("value nested more than " + std::to_string(kMaxValueDepth) + " levels deep");
}

Status TooLarge(size_t max_bytes) {
  return OutOfRange("string exceeds the output limit of " + std::to_string(max_bytes) + " bytes");
}

}  // namespace

Value Value::Undefined(std::string hint) {
  Value v;
  v.heap_ = std::make_shared<std::string>(std::move(hint));
  return v;
}

Value Value::None() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.scalar_.b = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.scalar_.i = i;
  return v;
}

Value Value::Float(double f) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.scalar_.f = f;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.heap_ = std::make_shared<std::string>(std::move(s));
  return v;
}

Result<Value> Value::List(ValueList items) {
  const int depth = MaxChildDepth(items) + 1;
  if (depth > kMaxValueDepth) return TooDeep();
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  data->depth = depth;
  Value v;
  v.kind_ = Kind::kList;
  v.heap_ = std::move(data);
  return v;
}

Result<Value> Value::Tuple(ValueList items) {
  KITE_ASSIGN_OR_RETURN(Value v, List(std::move(items)));
  v.kind_ = Kind::kTuple;
  return v;
}

Result<Value> Value::FromDict(Dict dict) {
  int depth = 0;
  for (const auto& item : dict.items()) depth = std::max({depth, item.first.depth(), item.second.depth()});
  if (depth + 1 > kMaxValueDepth) return TooDeep();
  auto data = std::make_shared<DictData>();
  data->dict = std::move(dict);
  data->depth = depth + 1;
  Value v;
  v.kind_ = Kind::kDict;
  v.heap_ = std::move(data);
  return v;
}

Value Value::FromObject(Kind kind, std::shared_ptr<Object> object) {
  Value v;
  v.kind_ = kind;
  v.heap_ = std::move(object);
  return v;
}

const ValueList& Value::list() const { return static_cast<const ListData*>(heap_.get())->items; }
std::shared_ptr<const ValueList> Value::list_ptr() const {
  auto data = std::static_pointer_cast<ListData>(heap_);
  return std::shared_ptr<const ValueList>(data, &data->items);
}

const Dict& Value::dict() const { return static_cast<const DictData*>(heap_.get())->dict; }

std::string Value::undefined_message() const {
  if (heap_ == nullptr) return "value is undefined";
  return *static_cast<const std::string*>(heap_.get());
}

int Value::depth() const {
  if (kind_ == Kind::kList || kind_ == Kind::kTuple) return static_cast<const ListData*>(heap_.get())->depth;
  if (kind_ == Kind::kDict) return static_cast<const DictData*>(heap_.get())->depth;
  return 0;
}

// ---------------------------------------------------------------- Dict

const Value* Dict::Find(std::string_view key) const {
  auto it = string_index_.find(std::string(key));
  return it == string_index_.end() ? nullptr : &items_[it->second].second;
}

const Value* Dict::Find(const Value& key) const {
  if (key.is_string()) return Find(std::string_view(key.str()));
  for (const Item& item : items_) {
    if (!item.first.is_string() && Equals(item.first, key)) return &item.second;
  }
  return nullptr;
}

void Dict::Set(Value key, Value value) {
  if (key.is_string()) {
    auto it = string_index_.find(key.str());
    if (it != string_index_.end()) {
      items_[it->second].second = std::move(value);
      return;
    }
    string_index_.emplace(key.str(), items_.size());
  } else {
    for (Item& item : items_) {
      if (!item.first.is_string() && Equals(item.first, key)) {
        item.second = std::move(value);
        return;
      }
    }
  }
  items_.emplace_back(std::move(key), std::move(value));
}

// ---------------------------------------------------------------- names

const char* TypeName(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return "list";
    case Kind::kTuple: return "tuple";
    case Kind::kDict: return "dict";
    case Kind::kNamespace: return "Namespace";
    case Kind::kLoop: return "LoopContext";
    case Kind::kMacro: return "Macro";
    case Kind::kFunction: return "builtin_function_or_method";
    case Kind::kMethod: return "builtin_function_or_method";
  }
  return "object";
}

std::string ObjectTypeRepr(const Value& v) {
  if (v.is_none()) return "None";
  return std::string(TypeName(v)) + " object";
}

// ---------------------------------------------------------------- truth and order

bool Truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return v.bool_value();
    case Kind::kInt: return v.int_value() != 0;
    case Kind::kFloat: return v.float_value() != 0.0;
    case Kind::kString: return !v.str().empty();
    case Kind::kList:
    case Kind::kTuple: return !v.list().empty();
    case Kind::kDict: return !v.dict().empty();
    default: return true;
  }
}

namespace {

// Exact comparison of an int with a float, as Python does (no rounding of the int).
int CompareIntFloat(int64_t i, double f) {
  if (std::isnan(f)) return 2;  // unordered
  if (f >= 9223372036854775808.0) return -1;
  if (f < -9223372036854775808.0) return 1;
  const double fi = std::floor(f);
  const int64_t as_int = static_cast<int64_t>(fi);
  if (i < as_int) return -1;
  if (i > as_int) return 1;
  return fi == f ? 0 : -1;  // i == floor(f) < f when f has a fraction
}

// -1, 0, 1, or 2 when unordered (NaN).
int CompareNumbers(const Value& a, const Value& b) {
  if (a.is_integral() && b.is_integral()) {
    return a.int_value() < b.int_value() ? -1 : (a.int_value() > b.int_value() ? 1 : 0);
  }
  if (a.is_integral()) return CompareIntFloat(a.int_value(), b.float_value());
  if (b.is_integral()) {
    const int c = CompareIntFloat(b.int_value(), a.float_value());
    return c == 2 ? 2 : -c;
  }
  const double x = a.float_value(), y = b.float_value();
  if (x < y) return -1;
  if (x > y) return 1;
  return x == y ? 0 : 2;
}

}  // namespace

bool Equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return CompareNumbers(a, b) == 0;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return true;
    case Kind::kString: return a.str() == b.str();
    case Kind::kList:
    case Kind::kTuple: {
      const ValueList& x = a.list();
      const ValueList& y = b.list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equals(x[i], y[i])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& item : a.dict().items()) {
        const Value* other = b.dict().Find(item.first);
        if (other == nullptr || !Equals(item.second, *other)) return false;
      }
      return true;
    }
    default: return a.identity() == b.identity();
  }
}

Result<bool> Less(const Value& a, const Value& b) {
  if (a.is_undefined()) return InvalidArgument(a.undefined_message());
  if (b.is_undefined()) return InvalidArgument(b.undefined_message());
  if (a.is_number() && b.is_number()) return CompareNumbers(a, b) == -1;
  if (a.is_string() && b.is_string()) return a.str() < b.str();
  if (a.kind() == b.kind() && a.is_sequence()) {
    const ValueList& x = a.list();
    const ValueList& y = b.list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equals(x[i], y[i])) continue;
      return Less(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  return InvalidArgument(std::string("'<' not supported between instances of '") + TypeName(a) +
                         "' and '" + TypeName(b) + "'");
}

// ---------------------------------------------------------------- printing

std::string FormatFloat(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  if (f == 0.0) return std::signbit(f) ? "-0.0" : "0.0";
  // Shortest precision that round-trips, as Python's repr does.
  char buf[64];
  int precision = 1;
  for (; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*e", precision - 1, f);
    if (std::strtod(buf, nullptr) == f) break;
  }
  // buf = "-d.ddde[+-]XX": split into digits and exponent.
  std::string s(buf);
  const bool negative = s[0] == '-';
  if (negative) s.erase(0, 1);
  const size_t e_pos = s.find('e');
  const int exponent = std::atoi(s.c_str() + e_pos + 1);
  std::string digits;
  for (size_t i = 0; i < e_pos; ++i) {
    if (s[i] != '.') digits.push_back(s[i]);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits[0];
    if (digits.size() > 1) out += "." + digits.substr(1);
    char exp_buf[16];
    std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + exp_buf;
  }
  if (exponent < 0) {
    return out + "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  }
  const size_t int_digits = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= int_digits) {
    return out + digits + std::string(int_digits - digits.size(), '0') + ".0";
  }
  return out + digits.substr(0, int_digits) + "." + digits.substr(int_digits);
}

std::string PyReprString(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  size_t length = 0;
  for (size_t pos = 0; pos < s.size(); pos += length) {
    const uint32_t cp = Utf8Decode(s, pos, &length);
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (IsPyPrintable(cp)) {
      out.append(s.substr(pos, length));
    } else {
      char buf[16];
      if (cp >= 0xDC80 && cp <= 0xDCFF) {
        std::snprintf(buf, sizeof(buf), "\\udc%02x", cp - 0xDC00);
      } else if (cp < 0x100) {
        std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
      } else if (cp < 0x10000) {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      } else {
        std::snprintf(buf, sizeof(buf), "\\U%08x", cp);
      }
      out += buf;
    }
  }
  out += quote;
  return out;
}

namespace {

Status AppendImpl(const Value& v, std::string* out, size_t max_bytes, bool repr, int depth) {
  // Lists are depth-bounded on creation, but namespaces can chain without limit.
  if (depth > kMaxValueDepth) return TooDeep();
  switch (v.kind()) {
    case Kind::kUndefined:
      if (repr) *out += "Undefined";
      break;
    case Kind::kNone: *out += "None"; break;
    case Kind::kBool: *out += v.bool_value() ? "True" : "False"; break;
    case Kind::kInt: *out += std::to_string(v.int_value()); break;
    case Kind::kFloat: *out += FormatFloat(v.float_value()); break;
    case Kind::kString:
      if (repr) {
        *out += PyReprString(v.str());
      } else {
        *out += v.str();
      }
      break;
    case Kind::kList:
    case Kind::kTuple: {
      const bool tuple = v.is_tuple();
      *out += tuple ? '(' : '[';
      const ValueList& items = v.list();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) *out += ", ";
        KITE_RETURN_IF_ERROR(AppendImpl(items[i], out, max_bytes, true, depth + 1));
        if (out->size() > max_bytes) return TooLarge(max_bytes);
      }
      if (tuple && items.size() == 1) *out += ',';
      *out += tuple ? ')' : ']';
      break;
    }
    case Kind::kDict: {
      *out += '{';
      bool first = true;
      for (const auto& item : v.dict().items()) {
        if (!first) *out += ", ";
        first = false;
        KITE_RETURN_IF_ERROR(AppendImpl(item.first, out, max_bytes, true, depth + 1));
        *out += ": ";
        KITE_RETURN_IF_ERROR(AppendImpl(item.second, out, max_bytes, true, depth + 1));
        if (out->size() > max_bytes) return TooLarge(max_bytes);
      }
      *out += '}';
      break;
    }
    case Kind::kNamespace: {
      const auto* ns = v.object_as<NamespaceObject>();
      *out += "<Namespace {";
      bool first = true;
      for (const auto& attr : ns->attrs.entries) {
        if (!first) *out += ", ";
        first = false;
        *out += PyReprString(attr.first) + ": ";
        KITE_RETURN_IF_ERROR(AppendImpl(attr.second, out, max_bytes, true, depth + 1));
        if (out->size() > max_bytes) return TooLarge(max_bytes);
      }
      *out += "}>";
      break;
    }
    case Kind::kLoop: {
      const auto* loop = v.object_as<LoopObject>();
      *out += "<LoopContext " + std::to_string(loop->index0 + 1) + "/" + std::to_string(loop->items->size()) + ">";
      break;
    }
    case Kind::kMacro: *out += "<Macro '" + v.object_as<MacroObject>()->name + "'>"; break;
    case Kind::kFunction: *out += "<built-in function " + v.object_as<FunctionObject>()->name + ">"; break;
    case Kind::kMethod: {
      const auto* method = v.object_as<MethodObject>();
      *out += "<built-in method " + method->name + " of " + TypeName(method->self) + " object>";
      break;
    }
  }
  if (out->size() > max_bytes) return TooLarge(max_bytes);
  return Status::Ok();
}

}  // namespace

Status AppendStr(const Value& v, std::string* out, size_t max_bytes) {
  return AppendImpl(v, out, max_bytes, false, 0);
}

Status AppendRepr(const Value& v, std::string* out, size_t max_bytes) {
  return AppendImpl(v, out, max_bytes, true, 0);
}

}  // namespace jinja
}  // namespace kite
