#include "runtime/llm/chat_template/evaluator.h"

#include <algorithm>

#include "runtime/llm/chat_template/lexer.h"
#include "runtime/llm/chat_template/operators.h"
#include "runtime/llm/chat_template/unicode.h"

namespace kite {
namespace jinja {
namespace {

// Total bytes of strings a render may build, as a multiple of the output
// limit: stops templates that grow a string quadratically.
constexpr uint64_t kWorkBytesFactor = 64;

class ScopeSwap {
 public:
  ScopeSwap(std::shared_ptr<Scope>* current, std::shared_ptr<Scope> scope)
      : current_(current), saved_(std::move(*current)) {
    *current_ = std::move(scope);
  }
  ~ScopeSwap() { *current_ = std::move(saved_); }
  ScopeSwap(const ScopeSwap&) = delete;
  ScopeSwap& operator=(const ScopeSwap&) = delete;

 private:
  std::shared_ptr<Scope>* current_;
  std::shared_ptr<Scope> saved_;
};

std::shared_ptr<Scope> ChildOf(const std::shared_ptr<Scope>& parent) {
  auto scope = std::make_shared<Scope>();
  scope->parent = parent;
  return scope;
}

Status Unpack(const ValueList& items, size_t expected) {
  if (items.size() > expected) return InvalidArgument("too many values to unpack (expected " + std::to_string(expected) + ")");
  if (items.size() < expected) {
    return InvalidArgument("not enough values to unpack (expected " + std::to_string(expected) + ", got " +
                           std::to_string(items.size()) + ")");
  }
  return Status::Ok();
}

}  // namespace

Evaluator::Evaluator(const RenderLimits& limits, std::function<std::time_t()> now)
    : limits_(limits), now_(std::move(now)) {}

Evaluator::~Evaluator() {
  // First empty every mutable object (all stay alive through owned_, so no
  // destructor chain runs deep), then let them go.
  for (const auto& object : owned_) object->Clear();
  owned_.clear();
  scope_.reset();
  root_.reset();
  globals_.reset();
}

Result<std::string> Evaluator::Render(const TemplateAst& ast, const Value& context) {
  globals_ = std::make_shared<Scope>();
  AddGlobals(globals_.get());
  auto root = ChildOf(globals_);
  if (context.is_dict()) {
    for (const auto& item : context.dict().items()) {
      if (item.first.is_string()) root->vars.Set(item.first.str(), item.second);
    }
  }
  root_ = root;
  scope_ = root;
  std::string output;
  out_ = &output;
  Status status = ExecList(ast.body);
  out_ = nullptr;
  KITE_RETURN_IF_ERROR(status);
  return output;
}

Status Evaluator::Locate(const Location& loc, Status status) {
  if (status.ok() || error_located_) return status;
  error_located_ = true;
  return Status(status.code(), LocatedMessage(loc, status.message()));
}

// ---------------------------------------------------------------- services

Status Evaluator::Step() {
  if (++steps_ > limits_.max_steps) {
    return OutOfRange("template ran more than " + std::to_string(limits_.max_steps) +
                      " loop iterations and macro calls (a runaway template?)");
  }
  return Status::Ok();
}

Status Evaluator::ChargeBytes(size_t bytes) {
  bytes_charged_ += bytes;
  if (bytes_charged_ > kWorkBytesFactor * limits_.max_output_bytes) {
    return OutOfRange("template built more than " + std::to_string(kWorkBytesFactor * limits_.max_output_bytes) +
                      " bytes of strings (a runaway template?)");
  }
  return Status::Ok();
}

Result<Value> Evaluator::MakeString(std::string s) {
  if (s.size() > limits_.max_output_bytes) {
    return OutOfRange("a string of " + std::to_string(s.size()) + " bytes exceeds the output limit of " +
                      std::to_string(limits_.max_output_bytes) + " bytes");
  }
  KITE_RETURN_IF_ERROR(ChargeBytes(s.size()));
  return Value::String(std::move(s));
}

Value Evaluator::NewNamespace() {
  auto ns = std::make_shared<NamespaceObject>();
  owned_.push_back(ns);
  return Value::FromObject(Kind::kNamespace, std::move(ns));
}

Status Evaluator::RaiseException(const std::string& message) {
  raised_exception_ = true;
  return InvalidArgument(message);
}

Result<std::shared_ptr<const ValueList>> Evaluator::Iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined: return std::make_shared<const ValueList>();
    case Kind::kList:
    case Kind::kTuple: return v.list_ptr();
    case Kind::kDict: {
      auto keys = std::make_shared<ValueList>();
      for (const auto& item : v.dict().items()) keys->push_back(item.first);
      return std::shared_ptr<const ValueList>(std::move(keys));
    }
    case Kind::kString: {
      auto chars = std::make_shared<ValueList>();
      const std::string& s = v.str();
      for (size_t pos = 0; pos < s.size();) {
        const size_t length = Utf8UnitLength(s, pos);
        chars->push_back(Value::String(s.substr(pos, length)));
        pos += length;
      }
      return std::shared_ptr<const ValueList>(std::move(chars));
    }
    default: return InvalidArgument(std::string("'") + TypeName(v) + "' object is not iterable");
  }
}

