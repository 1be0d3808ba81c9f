// Expression evaluation. The dispatch in Eval() tail-calls one small
// function per node kind so that the recursive path (Eval -> EvalX -> Eval)
// keeps small stack frames; kMaxEvalDepth bounds its length.
#include "runtime/llm/chat_template/evaluator.h"
#include "runtime/llm/chat_template/lexer.h"
#include "runtime/llm/chat_template/operators.h"
#include "runtime/llm/chat_template/unicode.h"

namespace kite {
namespace jinja {

Status Evaluator::TooDeep(const Location& loc) {
  return Locate(loc, OutOfRange("template evaluation nested more than " + std::to_string(kMaxEvalDepth) +
                                    " levels deep (runaway recursion?)"));
}

Result<Value> Evaluator::Eval(const Expr& expr) {
  DepthGuard guard(&eval_depth_);
  if (guard.exceeded()) return TooDeep(expr.loc);
  switch (expr.kind) {
    case ExprKind::kConst: return EvalConst(expr);
    case ExprKind::kName: return Lookup(expr.name);
    case ExprKind::kList:
    case ExprKind::kTuple: return EvalSequence(expr);
    case ExprKind::kDict: return EvalDict(expr);
    case ExprKind::kGetAttr:
    case ExprKind::kGetItem: return EvalSubscript(expr);
    case ExprKind::kCall: return EvalCall(expr, nullptr);
    case ExprKind::kFilter: return EvalFilter(expr, nullptr);
    case ExprKind::kTest: return EvalTest(expr);
    case ExprKind::kNot:
    case ExprKind::kNeg:
    case ExprKind::kPos: return EvalUnary(expr);
    case ExprKind::kBinary: return EvalBinary(expr);
    case ExprKind::kConcat: return EvalConcat(expr);
    case ExprKind::kCompare: return EvalCompare(expr);
    case ExprKind::kAnd:
    case ExprKind::kOr:
    case ExprKind::kCondExpr: return EvalLogic(expr);
    case ExprKind::kNsRef: return Locate(expr.loc, InvalidArgument("a namespace reference can only be assigned to"));
    case ExprKind::kSlice: return Locate(expr.loc, InvalidArgument("a slice is only valid inside []"));
  }
  return Locate(expr.loc, Internal("unknown expression"));
}

Result<Value> Evaluator::EvalConst(const Expr& expr) {
  switch (expr.const_kind) {
    case ConstKind::kNone: return Value::None();
    case ConstKind::kBool: return Value::Bool(expr.int_value != 0);
    case ConstKind::kInt: return Value::Int(expr.int_value);
    case ConstKind::kFloat: return Value::Float(expr.float_value);
    case ConstKind::kString: return Value::String(expr.string_value);
  }
  return Value::None();
}

Result<Value> Evaluator::EvalSequence(const Expr& expr) {
  ValueList items;
  items.reserve(expr.children.size());
  for (const ExprPtr& child : expr.children) {
    KITE_ASSIGN_OR_RETURN(Value v, Eval(*child));
    items.push_back(std::move(v));
  }
  return Locate(expr.loc, expr.kind == ExprKind::kList ? Value::List(std::move(items)) : Value::Tuple(std::move(items)));
}

Result<Value> Evaluator::EvalDict(const Expr& expr) {
  Dict dict;
  for (size_t i = 0; i + 1 < expr.children.size(); i += 2) {
    KITE_ASSIGN_OR_RETURN(Value key, Eval(*expr.children[i]));
    KITE_ASSIGN_OR_RETURN(Value value, Eval(*expr.children[i + 1]));
    if (key.is_list() || key.is_dict() || key.kind() == Kind::kNamespace) {
      return Locate(expr.children[i]->loc, InvalidArgument(std::string("unhashable type: '") + TypeName(key) + "'"));
    }
    dict.Set(std::move(key), std::move(value));
  }
  return Locate(expr.loc, Value::FromDict(std::move(dict)));
}

Result<Value> Evaluator::EvalSubscript(const Expr& expr) {
  KITE_ASSIGN_OR_RETURN(Value obj, Eval(*expr.children[0]));
  if (expr.kind == ExprKind::kGetAttr) return Locate(expr.loc, GetAttr(obj, expr.attr));
  if (expr.children[1]->kind == ExprKind::kSlice) return EvalSlice(obj, *expr.children[1]);
  KITE_ASSIGN_OR_RETURN(Value key, Eval(*expr.children[1]));
  return Locate(expr.loc, GetItem(obj, key));
}

Result<Value> Evaluator::EvalTest(const Expr& expr) {
  KITE_ASSIGN_OR_RETURN(Value input, Eval(*expr.children[0]));
  CallArgs args;
  KITE_RETURN_IF_ERROR(EvalArgs(expr, &args));
  KITE_ASSIGN_OR_RETURN(bool result, Locate(expr.loc, ApplyTest(expr.name, input, args)));
  return Value::Bool(result);
}

Result<Value> Evaluator::EvalUnary(const Expr& expr) {
  KITE_ASSIGN_OR_RETURN(Value v, Eval(*expr.children[0]));
  if (expr.kind == ExprKind::kNot) return Value::Bool(!Truthy(v));
  return Locate(expr.loc, expr.kind == ExprKind::kNeg ? Negate(v) : UnaryPlus(v));
}

Result<Value> Evaluator::EvalBinary(const Expr& expr) {
  KITE_ASSIGN_OR_RETURN(Value a, Eval(*expr.children[0]));
  KITE_ASSIGN_OR_RETURN(Value b, Eval(*expr.children[1]));
  return Locate(expr.loc, BinaryOperation(*this, expr.binary_op, a, b));
}

Result<Value> Evaluator::EvalConcat(const Expr& expr) {
  std::string out;
  for (const ExprPtr& child : expr.children) {
    KITE_ASSIGN_OR_RETURN(Value v, Eval(*child));
    KITE_RETURN_IF_ERROR(Locate(expr.loc, AppendStr(v, &out, limits_.max_output_bytes)));
  }
  return Locate(expr.loc, MakeString(std::move(out)));
}

Result<Value> Evaluator::EvalLogic(const Expr& expr) {
  if (expr.kind == ExprKind::kCondExpr) {
    KITE_ASSIGN_OR_RETURN(Value test, Eval(*expr.children[1]));
    if (Truthy(test)) return Eval(*expr.children[0]);
    if (expr.children[2]) return Eval(*expr.children[2]);
    return Value::Undefined("the inline if-expression on line " + std::to_string(expr.loc.line) +
                            " evaluated to false and no else section was defined.");
  }
  KITE_ASSIGN_OR_RETURN(Value left, Eval(*expr.children[0]));
  // Python returns the deciding operand, not a bool.
  if (Truthy(left) == (expr.kind == ExprKind::kOr)) return left;
  return Eval(*expr.children[1]);
}

Status Evaluator::EvalArgs(const Expr& expr, CallArgs* args) {
  for (const ExprPtr& arg : expr.args) {
    KITE_ASSIGN_OR_RETURN(Value v, Eval(*arg));
    args->positional.push_back(std::move(v));
  }
  for (const auto& kw : expr.kwargs) {
    KITE_ASSIGN_OR_RETURN(Value v, Eval(*kw.second));
    args->keywords.emplace_back(kw.first, std::move(v));
  }
  if (expr.dyn_args) {
    KITE_ASSIGN_OR_RETURN(Value v, Eval(*expr.dyn_args));
    KITE_ASSIGN_OR_RETURN(auto items, Locate(expr.dyn_args->loc, Iterate(v)));
    args->positional.insert(args->positional.end(), items->begin(), items->end());
  }
  if (expr.dyn_kwargs) {
    KITE_ASSIGN_OR_RETURN(Value v, Eval(*expr.dyn_kwargs));
    if (!v.is_dict()) return Locate(expr.dyn_kwargs->loc, InvalidArgument("argument after ** must be a mapping"));
    for (const auto& item : v.dict().items()) {
      if (!item.first.is_string()) return Locate(expr.dyn_kwargs->loc, InvalidArgument("keywords must be strings"));
      args->keywords.emplace_back(item.first.str(), item.second);
    }
  }
  return Status::Ok();
}

Result<Value> Evaluator::EvalCall(const Expr& expr, const Value* caller) {
  KITE_ASSIGN_OR_RETURN(Value callee, Eval(*expr.children[0]));
  CallArgs args;
  KITE_RETURN_IF_ERROR(EvalArgs(expr, &args));
  if (caller != nullptr) args.keywords.emplace_back("caller", *caller);
  return Locate(expr.loc, Call(callee, args));
}

Result<Value> Evaluator::EvalFilter(const Expr& expr, const Value* block_input) {
  // Inner filters of a chain recurse here directly, so count them too.
  DepthGuard guard(&eval_depth_);
  if (guard.exceeded()) return TooDeep(expr.loc);
  Value input;
  const Expr* inner = expr.children[0].get();
  if (inner == nullptr) {
    if (block_input != nullptr) input = *block_input;
  } else if (inner->kind == ExprKind::kFilter) {
    KITE_ASSIGN_OR_RETURN(input, EvalFilter(*inner, block_input));  // a chain in a filter block
  } else {
    KITE_ASSIGN_OR_RETURN(input, Eval(*inner));
  }
  CallArgs args;
  KITE_RETURN_IF_ERROR(EvalArgs(expr, &args));
  return Locate(expr.loc, ApplyFilter(expr.name, input, args));
}

Result<Value> Evaluator::EvalCompare(const Expr& expr) {
  KITE_ASSIGN_OR_RETURN(Value left, Eval(*expr.children[0]));
  for (size_t i = 0; i < expr.compare_ops.size(); ++i) {  // Python chains: a < b < c
    KITE_ASSIGN_OR_RETURN(Value right, Eval(*expr.children[i + 1]));
    KITE_ASSIGN_OR_RETURN(bool holds, Locate(expr.loc, CompareValues(expr.compare_ops[i], left, right)));
    if (!holds) return Value::Bool(false);
    left = std::move(right);
  }
  return Value::Bool(true);
}

Result<Value> Evaluator::EvalSlice(const Value& obj, const Expr& slice) {
  // Jinja compiles slices to a plain Python subscript (not its lenient
  // getitem), so every misuse is an error.
  int64_t bounds[3] = {0, 0, 1};
  bool given[3] = {false, false, false};
  for (int i = 0; i < 3; ++i) {
    if (!slice.children[static_cast<size_t>(i)]) continue;
    KITE_ASSIGN_OR_RETURN(Value v, Eval(*slice.children[static_cast<size_t>(i)]));
    if (v.is_none()) continue;
    if (v.is_undefined()) return Locate(slice.loc, InvalidArgument(v.undefined_message()));
    if (!v.is_integral()) {
      return Locate(slice.loc, InvalidArgument("slice indices must be integers or None or have an __index__ method"));
    }
    bounds[i] = v.int_value();
    given[i] = true;
  }
  if (obj.is_undefined()) return Locate(slice.loc, InvalidArgument(obj.undefined_message()));
  if (obj.is_dict()) return Locate(slice.loc, InvalidArgument("unhashable type: 'slice'"));
  if (!(obj.is_sequence() || obj.is_string())) {
    return Locate(slice.loc, InvalidArgument(std::string("'") + TypeName(obj) + "' object is not subscriptable"));
  }
  const int64_t step = given[2] ? bounds[2] : 1;
  if (step == 0) return Locate(slice.loc, InvalidArgument("slice step cannot be zero"));
  std::vector<size_t> offsets;
  int64_t n = 0;
  if (obj.is_string()) {
    offsets = Utf8Offsets(obj.str());
    n = static_cast<int64_t>(offsets.size()) - 1;
  } else {
    n = static_cast<int64_t>(obj.list().size());
  }
  // PySlice_AdjustIndices.
  auto adjust = [&](bool has, int64_t v, int64_t fallback) {
    if (!has) return fallback;
    if (v < 0) {
      v += n;
      if (v < 0) v = step < 0 ? -1 : 0;
    } else if (v >= n) {
      v = step < 0 ? n - 1 : n;
    }
    return v;
  };
  const int64_t start = adjust(given[0], bounds[0], step < 0 ? n - 1 : 0);
  const int64_t stop = adjust(given[1], bounds[1], step < 0 ? -1 : n);
  std::vector<int64_t> picks;
  for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
    picks.push_back(i);
    if (__builtin_add_overflow(i, step, &i)) break;  // a huge step leaves the range
  }
  if (obj.is_string()) {
    std::string out;
    for (int64_t i : picks) {
      const size_t at = offsets[static_cast<size_t>(i)];
      out.append(obj.str(), at, offsets[static_cast<size_t>(i) + 1] - at);
    }
    return Value::String(std::move(out));
  }
  ValueList out;
  for (int64_t i : picks) out.push_back(obj.list()[static_cast<size_t>(i)]);
  return Locate(slice.loc, obj.is_list() ? Value::List(std::move(out)) : Value::Tuple(std::move(out)));
}

}  // namespace jinja
}  // namespace kite
