// Expression parsing, rule for rule after Jinja2's parser.py: precedence from
// loosest to tightest is `x if c else y`, or, and, not, comparisons/in,
// + -, ~, * / // %, **, unary - +, then primaries with postfix . [] () and
// the filter/test chain (`|f`, `is t`) binding tighter than binary operators.
#include <algorithm>

#include "runtime/llm/chat_template/parser.h"

namespace kite {
namespace jinja {

ExprPtr Parser::NewExpr(ExprKind kind, const Location& loc) const {
  auto node = std::make_unique<Expr>();
  node->kind = kind;
  node->loc = loc;
  return node;
}

Status Parser::Finish(Expr* node) const {
  int height = 0;
  for (const ExprPtr& child : node->children) {
    if (child) height = std::max(height, child->depth);
  }
  for (const ExprPtr& arg : node->args) height = std::max(height, arg->depth);
  for (const auto& kw : node->kwargs) height = std::max(height, kw.second->depth);
  if (node->dyn_args) height = std::max(height, node->dyn_args->depth);
  if (node->dyn_kwargs) height = std::max(height, node->dyn_kwargs->depth);
  node->depth = height + 1;
  if (node->depth > kMaxExprHeight) {
    return Fail(node->loc, "expression nested more than " + std::to_string(kMaxExprHeight) + " levels deep");
  }
  return Status::Ok();
}

Status Parser::TooDeep() const {
  return Fail(Current().loc, "expression nested more than " + std::to_string(kMaxParseNesting) + " levels deep");
}

bool Parser::IsTupleEnd(Names extra_end) const {
  const TokenType type = Current().type;
  if (type == TokenType::kVariableEnd || type == TokenType::kBlockEnd || IsOp(")")) return true;
  return IsNameIn(extra_end);
}

Result<ExprPtr> Parser::ParseTuple(bool simplified, bool with_condexpr, Names extra_end, bool explicit_parens,
                                   bool with_namespace) {
  const Location loc = Current().loc;
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) KITE_RETURN_IF_ERROR(ExpectOp(","));
    if (IsTupleEnd(extra_end)) break;
    if (simplified) {
      KITE_ASSIGN_OR_RETURN(ExprPtr item, ParsePrimary(with_namespace));
      items.push_back(std::move(item));
    } else {
      KITE_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(with_condexpr));
      items.push_back(std::move(item));
    }
    if (IsOp(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parens) return Fail(Current().loc, "expected an expression, got " + Describe(Current()));
  }
  ExprPtr tuple = NewExpr(ExprKind::kTuple, loc);
  tuple->children = std::move(items);
  KITE_RETURN_IF_ERROR(Finish(tuple.get()));
  return tuple;
}

Result<ExprPtr> Parser::ParseAssignTarget(bool with_tuple, bool name_only, Names extra_end, bool with_namespace) {
  ExprPtr target;
  if (name_only) {
    const Location loc = Current().loc;
    KITE_ASSIGN_OR_RETURN(std::string name, ExpectAnyName());
    target = NewExpr(ExprKind::kName, loc);
    target->name = name;
  } else if (with_tuple) {
    KITE_ASSIGN_OR_RETURN(target, ParseTuple(true, true, extra_end, false, with_namespace));
  } else {
    KITE_ASSIGN_OR_RETURN(target, ParsePrimary(with_namespace));
  }
  // Only names, namespace attributes and tuples of them can be assigned.
  auto assignable = [](const Expr& e, auto& self) -> bool {
    if (e.kind == ExprKind::kName) {
      static const char* const kConstants[] = {"true", "false", "none", "True", "False", "None"};
      return std::none_of(std::begin(kConstants), std::end(kConstants),
                          [&](const char* c) { return e.name == c; });
    }
    if (e.kind == ExprKind::kNsRef) return true;
    if (e.kind == ExprKind::kTuple) {
      for (const ExprPtr& child : e.children) {
        if (!self(*child, self)) return false;
      }
      return true;
    }
    return false;
  };
  if (!assignable(*target, assignable)) return Fail(target->loc, "cannot assign to this expression");
  return target;
}

Result<ExprPtr> Parser::ParseExpression(bool with_condexpr) {
  NestingGuard guard(this);
  if (guard.exceeded()) return TooDeep();
  return with_condexpr ? ParseCondExpr() : ParseOr();
}

