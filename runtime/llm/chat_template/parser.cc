// Statement parsing and the token-stream helpers; expressions are in
// parser_expr.cc.
#include "runtime/llm/chat_template/parser.h"

#include <cstring>

namespace kite {
namespace jinja {

Result<TemplateAst> ParseTemplate(std::string_view source) {
  KITE_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source));
  Parser parser(std::move(tokens));
  return parser.Parse();
}

Result<TemplateAst> Parser::Parse() {
  TemplateAst ast;
  KITE_RETURN_IF_ERROR(SubParse(&ast.body, {}));
  return ast;
}

// ---------------------------------------------------------------- token helpers

bool Parser::IsName(const char* name) const {
  return Current().type == TokenType::kName && Current().value == name;
}

bool Parser::IsNameIn(Names names) const {
  for (const char* name : names) {
    if (IsName(name)) return true;
  }
  return false;
}

bool Parser::IsOp(const char* op) const {
  return Current().type == TokenType::kOperator && Current().value == op;
}

bool Parser::SkipName(const char* name) {
  if (!IsName(name)) return false;
  Advance();
  return true;
}

bool Parser::SkipOp(const char* op) {
  if (!IsOp(op)) return false;
  Advance();
  return true;
}

Status Parser::ExpectOp(const char* op) {
  if (!SkipOp(op)) return Unexpected(std::string("'") + op + "'");
  return Status::Ok();
}

Status Parser::ExpectName(const char* name) {
  if (!SkipName(name)) return Unexpected(std::string("'") + name + "'");
  return Status::Ok();
}

Result<std::string> Parser::ExpectAnyName() {
  if (Current().type != TokenType::kName) return Unexpected("a name");
  std::string name = Current().value;
  Advance();
  return name;
}

Status Parser::ExpectType(TokenType type) {
  if (Current().type == type) {
    Advance();
    return Status::Ok();
  }
  Token wanted;
  wanted.type = type;
  return Unexpected(Describe(wanted));
}

std::string Parser::Describe(const Token& token) {
  switch (token.type) {
    case TokenType::kText: return "template data";
    case TokenType::kVariableBegin: return "begin of print statement";
    case TokenType::kVariableEnd: return "end of print statement";
    case TokenType::kBlockBegin: return "begin of statement block";
    case TokenType::kBlockEnd: return "end of statement block";
    case TokenType::kString: return "string";
    case TokenType::kInteger: return "integer";
    case TokenType::kFloat: return "float";
    case TokenType::kEof: return "end of template";
    case TokenType::kName:
    case TokenType::kOperator: return "'" + token.value + "'";
  }
  return "token";
}

Status Parser::Fail(const Location& loc, const std::string& message) const {
  return InvalidArgument(LocatedMessage(loc, message));
}

Status Parser::Unexpected(const std::string& expected) const {
  return Fail(Current().loc, "expected " + expected + ", got " + Describe(Current()));
}

// ---------------------------------------------------------------- statements

Status Parser::SubParse(StmtList* body, Names end_tags) {
  end_tag_stack_.emplace_back();
  for (const char* tag : end_tags) end_tag_stack_.back().push_back(tag);
  struct PopOnExit {
    std::vector<std::vector<std::string>>* stack;
    ~PopOnExit() { stack->pop_back(); }
  } pop{&end_tag_stack_};

  while (Current().type != TokenType::kEof) {
    const Token& token = Current();
    if (token.type == TokenType::kText) {
      auto text = std::make_unique<Stmt>();
      text->kind = StmtKind::kText;
      text->loc = token.loc;
      text->text = token.value;
      body->push_back(std::move(text));
      Advance();
    } else if (token.type == TokenType::kVariableBegin) {
      Advance();
      auto output = std::make_unique<Stmt>();
      output->kind = StmtKind::kOutput;
      output->loc = Current().loc;
      KITE_ASSIGN_OR_RETURN(output->expr, ParseTuple(false, true, {}, false, false));
      KITE_RETURN_IF_ERROR(ExpectType(TokenType::kVariableEnd));
      body->push_back(std::move(output));
    } else if (token.type == TokenType::kBlockBegin) {
      Advance();
      if (Current().type == TokenType::kName && IsNameIn(end_tags)) return Status::Ok();
      KITE_ASSIGN_OR_RETURN(StmtPtr stmt, ParseStatement());
      body->push_back(std::move(stmt));
      KITE_RETURN_IF_ERROR(ExpectType(TokenType::kBlockEnd));
    } else {
      return Fail(token.loc, "unexpected " + Describe(token));
    }
  }
  return Status::Ok();
}

