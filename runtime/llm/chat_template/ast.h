// The parsed form of a chat template: a tree of statements and expressions,
// shaped after Jinja2's nodes. One fat node type per family keeps the parser
// and the evaluator short; each kind documents the fields it uses.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kite {
namespace jinja {

struct Location {
  int line = 0;
  int column = 0;
};

enum class ExprKind {
  kConst,      // literal: const_kind + string_value / int_value / float_value
  kName,       // name
  kNsRef,      // `ns.attr` as an assignment target: name, attr
  kList,       // children = items
  kTuple,      // children = items
  kDict,       // children = key0, value0, key1, value1, ...
  kGetAttr,    // children[0] . attr
  kGetItem,    // children[0] [ children[1] ]
  kSlice,      // children = start, stop, step (null when omitted)
  kCall,       // children[0] = callee, args, kwargs, dyn_args, dyn_kwargs
  kFilter,     // children[0] = input (null inside filter blocks), name, args, kwargs
  kTest,       // children[0] = input, name, args, kwargs
  kNot,        // children[0]
  kNeg,        // children[0]
  kPos,        // children[0]
  kBinary,     // children[0] op children[1]; op in binary_op
  kConcat,     // children joined by `~`
  kCompare,    // children[0] compare_ops[i] children[i + 1] ...
  kAnd,        // children[0] and children[1]
  kOr,         // children[0] or children[1]
  kCondExpr,   // children = then, test, else (null when omitted)
};

enum class ConstKind { kNone, kBool, kInt, kFloat, kString };
enum class BinaryOp { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind = ExprKind::kConst;
  Location loc;
  ConstKind const_kind = ConstKind::kNone;
  std::string string_value;  // kConst string
  int64_t int_value = 0;     // kConst int/bool
  double float_value = 0;    // kConst float
  std::string name;          // kName, kNsRef, kFilter, kTest
  std::string attr;          // kGetAttr, kNsRef
  BinaryOp binary_op = BinaryOp::kAdd;
  std::vector<CompareOp> compare_ops;
  std::vector<ExprPtr> children;
  // Call, filter and test arguments.
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr dyn_args;    // *args
  ExprPtr dyn_kwargs;  // **kwargs
  // Height of this subtree; the parser bounds it so that evaluating and
  // destroying the tree cannot overflow the stack.
  int depth = 1;
};

enum class StmtKind {
  kText,         // text
  kOutput,       // {{ expr }}
  kIf,           // if branches[0].first: branches[0].second elif ... else else_body
  kFor,          // for target in expr [if condition]: body else else_body
  kSet,          // set target = expr
  kSetBlock,     // set target [| filter] %} body {% endset
  kMacro,        // macro name(params = defaults): body
  kCallBlock,    // call(params) expr: body, the body being the `caller`
  kFilterBlock,  // filter filter: body
  kWith,         // with targets[i] = values[i]: body
  kScope,        // a block that only scopes its body: generation, block, autoescape
  kBreak,
  kContinue,
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using StmtList = std::vector<StmtPtr>;

struct Stmt {
  StmtKind kind = StmtKind::kText;
  Location loc;
  std::string text;  // kText data; kMacro name
  ExprPtr expr;      // output value, if test, for iterable, set value, call block call
  ExprPtr target;    // set / for target
  ExprPtr condition; // for loop `if`
  ExprPtr filter;    // set block and filter block filter chain (innermost input null)
  StmtList body;
  StmtList else_body;
  // If and elif branches, flat so that a long elif chain does not nest.
  std::vector<std::pair<ExprPtr, StmtList>> branches;
  // Macro and call block signature: defaults align with the last params.
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;
  // Whether the body names varargs / kwargs / caller: like Jinja, a macro
  // accepts extra positional or keyword arguments or a caller only then.
  bool catch_varargs = false;
  bool catch_kwargs = false;
  bool uses_caller = false;
  // With statement.
  std::vector<ExprPtr> targets;
  std::vector<ExprPtr> values;
};

struct TemplateAst {
  StmtList body;
};

}  // namespace jinja
}  // namespace kite