Result<ExprPtr> Parser::ParseCondExpr() {
  const Location loc = Current().loc;
  KITE_ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
  while (SkipName("if")) {
    KITE_ASSIGN_OR_RETURN(ExprPtr test, ParseOr());
    ExprPtr otherwise;
    if (SkipName("else")) {
      NestingGuard guard(this);
      if (guard.exceeded()) return TooDeep();
      KITE_ASSIGN_OR_RETURN(otherwise, ParseCondExpr());
    }
    ExprPtr cond = NewExpr(ExprKind::kCondExpr, loc);
    cond->children.push_back(std::move(expr));
    cond->children.push_back(std::move(test));
    cond->children.push_back(std::move(otherwise));
    KITE_RETURN_IF_ERROR(Finish(cond.get()));
    expr = std::move(cond);
  }
  return expr;
}

namespace {

ExprPtr Combine(ExprKind kind, const Location& loc, ExprPtr left, ExprPtr right) {
  auto node = std::make_unique<Expr>();
  node->kind = kind;
  node->loc = loc;
  node->children.push_back(std::move(left));
  node->children.push_back(std::move(right));
  return node;
}

}  // namespace

Result<ExprPtr> Parser::ParseOr() {
  KITE_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
  while (IsName("or")) {
    const Location loc = Current().loc;
    Advance();
    KITE_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
    left = Combine(ExprKind::kOr, loc, std::move(left), std::move(right));
    KITE_RETURN_IF_ERROR(Finish(left.get()));
  }
  return left;
}

Result<ExprPtr> Parser::ParseAnd() {
  KITE_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
  while (IsName("and")) {
    const Location loc = Current().loc;
    Advance();
    KITE_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
    left = Combine(ExprKind::kAnd, loc, std::move(left), std::move(right));
    KITE_RETURN_IF_ERROR(Finish(left.get()));
  }
  return left;
}

Result<ExprPtr> Parser::ParseNot() {
  if (IsName("not")) {
    const Location loc = Current().loc;
    Advance();
    NestingGuard guard(this);
    if (guard.exceeded()) return TooDeep();
    KITE_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
    ExprPtr node = NewExpr(ExprKind::kNot, loc);
    node->children.push_back(std::move(operand));
    KITE_RETURN_IF_ERROR(Finish(node.get()));
    return node;
  }
  return ParseCompare();
}

Result<ExprPtr> Parser::ParseCompare() {
  const Location loc = Current().loc;
  KITE_ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
  ExprPtr node;
  while (true) {
    CompareOp op;
    if (IsOp("==")) {
      op = CompareOp::kEq;
    } else if (IsOp("!=")) {
      op = CompareOp::kNe;
    } else if (IsOp("<")) {
      op = CompareOp::kLt;
    } else if (IsOp("<=")) {
      op = CompareOp::kLe;
    } else if (IsOp(">")) {
      op = CompareOp::kGt;
    } else if (IsOp(">=")) {
      op = CompareOp::kGe;
    } else if (IsName("in")) {
      op = CompareOp::kIn;
    } else if (IsName("not") && Look().type == TokenType::kName && Look().value == "in") {
      op = CompareOp::kNotIn;
      Advance();
    } else {
      break;
    }
    Advance();
    if (!node) {
      node = NewExpr(ExprKind::kCompare, loc);
      node->children.push_back(std::move(first));
    }
    KITE_ASSIGN_OR_RETURN(ExprPtr operand, ParseMath1());
    node->compare_ops.push_back(op);
    node->children.push_back(std::move(operand));
  }
  if (!node) return first;
  KITE_RETURN_IF_ERROR(Finish(node.get()));
  return node;
}

Result<ExprPtr> Parser::ParseMath1() {
  KITE_ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
  while (IsOp("+") || IsOp("-")) {
    const Location loc = Current().loc;
    const BinaryOp op = IsOp("+") ? BinaryOp::kAdd : BinaryOp::kSub;
    Advance();
    KITE_ASSIGN_OR_RETURN(ExprPtr right, ParseConcat());
    left = Combine(ExprKind::kBinary, loc, std::move(left), std::move(right));
    left->binary_op = op;
    KITE_RETURN_IF_ERROR(Finish(left.get()));
  }
  return left;
}

Result<ExprPtr> Parser::ParseConcat() {
  const Location loc = Current().loc;
  KITE_ASSIGN_OR_RETURN(ExprPtr first, ParseMath2());
  if (!IsOp("~")) return first;
  ExprPtr node = NewExpr(ExprKind::kConcat, loc);
  node->children.push_back(std::move(first));
  while (SkipOp("~")) {
    KITE_ASSIGN_OR_RETURN(ExprPtr operand, ParseMath2());
    node->children.push_back(std::move(operand));
  }
  KITE_RETURN_IF_ERROR(Finish(node.get()));
  return node;
}