Status Parser::ParseBody(StmtList* body, Names end_tags, const Location& opened_at, bool drop_end) {
  SkipOp(":");  // Jinja accepts a Python-style colon
  KITE_RETURN_IF_ERROR(ExpectType(TokenType::kBlockEnd));
  KITE_RETURN_IF_ERROR(SubParse(body, end_tags));
  if (Current().type == TokenType::kEof) {
    std::string wanted;
    for (const char* tag : end_tags) wanted += (wanted.empty() ? "'" : "' or '") + std::string(tag);
    return Fail(Current().loc, "unexpected end of template, expected " + wanted +
                                   "' to close the block opened at line " + std::to_string(opened_at.line) +
                                   ", column " + std::to_string(opened_at.column));
  }
  if (drop_end) Advance();
  return Status::Ok();
}

Result<StmtPtr> Parser::ParseStatement() {
  NestingGuard guard(this);
  if (guard.exceeded()) {
    return Fail(Current().loc, "blocks nested more than " + std::to_string(kMaxParseNesting) + " levels deep");
  }
  const Token& token = Current();
  if (token.type != TokenType::kName) return Fail(token.loc, "tag name expected, got " + Describe(token));
  const std::string& tag = token.value;
  if (tag == "for") return ParseFor();
  if (tag == "if") return ParseIf();
  if (tag == "set") return ParseSet();
  if (tag == "macro") return ParseMacro();
  if (tag == "call") return ParseCallBlock();
  if (tag == "filter") return ParseFilterBlock();
  if (tag == "with") return ParseWith();
  if (tag == "generation") return ParseScopeBlock("endgeneration");  // transformers' AssistantTracker
  if (tag == "autoescape") return ParseScopeBlock("endautoescape");
  if (tag == "block") return ParseScopeBlock("endblock");
  if (tag == "break" || tag == "continue") {
    if (loop_depth_ == 0) return Fail(token.loc, "'" + tag + "' outside of a for loop");
    auto node = std::make_unique<Stmt>();
    node->kind = tag == "break" ? StmtKind::kBreak : StmtKind::kContinue;
    node->loc = token.loc;
    Advance();
    return node;
  }
  if (tag == "print") {
    auto node = std::make_unique<Stmt>();
    node->kind = StmtKind::kScope;
    node->loc = token.loc;
    Advance();
    while (Current().type != TokenType::kBlockEnd) {
      if (!node->body.empty()) KITE_RETURN_IF_ERROR(ExpectOp(","));
      auto output = std::make_unique<Stmt>();
      output->kind = StmtKind::kOutput;
      output->loc = Current().loc;
      KITE_ASSIGN_OR_RETURN(output->expr, ParseExpression());
      node->body.push_back(std::move(output));
    }
    return node;
  }
  const bool closing = tag.compare(0, 3, "end") == 0 || tag == "elif" || tag == "else";
  std::string message = (closing ? "unexpected '" : "unknown tag '") + tag + "'";
  if (tag == "include" || tag == "extends" || tag == "import" || tag == "from") {
    message = "'" + tag + "' is not supported: a chat template cannot load other templates";
  }
  for (auto it = end_tag_stack_.rbegin(); it != end_tag_stack_.rend(); ++it) {
    if (it->empty()) continue;
    message += "; expected ";
    for (size_t i = 0; i < it->size(); ++i) message += (i ? " or '" : "'") + (*it)[i] + "'";
    break;
  }
  return Fail(token.loc, message);
}

