// The non-data objects a render creates: variable scopes, namespaces, loop
// state, macros and callables. Only the evaluator creates them.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/llm/chat_template/ast.h"
#include "runtime/llm/chat_template/value.h"

namespace kite {
namespace jinja {

class Evaluator;

// Arguments of a call, filter or test, as Python receives them.
struct CallArgs {
  ValueList positional;
  std::vector<std::pair<std::string, Value>> keywords;
};

// Ordered name -> value slots, linear lookup: scopes and namespaces are small.
struct Slots {
  std::vector<std::pair<std::string, Value>> entries;
  const Value* Find(const std::string& name) const {
    for (const auto& entry : entries) {
      if (entry.first == name) return &entry.second;
    }
    return nullptr;
  }
  void Set(const std::string& name, Value value) {
    for (auto& entry : entries) {
      if (entry.first == name) {
        entry.second = std::move(value);
        return;
      }
    }
    entries.emplace_back(name, std::move(value));
  }
};

// A variable scope. Jinja gives each for-loop iteration, macro call and with
// block its own scope; `if` does not create one.
struct Scope {
  std::shared_ptr<Scope> parent;
  Slots vars;
  const Value* Lookup(const std::string& name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent.get()) {
      if (const Value* v = s->vars.Find(name)) return v;
    }
    return nullptr;
  }
};

struct NamespaceObject : Object {
  Slots attrs;
  void Clear() override { attrs.entries.clear(); }
};

struct LoopObject : Object {
  std::shared_ptr<const ValueList> items;  // after the loop's `if` filter
  size_t index0 = 0;
  bool has_changed_value = false;
  Value changed_value;  // last argument of loop.changed()
  void Clear() override {
    items = std::make_shared<const ValueList>();
    changed_value = Value();
  }
};

struct MacroObject : Object {
  std::string name;
  const Stmt* node = nullptr;  // kMacro or kCallBlock: params, defaults, body
  // Weak: a scope may hold the macro, and a strong link would be a cycle. A
  // macro that outlives its scope sees the template globals only.
  std::weak_ptr<Scope> closure;
};

using BuiltinFunction = Result<Value> (*)(Evaluator& ev, const CallArgs& args);

struct FunctionObject : Object {
  std::string name;
  BuiltinFunction fn = nullptr;
};

struct MethodObject : Object {
  Value self;
  std::string name;
};

}  // namespace jinja
}  // namespace kite