Result<ExprPtr> Parser::ParseMath2() {
  KITE_ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    const Location loc = Current().loc;
    const BinaryOp op = IsOp("*")    ? BinaryOp::kMul
                        : IsOp("/")  ? BinaryOp::kDiv
                        : IsOp("//") ? BinaryOp::kFloorDiv
                                     : BinaryOp::kMod;
    Advance();
    KITE_ASSIGN_OR_RETURN(ExprPtr right, ParsePow());
    left = Combine(ExprKind::kBinary, loc, std::move(left), std::move(right));
    left->binary_op = op;
    KITE_RETURN_IF_ERROR(Finish(left.get()));
  }
  return left;
}

Result<ExprPtr> Parser::ParsePow() {
  KITE_ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
  while (IsOp("**")) {  // left-associative in Jinja, unlike Python
    const Location loc = Current().loc;
    Advance();
    KITE_ASSIGN_OR_RETURN(ExprPtr right, ParseUnary(true));
    left = Combine(ExprKind::kBinary, loc, std::move(left), std::move(right));
    left->binary_op = BinaryOp::kPow;
    KITE_RETURN_IF_ERROR(Finish(left.get()));
  }
  return left;
}

Result<ExprPtr> Parser::ParseUnary(bool with_filter) {
  const Location loc = Current().loc;
  ExprPtr node;
  if (IsOp("-") || IsOp("+")) {
    const ExprKind kind = IsOp("-") ? ExprKind::kNeg : ExprKind::kPos;
    Advance();
    NestingGuard guard(this);  // `- - - x` recurses without passing ParseExpression
    if (guard.exceeded()) return TooDeep();
    KITE_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
    node = NewExpr(kind, loc);
    node->children.push_back(std::move(operand));
    KITE_RETURN_IF_ERROR(Finish(node.get()));
  } else {
    KITE_ASSIGN_OR_RETURN(node, ParsePrimary(false));
  }
  KITE_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
  if (with_filter) {
    KITE_ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
  }
  return node;
}

Result<ExprPtr> Parser::ParsePrimary(bool with_namespace) {
  const Token& token = Current();
  const Location loc = token.loc;
  if (token.type == TokenType::kName) {
    const std::string value = token.value;
    Advance();
    ExprPtr node = NewExpr(ExprKind::kConst, loc);
    if (value == "true" || value == "True" || value == "false" || value == "False") {
      node->const_kind = ConstKind::kBool;
      node->int_value = (value == "true" || value == "True") ? 1 : 0;
    } else if (value == "none" || value == "None") {
      node->const_kind = ConstKind::kNone;
    } else if (with_namespace && IsOp(".")) {
      Advance();
      node->kind = ExprKind::kNsRef;
      node->name = value;
      KITE_ASSIGN_OR_RETURN(node->attr, ExpectAnyName());
    } else {
      node->kind = ExprKind::kName;
      node->name = value;
    }
    return node;
  }
  if (token.type == TokenType::kString) {
    ExprPtr node = NewExpr(ExprKind::kConst, loc);
    node->const_kind = ConstKind::kString;
    while (Current().type == TokenType::kString) {  // adjacent literals join
      node->string_value += Current().value;
      Advance();
    }
    return node;
  }
  if (token.type == TokenType::kInteger || token.type == TokenType::kFloat) {
    ExprPtr node = NewExpr(ExprKind::kConst, loc);
    node->const_kind = token.type == TokenType::kInteger ? ConstKind::kInt : ConstKind::kFloat;
    node->int_value = token.int_value;
    node->float_value = token.float_value;
    Advance();
    return node;
  }
  if (IsOp("(")) {
    Advance();
    KITE_ASSIGN_OR_RETURN(ExprPtr node, ParseTuple(false, true, {}, true, false));
    KITE_RETURN_IF_ERROR(ExpectOp(")"));
    return node;
  }
  if (IsOp("[")) return ParseList();
  if (IsOp("{")) return ParseDict();
  return Fail(loc, "unexpected " + Describe(token));
}