Result<StmtPtr> Parser::ParseFor() {
  auto node = std::make_unique<Stmt>();
  node->kind = StmtKind::kFor;
  node->loc = Current().loc;
  Advance();
  KITE_ASSIGN_OR_RETURN(node->target, ParseAssignTarget(true, false, {"in"}, false));
  KITE_RETURN_IF_ERROR(ExpectName("in"));
  KITE_ASSIGN_OR_RETURN(node->expr, ParseTuple(false, false, {"recursive"}, false, false));
  if (SkipName("if")) {
    KITE_ASSIGN_OR_RETURN(node->condition, ParseExpression());
  }
  if (IsName("recursive")) return Fail(Current().loc, "recursive for loops are not supported");
  ++loop_depth_;
  Status status = ParseBody(&node->body, {"endfor", "else"}, node->loc, false);
  --loop_depth_;
  KITE_RETURN_IF_ERROR(status);
  const bool has_else = IsName("else");
  Advance();
  if (has_else) KITE_RETURN_IF_ERROR(ParseBody(&node->else_body, {"endfor"}, node->loc, true));
  return node;
}

Result<StmtPtr> Parser::ParseIf() {
  auto node = std::make_unique<Stmt>();
  node->kind = StmtKind::kIf;
  node->loc = Current().loc;
  Advance();
  while (true) {
    KITE_ASSIGN_OR_RETURN(ExprPtr test, ParseTuple(false, false, {}, false, false));
    StmtList body;
    KITE_RETURN_IF_ERROR(ParseBody(&body, {"elif", "else", "endif"}, node->loc, false));
    node->branches.emplace_back(std::move(test), std::move(body));
    const std::string tag = Current().value;
    Advance();
    if (tag == "elif") continue;
    if (tag == "else") KITE_RETURN_IF_ERROR(ParseBody(&node->else_body, {"endif"}, node->loc, true));
    break;
  }
  return node;
}

Result<StmtPtr> Parser::ParseSet() {
  auto node = std::make_unique<Stmt>();
  node->loc = Current().loc;
  Advance();
  KITE_ASSIGN_OR_RETURN(node->target, ParseAssignTarget(true, false, {}, true));
  if (SkipOp("=")) {
    node->kind = StmtKind::kSet;
    KITE_ASSIGN_OR_RETURN(node->expr, ParseTuple(false, true, {}, false, false));
    return node;
  }
  node->kind = StmtKind::kSetBlock;
  KITE_ASSIGN_OR_RETURN(node->filter, ParseFilter(nullptr, false));
  KITE_RETURN_IF_ERROR(ParseBody(&node->body, {"endset"}, node->loc, true));
  return node;
}

Status Parser::ParseSignature(Stmt* node) {
  KITE_RETURN_IF_ERROR(ExpectOp("("));
  while (!IsOp(")")) {
    if (!node->params.empty()) KITE_RETURN_IF_ERROR(ExpectOp(","));
    KITE_ASSIGN_OR_RETURN(ExprPtr param, ParseAssignTarget(false, true, {}, false));
    if (SkipOp("=")) {
      KITE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      node->defaults.push_back(std::move(value));
    } else if (!node->defaults.empty()) {
      return Fail(param->loc, "non-default argument follows default argument");
    }
    node->params.push_back(param->name);
  }
  return ExpectOp(")");
}

namespace {

// Whether `name` is read anywhere in the subtree (nested macros included).
bool References(const Expr* expr, const std::string& name) {
  if (expr == nullptr) return false;
  if (expr->kind == ExprKind::kName && expr->name == name) return true;
  for (const ExprPtr& child : expr->children) {
    if (References(child.get(), name)) return true;
  }
  for (const ExprPtr& arg : expr->args) {
    if (References(arg.get(), name)) return true;
  }
  for (const auto& kw : expr->kwargs) {
    if (References(kw.second.get(), name)) return true;
  }
  return References(expr->dyn_args.get(), name) || References(expr->dyn_kwargs.get(), name);
}

bool References(const StmtList& body, const std::string& name) {
  for (const StmtPtr& stmt : body) {
    for (const Expr* e : {stmt->expr.get(), stmt->condition.get(), stmt->filter.get()}) {
      if (References(e, name)) return true;
    }
    for (const auto& list : {&stmt->defaults, &stmt->values}) {
      for (const ExprPtr& e : *list) {
        if (References(e.get(), name)) return true;
      }
    }
    for (const auto& branch : stmt->branches) {
      if (References(branch.first.get(), name) || References(branch.second, name)) return true;
    }
    if (References(stmt->body, name) || References(stmt->else_body, name)) return true;
  }
  return false;
}

}  // namespace

