// The values a chat template computes with, modelled on the Python objects
// Jinja2 sees: Undefined, None, bool, int, float, str, list, tuple, dict, plus
// the few objects templates create (namespace, loop, macro, functions).
// Strings, lists and dicts are immutable and shared (the sandbox is the
// immutable one), so copying a Value is cheap. Namespaces and loop objects are
// the only mutable state; the evaluator owns them and clears them when a
// render ends, which breaks any reference cycle a template builds.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/core/status.h"

namespace kite {
namespace jinja {

class Value;
class Dict;
using ValueList = std::vector<Value>;

enum class Kind : uint8_t {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kList,
  kTuple,
  kDict,
  kNamespace,  // namespace(): the one mutable object templates can write to
  kLoop,       // the `loop` variable of a for statement
  kMacro,      // a {% macro %} or the `caller` of a {% call %} block
  kFunction,   // a built-in global such as range() or raise_exception()
  kMethod,     // a bound method, e.g. `message.content.strip`
};

// Heap objects that are not plain data. Clear() drops every Value the object
// holds; the evaluator calls it when a render ends to break cycles.
struct Object {
  virtual ~Object() = default;
  virtual void Clear() {}
};

// Container values deeper than this are rejected: printing, comparing and
// destroying them recurses, and a runaway template must not overflow the stack.
constexpr int kMaxValueDepth = 256;

class Value {
 public:
  Value() = default;  // undefined, no hint
  static Value Undefined(std::string hint);
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double f);
  static Value String(std::string s);
  // Fail when the result would nest deeper than kMaxValueDepth.
  static Result<Value> List(ValueList items);
  static Result<Value> Tuple(ValueList items);
  static Result<Value> FromDict(Dict dict);
  static Value FromObject(Kind kind, std::shared_ptr<Object> object);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  // Python numbers: bool is an int subclass.
  bool is_number() const { return kind_ == Kind::kBool || kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  bool is_integral() const { return kind_ == Kind::kBool || kind_ == Kind::kInt; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kTuple; }
  bool is_sequence() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_callable() const {
    return kind_ == Kind::kMacro || kind_ == Kind::kFunction || kind_ == Kind::kMethod;
  }

  bool bool_value() const { return scalar_.b; }
  // Valid for bool and int.
  int64_t int_value() const { return kind_ == Kind::kBool ? (scalar_.b ? 1 : 0) : scalar_.i; }
  // Valid for every number.
  double float_value() const {
    return kind_ == Kind::kFloat ? scalar_.f : static_cast<double>(int_value());
  }
  const std::string& str() const { return *static_cast<const std::string*>(heap_.get()); }
  const ValueList& list() const;  // list or tuple
  // The same items, shared rather than copied (for iterating).
  std::shared_ptr<const ValueList> list_ptr() const;
  const Dict& dict() const;
  Object* object() const { return static_cast<Object*>(heap_.get()); }
  template <typename T>
  T* object_as() const {
    return static_cast<T*>(object());
  }
  // The message Jinja gives when this undefined value is used.
  std::string undefined_message() const;
  // Container nesting: 0 for scalars, 1 for a flat list.
  int depth() const;
  // Identity for the `sameas` test and for equality of objects.
  const void* identity() const { return heap_.get(); }

 private:
  Kind kind_ = Kind::kUndefined;
  union Scalar {
    bool b;
    int64_t i;
    double f;
  } scalar_{};
  std::shared_ptr<void> heap_;  // string, list data, Dict, Object or undefined hint
};

// A Python dict: insertion-ordered, keys compared with Python equality.
class Dict {
 public:
  using Item = std::pair<Value, Value>;
  const Value* Find(const Value& key) const;
  const Value* Find(std::string_view key) const;
  void Set(Value key, Value value);
  const std::vector<Item>& items() const { return items_; }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, size_t> string_index_;  // why: JSON inputs can be large
};

// Python type name ("str", "int", "NoneType", ...), for error messages.
const char* TypeName(const Value& v);
// Jinja's object_type_repr: "dict object", "None", ... for undefined hints.
std::string ObjectTypeRepr(const Value& v);

bool Truthy(const Value& v);
// Python ==. Containers compare element-wise (depth is bounded on creation).
bool Equals(const Value& a, const Value& b);
// Python <: numbers, strings and same-kind sequences; other pairs fail with
// Python's TypeError message.
Result<bool> Less(const Value& a, const Value& b);

// Python str() and repr(), appended to *out. Fail past max_bytes, so a
// template cannot print an exponentially shared structure.
Status AppendStr(const Value& v, std::string* out, size_t max_bytes);
Status AppendRepr(const Value& v, std::string* out, size_t max_bytes);
std::string PyReprString(std::string_view s);
// Python's repr(float): shortest round-trip digits, "1.0", "1e-05", "inf".
std::string FormatFloat(double f);

}  // namespace jinja
}  // namespace kite
