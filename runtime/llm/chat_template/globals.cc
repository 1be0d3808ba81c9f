// The global functions a chat template can call: Jinja's range, dict and
// namespace, and transformers' raise_exception and strftime_now. Also the
// Python-style argument binder every built-in uses.
#include <algorithm>
#include <cstring>
#include <ctime>

#include "runtime/llm/chat_template/evaluator.h"

namespace kite {
namespace jinja {

Result<BoundArgs> BoundArgs::Bind(const char* function, const CallArgs& args, std::vector<const char*> params,
                                  size_t required) {
  BoundArgs bound;
  bound.values_.resize(params.size());
  bound.given_.assign(params.size(), false);
  if (args.positional.size() > params.size()) {
    return InvalidArgument(std::string(function) + "() takes at most " + std::to_string(params.size()) +
                           " argument(s) (" + std::to_string(args.positional.size()) + " given)");
  }
  for (size_t i = 0; i < args.positional.size(); ++i) {
    bound.values_[i] = args.positional[i];
    bound.given_[i] = true;
  }
  for (const auto& kw : args.keywords) {
    auto it = std::find_if(params.begin(), params.end(), [&](const char* p) { return kw.first == p; });
    if (it == params.end()) {
      return InvalidArgument(std::string(function) + "() got an unexpected keyword argument '" + kw.first + "'");
    }
    const size_t i = static_cast<size_t>(it - params.begin());
    if (bound.given_[i]) {
      return InvalidArgument(std::string(function) + "() got multiple values for argument '" + kw.first + "'");
    }
    bound.values_[i] = kw.second;
    bound.given_[i] = true;
  }
  for (size_t i = 0; i < required && i < params.size(); ++i) {
    if (!bound.given_[i]) {
      return InvalidArgument(std::string(function) + "() missing required argument '" + params[i] + "'");
    }
  }
  return bound;
}

namespace {

// The sandbox's MAX_RANGE.
constexpr int64_t kMaxRange = 100000;

Result<Value> GlobalRange(Evaluator& ev, const CallArgs& args) {
  if (!args.keywords.empty()) return InvalidArgument("range() takes no keyword arguments");
  if (args.positional.empty() || args.positional.size() > 3) {
    return InvalidArgument("range expected 1 to 3 arguments, got " + std::to_string(args.positional.size()));
  }
  for (const Value& v : args.positional) {
    if (!v.is_integral()) return InvalidArgument(std::string("'") + TypeName(v) + "' object cannot be interpreted as an integer");
  }
  int64_t start = 0, stop = 0, step = 1;
  if (args.positional.size() == 1) {
    stop = args.positional[0].int_value();
  } else {
    start = args.positional[0].int_value();
    stop = args.positional[1].int_value();
    if (args.positional.size() == 3) step = args.positional[2].int_value();
  }
  if (step == 0) return InvalidArgument("range() arg 3 must not be zero");
  // Count without overflow: the span fits in unsigned 64 bits.
  uint64_t count = 0;
  if (step > 0 && start < stop) {
    count = (static_cast<uint64_t>(stop) - static_cast<uint64_t>(start) - 1) / static_cast<uint64_t>(step) + 1;
  } else if (step < 0 && start > stop) {
    count = (static_cast<uint64_t>(start) - static_cast<uint64_t>(stop) - 1) / (0 - static_cast<uint64_t>(step)) + 1;
  }
  if (count > static_cast<uint64_t>(kMaxRange)) {
    return OutOfRange("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  ValueList items;
  items.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    // Unsigned arithmetic: every element lies between start and stop, but
    // i * step alone may not fit in int64.
    items.push_back(Value::Int(static_cast<int64_t>(static_cast<uint64_t>(start) + i * static_cast<uint64_t>(step))));
  }
  return Value::List(std::move(items));
}

// dict(mapping or pairs, **kwargs) as Python builds it.
Result<Dict> BuildDict(Evaluator& ev, const CallArgs& args, const char* function) {
  if (args.positional.size() > 1) {
    return InvalidArgument(std::string(function) + " expected at most 1 positional argument");
  }
  Dict dict;
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      dict = source.dict();
    } else {
      KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(source));
      for (const Value& pair : *items) {
        if (!pair.is_sequence() || pair.list().size() != 2) {
          return InvalidArgument(std::string(function) + ": each element must be a key/value pair");
        }
        dict.Set(pair.list()[0], pair.list()[1]);
      }
    }
  }
  for (const auto& kw : args.keywords) dict.Set(Value::String(kw.first), kw.second);
  return dict;
}

Result<Value> GlobalDict(Evaluator& ev, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(Dict dict, BuildDict(ev, args, "dict()"));
  return Value::FromDict(std::move(dict));
}

Result<Value> GlobalNamespace(Evaluator& ev, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(Dict dict, BuildDict(ev, args, "namespace()"));
  Value ns = ev.NewNamespace();
  for (const auto& item : dict.items()) {
    if (!item.first.is_string()) return InvalidArgument("namespace() attribute names must be strings");
    ns.object_as<NamespaceObject>()->attrs.Set(item.first.str(), item.second);
  }
  return ns;
}

Result<Value> GlobalRaiseException(Evaluator& ev, const CallArgs& args) {
  std::string message;
  if (!args.positional.empty()) KITE_RETURN_IF_ERROR(AppendStr(args.positional[0], &message, ev.max_output_bytes()));
  return ev.RaiseException(message);
}

Result<Value> GlobalStrftimeNow(Evaluator& ev, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("strftime_now", args, {"format"}, 1));
  if (!a.get(0).is_string()) return InvalidArgument("strftime_now() format must be a string");
  const std::string& format = a.get(0).str();
  if (format.size() > 1024) return InvalidArgument("strftime_now() format is too long");
  if (format.empty()) return Value::String("");
  const std::time_t now = ev.Now();
  std::tm local{};
  if (localtime_r(&now, &local) == nullptr) return InvalidArgument("strftime_now(): the clock is out of range");
  // Each directive expands to at most a few dozen bytes. A trailing marker
  // tells an empty expansion apart from strftime's "buffer too small" (0).
  const std::string marked = format + "|";
  std::string buffer(marked.size() * 64 + 64, '\0');
  const size_t written = std::strftime(&buffer[0], buffer.size(), marked.c_str(), &local);
  if (written == 0) return InvalidArgument("strftime_now() could not format '" + format + "'");
  buffer.resize(written - 1);
  return Value::String(std::move(buffer));
}

void AddFunction(Scope* scope, const char* name, BuiltinFunction fn) {
  auto function = std::make_shared<FunctionObject>();
  function->name = name;
  function->fn = fn;
  scope->vars.Set(name, Value::FromObject(Kind::kFunction, std::move(function)));
}

}  // namespace

void AddGlobals(Scope* scope) {
  AddFunction(scope, "range", GlobalRange);
  AddFunction(scope, "dict", GlobalDict);
  AddFunction(scope, "namespace", GlobalNamespace);
  AddFunction(scope, "raise_exception", GlobalRaiseException);
  AddFunction(scope, "strftime_now", GlobalStrftimeNow);
}

}  // namespace jinja
}  // namespace kite