void Parser::FindSpecialNames(Stmt* macro) {
  macro->catch_varargs = References(macro->body, "varargs");
  macro->catch_kwargs = References(macro->body, "kwargs");
  macro->uses_caller = References(macro->body, "caller");
}

Result<StmtPtr> Parser::ParseMacro() {
  auto node = std::make_unique<Stmt>();
  node->kind = StmtKind::kMacro;
  node->loc = Current().loc;
  Advance();
  KITE_ASSIGN_OR_RETURN(ExprPtr name, ParseAssignTarget(false, true, {}, false));
  node->text = name->name;
  KITE_RETURN_IF_ERROR(ParseSignature(node.get()));
  const int saved_loop_depth = loop_depth_;  // a macro body is its own function
  loop_depth_ = 0;
  Status status = ParseBody(&node->body, {"endmacro"}, node->loc, true);
  loop_depth_ = saved_loop_depth;
  KITE_RETURN_IF_ERROR(status);
  FindSpecialNames(node.get());
  return node;
}

Result<StmtPtr> Parser::ParseCallBlock() {
  auto node = std::make_unique<Stmt>();
  node->kind = StmtKind::kCallBlock;
  node->loc = Current().loc;
  node->text = "caller";
  Advance();
  if (IsOp("(")) KITE_RETURN_IF_ERROR(ParseSignature(node.get()));
  const Location call_loc = Current().loc;
  KITE_ASSIGN_OR_RETURN(node->expr, ParseExpression());
  if (node->expr->kind != ExprKind::kCall) return Fail(call_loc, "expected a call after 'call'");
  const int saved_loop_depth = loop_depth_;
  loop_depth_ = 0;
  Status status = ParseBody(&node->body, {"endcall"}, node->loc, true);
  loop_depth_ = saved_loop_depth;
  KITE_RETURN_IF_ERROR(status);
  FindSpecialNames(node.get());
  return node;
}

Result<StmtPtr> Parser::ParseFilterBlock() {
  auto node = std::make_unique<Stmt>();
  node->kind = StmtKind::kFilterBlock;
  node->loc = Current().loc;
  Advance();
  KITE_ASSIGN_OR_RETURN(node->filter, ParseFilter(nullptr, true));
  KITE_RETURN_IF_ERROR(ParseBody(&node->body, {"endfilter"}, node->loc, true));
  return node;
}

Result<StmtPtr> Parser::ParseWith() {
  auto node = std::make_unique<Stmt>();
  node->kind = StmtKind::kWith;
  node->loc = Current().loc;
  Advance();
  while (Current().type != TokenType::kBlockEnd) {
    if (!node->targets.empty()) KITE_RETURN_IF_ERROR(ExpectOp(","));
    KITE_ASSIGN_OR_RETURN(ExprPtr target, ParseAssignTarget(true, false, {}, false));
    KITE_RETURN_IF_ERROR(ExpectOp("="));
    KITE_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
    node->targets.push_back(std::move(target));
    node->values.push_back(std::move(value));
  }
  KITE_RETURN_IF_ERROR(ParseBody(&node->body, {"endwith"}, node->loc, true));
  return node;
}

Result<StmtPtr> Parser::ParseScopeBlock(const char* end_tag) {
  auto node = std::make_unique<Stmt>();
  node->kind = StmtKind::kScope;
  node->loc = Current().loc;
  const bool is_block = IsName("block");
  const bool is_autoescape = IsName("autoescape");
  Advance();
  std::string block_name;
  if (is_block) {
    KITE_ASSIGN_OR_RETURN(block_name, ExpectAnyName());
    SkipName("scoped");
    SkipName("required");
  } else if (is_autoescape) {
    KITE_ASSIGN_OR_RETURN(ExprPtr ignored, ParseExpression());  // output is never escaped here
  }
  KITE_RETURN_IF_ERROR(ParseBody(&node->body, {end_tag}, node->loc, true));
  if (is_block) SkipName(block_name.c_str());
  return node;
}

}  // namespace jinja
}  // namespace kite