Value Evaluator::Lookup(const std::string& name) const {
  if (const Value* v = scope_->Lookup(name)) return *v;
  return Value::Undefined("'" + name + "' is undefined");
}

Result<Value> Evaluator::GetAttr(const Value& obj, const std::string& name) {
  auto missing = [&]() { return Value::Undefined("'" + ObjectTypeRepr(obj) + "' has no attribute '" + name + "'"); };
  switch (obj.kind()) {
    case Kind::kUndefined: return InvalidArgument(obj.undefined_message());
    case Kind::kNamespace: {
      const Value* v = obj.object_as<NamespaceObject>()->attrs.Find(name);
      return v ? *v : missing();
    }
    case Kind::kLoop: {
      const auto* loop = obj.object_as<LoopObject>();
      const int64_t n = static_cast<int64_t>(loop->items->size());
      const int64_t i = static_cast<int64_t>(loop->index0);
      if (name == "index0") return Value::Int(i);
      if (name == "index") return Value::Int(i + 1);
      if (name == "revindex") return Value::Int(n - i);
      if (name == "revindex0") return Value::Int(n - i - 1);
      if (name == "first") return Value::Bool(i == 0);
      if (name == "last") return Value::Bool(i == n - 1);
      if (name == "length") return Value::Int(n);
      if (name == "depth") return Value::Int(1);
      if (name == "depth0") return Value::Int(0);
      if (name == "previtem") {
        return i > 0 ? (*loop->items)[static_cast<size_t>(i - 1)] : Value::Undefined("there is no previous item");
      }
      if (name == "nextitem") {
        return i + 1 < n ? (*loop->items)[static_cast<size_t>(i + 1)] : Value::Undefined("there is no next item");
      }
      break;
    }
    case Kind::kMacro:
      if (name == "name") return Value::String(obj.object_as<MacroObject>()->name);
      break;
    case Kind::kDict:
      // Python attribute lookup first (dict methods), then the key.
      if (HasMethod(obj, name)) break;
      if (const Value* v = obj.dict().Find(std::string_view(name))) {
        if (!IsUnsafeMethod(obj, name)) return *v;
      }
      break;
    default: break;
  }
  if (HasMethod(obj, name)) {
    auto method = std::make_shared<MethodObject>();
    method->self = obj;
    method->name = name;
    return Value::FromObject(Kind::kMethod, std::move(method));
  }
  if (IsUnsafeMethod(obj, name)) {
    return Value::Undefined("access to attribute '" + name + "' of '" + TypeName(obj) + "' object is unsafe.");
  }
  return missing();
}

Result<Value> Evaluator::GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return InvalidArgument(obj.undefined_message());
  auto no_element = [&]() -> Result<Value> {
    // Jinja falls back to attribute lookup for string keys.
    if (key.is_string()) return GetAttr(obj, key.str());
    std::string key_repr;
    KITE_RETURN_IF_ERROR(AppendRepr(key, &key_repr, 256));
    return Value::Undefined(ObjectTypeRepr(obj) + " has no element " + key_repr);
  };
  if (obj.is_dict()) {
    if (const Value* v = obj.dict().Find(key)) return *v;
    return no_element();
  }
  if ((obj.is_sequence() || obj.is_string()) && key.is_integral()) {
    int64_t index = key.int_value();
    if (obj.is_string()) {
      const std::vector<size_t> offsets = Utf8Offsets(obj.str());
      const int64_t n = static_cast<int64_t>(offsets.size()) - 1;
      if (index < 0) index += n;
      if (index < 0 || index >= n) return no_element();
      const size_t at = offsets[static_cast<size_t>(index)];
      return Value::String(obj.str().substr(at, offsets[static_cast<size_t>(index) + 1] - at));
    }
    const int64_t n = static_cast<int64_t>(obj.list().size());
    if (index < 0) index += n;
    if (index < 0 || index >= n) return no_element();
    return obj.list()[static_cast<size_t>(index)];
  }
  return no_element();
}