Result<ExprPtr> Parser::ParseList() {
  ExprPtr node = NewExpr(ExprKind::kList, Current().loc);
  KITE_RETURN_IF_ERROR(ExpectOp("["));
  while (!IsOp("]")) {
    if (!node->children.empty()) KITE_RETURN_IF_ERROR(ExpectOp(","));
    if (IsOp("]")) break;
    KITE_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
    node->children.push_back(std::move(item));
  }
  KITE_RETURN_IF_ERROR(ExpectOp("]"));
  KITE_RETURN_IF_ERROR(Finish(node.get()));
  return node;
}

Result<ExprPtr> Parser::ParseDict() {
  ExprPtr node = NewExpr(ExprKind::kDict, Current().loc);
  KITE_RETURN_IF_ERROR(ExpectOp("{"));
  while (!IsOp("}")) {
    if (!node->children.empty()) KITE_RETURN_IF_ERROR(ExpectOp(","));
    if (IsOp("}")) break;
    KITE_ASSIGN_OR_RETURN(ExprPtr key, ParseExpression());
    KITE_RETURN_IF_ERROR(ExpectOp(":"));
    KITE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
    node->children.push_back(std::move(key));
    node->children.push_back(std::move(value));
  }
  KITE_RETURN_IF_ERROR(ExpectOp("}"));
  KITE_RETURN_IF_ERROR(Finish(node.get()));
  return node;
}

Result<ExprPtr> Parser::ParsePostfix(ExprPtr node) {
  while (true) {
    if (IsOp(".") || IsOp("[")) {
      KITE_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
    } else if (IsOp("(")) {
      KITE_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
    } else {
      return node;
    }
  }
}

Result<ExprPtr> Parser::ParseFilterExpr(ExprPtr node) {
  while (true) {
    if (IsOp("|")) {
      KITE_ASSIGN_OR_RETURN(node, ParseFilter(std::move(node), false));
    } else if (IsName("is")) {
      KITE_ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
    } else if (IsOp("(")) {
      KITE_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
    } else {
      return node;
    }
  }
}

Result<ExprPtr> Parser::ParseSubscript(ExprPtr node) {
  const Location loc = Current().loc;
  if (SkipOp(".")) {
    const Token& attr = Current();
    if (attr.type == TokenType::kName) {
      ExprPtr get = NewExpr(ExprKind::kGetAttr, loc);
      get->attr = attr.value;
      get->children.push_back(std::move(node));
      Advance();
      KITE_RETURN_IF_ERROR(Finish(get.get()));
      return get;
    }
    if (attr.type != TokenType::kInteger) return Fail(attr.loc, "expected a name or number after '.'");
    ExprPtr index = NewExpr(ExprKind::kConst, attr.loc);
    index->const_kind = ConstKind::kInt;
    index->int_value = attr.int_value;
    Advance();
    ExprPtr get = NewExpr(ExprKind::kGetItem, loc);
    get->children.push_back(std::move(node));
    get->children.push_back(std::move(index));
    KITE_RETURN_IF_ERROR(Finish(get.get()));
    return get;
  }
  KITE_RETURN_IF_ERROR(ExpectOp("["));
  std::vector<ExprPtr> args;
  while (!IsOp("]")) {
    if (!args.empty()) KITE_RETURN_IF_ERROR(ExpectOp(","));
    KITE_ASSIGN_OR_RETURN(ExprPtr arg, ParseSubscribed());
    args.push_back(std::move(arg));
  }
  KITE_RETURN_IF_ERROR(ExpectOp("]"));
  if (args.empty()) return Fail(loc, "expected a subscript expression");
  ExprPtr get = NewExpr(ExprKind::kGetItem, loc);
  get->children.push_back(std::move(node));
  if (args.size() == 1) {
    get->children.push_back(std::move(args[0]));
  } else {
    ExprPtr tuple = NewExpr(ExprKind::kTuple, loc);
    tuple->children = std::move(args);
    KITE_RETURN_IF_ERROR(Finish(tuple.get()));
    get->children.push_back(std::move(tuple));
  }
  KITE_RETURN_IF_ERROR(Finish(get.get()));
  return get;
}

Result<ExprPtr> Parser::ParseSubscribed() {
  const Location loc = Current().loc;
  ExprPtr start;
  if (!IsOp(":")) {
    KITE_ASSIGN_OR_RETURN(start, ParseExpression());
    if (!IsOp(":")) return start;
  }
  Advance();  // the first ':'
  ExprPtr slice = NewExpr(ExprKind::kSlice, loc);
  ExprPtr stop;
  ExprPtr step;
  if (!IsOp(":") && !IsOp("]") && !IsOp(",")) {
    KITE_ASSIGN_OR_RETURN(stop, ParseExpression());
  }
  if (SkipOp(":")) {
    if (!IsOp("]") && !IsOp(",")) {
      KITE_ASSIGN_OR_RETURN(step, ParseExpression());
    }
  }
  slice->children.push_back(std::move(start));
  slice->children.push_back(std::move(stop));
  slice->children.push_back(std::move(step));
  KITE_RETURN_IF_ERROR(Finish(slice.get()));
  return slice;
}

