// Walks the template tree and renders it with Python Jinja2's semantics:
// scoping (a scope per loop iteration and macro call, none for `if`), the
// default Undefined, sandboxed attribute and item lookup, macros and call
// blocks, loop controls. Also the services filters, tests, methods and
// globals use (attribute lookup, calling, limits).
//
// Every runaway a template can cause ends in an error rather than a crash:
// output size, total work, loop iterations, call depth and evaluation depth
// are all bounded.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/llm/chat_template/ast.h"
#include "runtime/llm/chat_template/objects.h"
#include "runtime/llm/chat_template/value.h"

namespace kite {
namespace jinja {

struct RenderLimits {
  size_t max_output_bytes = 16u << 20;  // any one string, the output included
  int64_t max_steps = 1000000;          // loop iterations + macro calls
  int max_call_depth = 64;              // nested macro calls
};

// Statements and expressions being evaluated at once, across macro calls.
// Bounds the C++ stack a render uses: under 200 KB at the limit in a release
// build; real templates stay below 30 levels.
constexpr int kMaxEvalDepth = 256;

// Counts one level of evaluation for as long as it lives.
class DepthGuard {
 public:
  explicit DepthGuard(int* depth) : depth_(depth) { ++*depth_; }
  ~DepthGuard() { --*depth_; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;
  bool exceeded() const { return *depth_ > kMaxEvalDepth; }

 private:
  int* depth_;
};

class Evaluator {
 public:
  Evaluator(const RenderLimits& limits, std::function<std::time_t()> now);
  ~Evaluator();
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  // context must be a dict; its keys become the template's variables.
  Result<std::string> Render(const TemplateAst& ast, const Value& context);
  // True when the failure came from the template's raise_exception().
  bool raised_exception() const { return raised_exception_; }

  // ---- services for filters, tests, methods and globals (errors are bare;
  // the evaluator adds the template location)
  Result<Value> GetAttr(const Value& obj, const std::string& name);
  Result<Value> GetItem(const Value& obj, const Value& key);
  Result<Value> Call(const Value& callee, const CallArgs& args);
  Result<Value> ApplyFilter(const std::string& name, const Value& input, const CallArgs& args);
  Result<bool> ApplyTest(const std::string& name, const Value& input, const CallArgs& args);
  // Items of an iterable as Python iterates them (dict -> keys, str -> chars).
  Result<std::shared_ptr<const ValueList>> Iterate(const Value& v);
  // Builds a string value, charging its size against the limits.
  Result<Value> MakeString(std::string s);
  Status ChargeBytes(size_t bytes);
  Status Step();
  Value NewNamespace();
  Status RaiseException(const std::string& message);
  std::time_t Now() const { return now_ ? now_() : std::time(nullptr); }
  size_t max_output_bytes() const { return limits_.max_output_bytes; }

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  Status Exec(const Stmt& stmt);
  Status ExecList(const StmtList& list);
  Status ExecFor(const Stmt& stmt);
  Status ExecCaptured(const StmtList& body, std::string* captured);
  Status Assign(const Expr& target, const Value& value);
  Status Emit(const Value& v);
  Status EmitText(const std::string& text);

  // Expressions (evaluator_expr.cc). One small function per node kind, kept
  // out of line so that the recursive path has small stack frames.
  Result<Value> Eval(const Expr& expr);
  [[gnu::noinline]] Result<Value> EvalConst(const Expr& expr);
  [[gnu::noinline]] Result<Value> EvalSequence(const Expr& expr);
  [[gnu::noinline]] Result<Value> EvalDict(const Expr& expr);
  [[gnu::noinline]] Result<Value> EvalSubscript(const Expr& expr);
  [[gnu::noinline]] Result<Value> EvalTest(const Expr& expr);
  [[gnu::noinline]] Result<Value> EvalUnary(const Expr& expr);
  [[gnu::noinline]] Result<Value> EvalBinary(const Expr& expr);
  [[gnu::noinline]] Result<Value> EvalConcat(const Expr& expr);
  [[gnu::noinline]] Result<Value> EvalLogic(const Expr& expr);
  [[gnu::noinline]] Result<Value> EvalCall(const Expr& expr, const Value* caller);
  [[gnu::noinline]] Result<Value> EvalFilter(const Expr& expr, const Value* block_input);
  [[gnu::noinline]] Result<Value> EvalCompare(const Expr& expr);
  Result<Value> EvalSlice(const Value& obj, const Expr& slice);
  Status EvalArgs(const Expr& expr, CallArgs* args);
  Status TooDeep(const Location& loc);
  Result<Value> CallMacro(const MacroObject& macro, const CallArgs& args);
  [[gnu::noinline]] Status BindMacroArgs(const MacroObject& macro, const CallArgs& args, Scope* scope,
                                         std::vector<bool>* bound);
  Status RunMacroBody(const Stmt& node, const std::vector<bool>& bound, std::string* captured);
  Value Lookup(const std::string& name) const;

  // Prefixes "line L, column C: " to the first error of a render only, so
  // an error keeps the location where it happened.
  Status Locate(const Location& loc, Status status);
  template <typename T>
  Result<T> Locate(const Location& loc, Result<T> result) {
    if (result.ok()) return result;
    return Locate(loc, result.status());
  }

  RenderLimits limits_;
  std::function<std::time_t()> now_;
  std::shared_ptr<Scope> globals_;
  std::shared_ptr<Scope> root_;  // the context's variables, above the globals
  std::shared_ptr<Scope> scope_;
  std::string* out_ = nullptr;
  Flow flow_ = Flow::kNormal;
  int64_t steps_ = 0;
  uint64_t bytes_charged_ = 0;
  int call_depth_ = 0;
  int eval_depth_ = 0;
  int loop_depth_ = 0;
  bool error_located_ = false;
  bool raised_exception_ = false;
  // Mutable objects made during the render, cleared at the end so that
  // reference cycles through them are freed.
  std::vector<std::shared_ptr<Object>> owned_;
};

// Lookup tables (filters.cc, predicates.cc, methods.cc, globals.cc). Null
// when Jinja has no such filter or test.
using FilterFunction = Result<Value> (*)(Evaluator& ev, const Value& input, const CallArgs& args);
using TestFunction = Result<bool> (*)(Evaluator& ev, const Value& input, const CallArgs& args);
FilterFunction FindFilter(const std::string& name);
TestFunction FindTest(const std::string& name);
// Whether `self` (a str, dict, list, tuple or loop) has a method `name`.
bool HasMethod(const Value& self, const std::string& name);
// True for list/dict methods that would mutate: the immutable sandbox blocks them.
bool IsUnsafeMethod(const Value& self, const std::string& name);
Result<Value> CallMethod(Evaluator& ev, const Value& self, const std::string& name, const CallArgs& args);
// The built-in globals: range, namespace, dict, raise_exception, strftime_now.
void AddGlobals(Scope* scope);

// Binds call arguments to named parameters the way Python does.
class BoundArgs {
 public:
  // Fails on too many positional arguments, unknown or duplicate keywords,
  // or a missing required parameter (the first `required` ones).
  static Result<BoundArgs> Bind(const char* function, const CallArgs& args, std::vector<const char*> params,
                                size_t required = 0);
  bool has(size_t i) const { return given_[i]; }
  const Value& get(size_t i) const { return values_[i]; }
  // The value when given, else `fallback`.
  Value get_or(size_t i, Value fallback) const { return given_[i] ? values_[i] : std::move(fallback); }

 private:
  std::vector<Value> values_;
  std::vector<bool> given_;
};

}  // namespace jinja
}  // namespace kite