Result<Value> Evaluator::Call(const Value& callee, const CallArgs& args) {
  switch (callee.kind()) {
    case Kind::kFunction: return callee.object_as<FunctionObject>()->fn(*this, args);
    case Kind::kMacro: return CallMacro(*callee.object_as<MacroObject>(), args);
    case Kind::kMethod: {
      const auto* method = callee.object_as<MethodObject>();
      return CallMethod(*this, method->self, method->name, args);
    }
    case Kind::kUndefined: return InvalidArgument(callee.undefined_message());
    default: return InvalidArgument(std::string("'") + TypeName(callee) + "' object is not callable");
  }
}

Result<Value> Evaluator::ApplyFilter(const std::string& name, const Value& input, const CallArgs& args) {
  FilterFunction filter = FindFilter(name);
  if (filter == nullptr) return Unsupported("filter '" + name + "' is not supported");
  return filter(*this, input, args);
}

Result<bool> Evaluator::ApplyTest(const std::string& name, const Value& input, const CallArgs& args) {
  TestFunction test = FindTest(name);
  if (test == nullptr) return Unsupported("test '" + name + "' is not supported");
  return test(*this, input, args);
}

Status Evaluator::BindMacroArgs(const MacroObject& macro, const CallArgs& args, Scope* scope,
                                std::vector<bool>* bound) {
  const Stmt& node = *macro.node;
  const size_t n_params = node.params.size();
  bound->assign(n_params, false);
  if (args.positional.size() > n_params && !node.catch_varargs) {
    return InvalidArgument("macro '" + macro.name + "' takes not more than " + std::to_string(n_params) +
                           " argument(s)");
  }
  ValueList varargs;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < n_params) {
      scope->vars.Set(node.params[i], args.positional[i]);
      (*bound)[i] = true;
    } else {
      varargs.push_back(args.positional[i]);
    }
  }
  Dict extra_kwargs;
  for (const auto& kw : args.keywords) {
    auto it = std::find(node.params.begin(), node.params.end(), kw.first);
    if (it != node.params.end()) {
      const size_t i = static_cast<size_t>(it - node.params.begin());
      if ((*bound)[i]) {
        return InvalidArgument("macro '" + macro.name + "' got multiple values for argument '" + kw.first + "'");
      }
      scope->vars.Set(kw.first, kw.second);
      (*bound)[i] = true;
    } else if (kw.first == "caller" && node.uses_caller) {
      scope->vars.Set("caller", kw.second);
    } else if (node.catch_kwargs) {
      extra_kwargs.Set(Value::String(kw.first), kw.second);
    } else {
      return InvalidArgument("macro '" + macro.name + "' takes no keyword argument '" + kw.first + "'");
    }
  }
  KITE_ASSIGN_OR_RETURN(Value varargs_value, Value::Tuple(std::move(varargs)));
  KITE_ASSIGN_OR_RETURN(Value kwargs_value, Value::FromDict(std::move(extra_kwargs)));
  scope->vars.Set("varargs", std::move(varargs_value));
  scope->vars.Set("kwargs", std::move(kwargs_value));
  for (size_t i = 0; i < n_params; ++i) {
    if (!(*bound)[i]) scope->vars.Set(node.params[i], Value::Undefined("parameter '" + node.params[i] + "' was not provided"));
  }
  return Status::Ok();
}

Status Evaluator::RunMacroBody(const Stmt& node, const std::vector<bool>& bound, std::string* captured) {
  // Defaults are evaluated in the macro's scope, after earlier parameters.
  const size_t first_default = node.params.size() - node.defaults.size();
  for (size_t i = first_default; i < node.params.size(); ++i) {
    if (bound[i]) continue;
    KITE_ASSIGN_OR_RETURN(Value value, Eval(*node.defaults[i - first_default]));
    scope_->vars.Set(node.params[i], std::move(value));
  }
  return ExecCaptured(node.body, captured);
}