Status Parser::ParseCallArgs(Expr* node) {
  const Location loc = Current().loc;
  KITE_RETURN_IF_ERROR(ExpectOp("("));
  bool require_comma = false;
  auto invalid = [&]() { return Fail(loc, "invalid syntax for function call expression"); };
  while (!IsOp(")")) {
    if (require_comma) {
      KITE_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(")")) break;  // trailing comma
    }
    if (IsOp("*")) {
      if (node->dyn_args || node->dyn_kwargs) return invalid();
      Advance();
      KITE_ASSIGN_OR_RETURN(node->dyn_args, ParseExpression());
    } else if (IsOp("**")) {
      if (node->dyn_kwargs) return invalid();
      Advance();
      KITE_ASSIGN_OR_RETURN(node->dyn_kwargs, ParseExpression());
    } else if (Current().type == TokenType::kName && Look().type == TokenType::kOperator && Look().value == "=") {
      if (node->dyn_kwargs) return invalid();
      std::string key = Current().value;
      Advance();
      Advance();
      KITE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      node->kwargs.emplace_back(std::move(key), std::move(value));
    } else {
      if (node->dyn_args || node->dyn_kwargs || !node->kwargs.empty()) return invalid();
      KITE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      node->args.push_back(std::move(value));
    }
    require_comma = true;
  }
  return ExpectOp(")");
}

Result<ExprPtr> Parser::ParseCall(ExprPtr node) {
  ExprPtr call = NewExpr(ExprKind::kCall, node->loc);  // errors point at the callee
  call->children.push_back(std::move(node));
  KITE_RETURN_IF_ERROR(ParseCallArgs(call.get()));
  KITE_RETURN_IF_ERROR(Finish(call.get()));
  return call;
}

Result<ExprPtr> Parser::ParseFilter(ExprPtr node, bool start_inline) {
  while (IsOp("|") || start_inline) {
    if (!start_inline) Advance();
    start_inline = false;
    ExprPtr filter = NewExpr(ExprKind::kFilter, Current().loc);
    KITE_ASSIGN_OR_RETURN(filter->name, ExpectAnyName());
    while (SkipOp(".")) {
      KITE_ASSIGN_OR_RETURN(std::string part, ExpectAnyName());
      filter->name += "." + part;
    }
    if (IsOp("(")) KITE_RETURN_IF_ERROR(ParseCallArgs(filter.get()));
    filter->children.push_back(std::move(node));  // may be null: the block body
    KITE_RETURN_IF_ERROR(Finish(filter.get()));
    node = std::move(filter);
  }
  return node;
}

Result<ExprPtr> Parser::ParseTest(ExprPtr node) {
  const Location loc = Current().loc;
  Advance();  // 'is'
  const bool negated = SkipName("not");
  ExprPtr test = NewExpr(ExprKind::kTest, loc);
  KITE_ASSIGN_OR_RETURN(test->name, ExpectAnyName());
  while (SkipOp(".")) {
    KITE_ASSIGN_OR_RETURN(std::string part, ExpectAnyName());
    test->name += "." + part;
  }
  const TokenType type = Current().type;
  if (IsOp("(")) {
    KITE_RETURN_IF_ERROR(ParseCallArgs(test.get()));
  } else if ((type == TokenType::kName || type == TokenType::kString || type == TokenType::kInteger ||
              type == TokenType::kFloat || IsOp("[") || IsOp("{")) &&
             !IsNameIn({"else", "or", "and"})) {
    // `x is divisibleby 3`: one argument without parentheses.
    if (IsName("is")) return Fail(Current().loc, "you cannot chain multiple tests with 'is'");
    KITE_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary(false));
    KITE_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
    test->args.push_back(std::move(arg));
  }
  test->children.push_back(std::move(node));
  KITE_RETURN_IF_ERROR(Finish(test.get()));
  if (!negated) return test;
  ExprPtr negation = NewExpr(ExprKind::kNot, loc);
  negation->children.push_back(std::move(test));
  KITE_RETURN_IF_ERROR(Finish(negation.get()));
  return negation;
}

}  // namespace jinja
}  // namespace kite