Result<Value> Evaluator::CallMacro(const MacroObject& macro, const CallArgs& args) {
  if (call_depth_ >= limits_.max_call_depth) {
    return OutOfRange("macro calls nested more than " + std::to_string(limits_.max_call_depth) +
                      " deep (runaway recursion?)");
  }
  KITE_RETURN_IF_ERROR(Step());
  std::shared_ptr<Scope> closure = macro.closure.lock();
  auto scope = ChildOf(closure ? closure : root_);  // a macro that outlived its scope sees the context
  std::vector<bool> bound;
  KITE_RETURN_IF_ERROR(BindMacroArgs(macro, args, scope.get(), &bound));
  std::string captured;
  ++call_depth_;
  Status status;
  {
    ScopeSwap swap(&scope_, std::move(scope));
    status = RunMacroBody(*macro.node, bound, &captured);
  }
  --call_depth_;
  KITE_RETURN_IF_ERROR(status);
  return MakeString(std::move(captured));
}

// ---------------------------------------------------------------- statements

Status Evaluator::ExecList(const StmtList& list) {
  for (const StmtPtr& stmt : list) {
    KITE_RETURN_IF_ERROR(Exec(*stmt));
    if (flow_ != Flow::kNormal) break;
  }
  return Status::Ok();
}

Status Evaluator::ExecCaptured(const StmtList& body, std::string* captured) {
  std::string* saved = out_;
  out_ = captured;
  Status status = ExecList(body);
  out_ = saved;
  return status;
}

Status Evaluator::EmitText(const std::string& text) {
  if (out_->size() + text.size() > limits_.max_output_bytes) {
    return OutOfRange("the rendered text exceeds the output limit of " + std::to_string(limits_.max_output_bytes) +
                      " bytes");
  }
  KITE_RETURN_IF_ERROR(ChargeBytes(text.size()));
  out_->append(text);
  return Status::Ok();
}

Status Evaluator::Emit(const Value& v) {
  if (v.is_string()) return EmitText(v.str());
  const size_t before = out_->size();
  Status status = AppendStr(v, out_, limits_.max_output_bytes);
  if (!status.ok()) {
    out_->resize(before);
    return status;
  }
  return ChargeBytes(out_->size() - before);
}

Status Evaluator::Assign(const Expr& target, const Value& value) {
  switch (target.kind) {
    case ExprKind::kName: scope_->vars.Set(target.name, value); return Status::Ok();
    case ExprKind::kNsRef: {
      Value ns = Lookup(target.name);
      if (ns.kind() != Kind::kNamespace) {
        return Locate(target.loc, InvalidArgument("cannot assign attribute on non-namespace object"));
      }
      ns.object_as<NamespaceObject>()->attrs.Set(target.attr, value);
      return Status::Ok();
    }
    case ExprKind::kTuple: {
      KITE_ASSIGN_OR_RETURN(auto items, Locate(target.loc, Iterate(value)));
      KITE_RETURN_IF_ERROR(Locate(target.loc, Unpack(*items, target.children.size())));
      for (size_t i = 0; i < items->size(); ++i) KITE_RETURN_IF_ERROR(Assign(*target.children[i], (*items)[i]));
      return Status::Ok();
    }
    default: return Locate(target.loc, InvalidArgument("cannot assign to this expression"));
  }
}

Status Evaluator::Exec(const Stmt& stmt) {
  DepthGuard guard(&eval_depth_);
  if (guard.exceeded()) return TooDeep(stmt.loc);
  switch (stmt.kind) {
    case StmtKind::kText: return Locate(stmt.loc, EmitText(stmt.text));
    case StmtKind::kOutput: {
      KITE_ASSIGN_OR_RETURN(Value v, Eval(*stmt.expr));
      return Locate(stmt.expr->loc, Emit(v));
    }
    case StmtKind::kIf:
      for (const auto& branch : stmt.branches) {
        KITE_ASSIGN_OR_RETURN(Value test, Eval(*branch.first));
        if (Truthy(test)) return ExecList(branch.second);
      }
      return ExecList(stmt.else_body);
    case StmtKind::kFor: return ExecFor(stmt);
    case StmtKind::kSet: {
      KITE_ASSIGN_OR_RETURN(Value v, Eval(*stmt.expr));
      return Assign(*stmt.target, v);
    }
    case StmtKind::kSetBlock:
    case StmtKind::kFilterBlock: {
      std::string captured;
      {
        ScopeSwap swap(&scope_, ChildOf(scope_));
        KITE_RETURN_IF_ERROR(ExecCaptured(stmt.body, &captured));
      }
      Value v = Value::String(std::move(captured));
      if (stmt.filter) {
        KITE_ASSIGN_OR_RETURN(v, EvalFilter(*stmt.filter, &v));
      }
      if (stmt.kind == StmtKind::kFilterBlock) return Locate(stmt.loc, Emit(v));
      return Assign(*stmt.target, v);
    }
    case StmtKind::kMacro: {
      auto macro = std::make_shared<MacroObject>();
      macro->name = stmt.text;
      macro->node = &stmt;
      macro->closure = scope_;
      scope_->vars.Set(stmt.text, Value::FromObject(Kind::kMacro, std::move(macro)));
      return Status::Ok();
    }
    case StmtKind::kCallBlock: {
      auto caller = std::make_shared<MacroObject>();
      caller->name = "caller";
      caller->node = &stmt;
      caller->closure = scope_;
      const Value caller_value = Value::FromObject(Kind::kMacro, std::move(caller));
      KITE_ASSIGN_OR_RETURN(Value v, EvalCall(*stmt.expr, &caller_value));
      return Locate(stmt.loc, Emit(v));
    }
    case StmtKind::kWith: {
      std::vector<Value> values;
      for (const ExprPtr& value : stmt.values) {
        KITE_ASSIGN_OR_RETURN(Value v, Eval(*value));
        values.push_back(std::move(v));
      }
      ScopeSwap swap(&scope_, ChildOf(scope_));
      for (size_t i = 0; i < values.size(); ++i) KITE_RETURN_IF_ERROR(Assign(*stmt.targets[i], values[i]));
      return ExecList(stmt.body);
    }
    case StmtKind::kScope: {
      ScopeSwap swap(&scope_, ChildOf(scope_));
      return ExecList(stmt.body);
    }
    case StmtKind::kBreak: flow_ = Flow::kBreak; return Status::Ok();
    case StmtKind::kContinue: flow_ = Flow::kContinue; return Status::Ok();
  }
  return Status::Ok();
}

Status Evaluator::ExecFor(const Stmt& stmt) {
  KITE_ASSIGN_OR_RETURN(Value iterable, Eval(*stmt.expr));
  KITE_ASSIGN_OR_RETURN(std::shared_ptr<const ValueList> items, Locate(stmt.expr->loc, Iterate(iterable)));
  const std::shared_ptr<Scope> outer = scope_;
  if (stmt.condition) {  // `for x in xs if cond`: filter first, so loop.length counts kept items
    auto kept = std::make_shared<ValueList>();
    for (const Value& item : *items) {
      KITE_RETURN_IF_ERROR(Locate(stmt.loc, Step()));
      ScopeSwap swap(&scope_, ChildOf(outer));
      KITE_RETURN_IF_ERROR(Assign(*stmt.target, item));
      KITE_ASSIGN_OR_RETURN(Value keep, Eval(*stmt.condition));
      if (Truthy(keep)) kept->push_back(item);
    }
    items = std::move(kept);
  }
  auto loop = std::make_shared<LoopObject>();
  loop->items = items;
  owned_.push_back(loop);
  const Value loop_value = Value::FromObject(Kind::kLoop, loop);
  for (size_t i = 0; i < items->size(); ++i) {
    KITE_RETURN_IF_ERROR(Locate(stmt.loc, Step()));
    loop->index0 = i;
    ScopeSwap swap(&scope_, ChildOf(outer));
    scope_->vars.Set("loop", loop_value);
    KITE_RETURN_IF_ERROR(Assign(*stmt.target, (*items)[i]));
    KITE_RETURN_IF_ERROR(ExecList(stmt.body));
    const Flow flow = flow_;
    flow_ = Flow::kNormal;
    if (flow == Flow::kBreak) break;
  }
  if (items->empty() && !stmt.else_body.empty()) {
    ScopeSwap swap(&scope_, ChildOf(outer));
    return ExecList(stmt.else_body);
  }
  return Status::Ok();
}

}  // namespace jinja
}  // namespace kite
