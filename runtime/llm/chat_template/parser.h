// Recursive-descent parser from tokens to the template tree, following
// Jinja2's parser.py rule by rule (precedence, tuples, filters and tests,
// statement syntax) so that templates parse the way transformers parses them.
// Nesting is bounded so a hostile template cannot exhaust the stack.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/llm/chat_template/ast.h"
#include "runtime/llm/chat_template/lexer.h"

namespace kite {
namespace jinja {

// Parses a whole template. Errors read "line L, column C: what".
Result<TemplateAst> ParseTemplate(std::string_view source);

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}
  Result<TemplateAst> Parse();

 private:
  using Names = std::initializer_list<const char*>;
  friend class NestingGuard;

  // ---- statements (parser.cc)
  // Parses until a block tag whose name is in `end_tags` (left current) or
  // the end of the template.
  Status SubParse(StmtList* body, Names end_tags);
  // `[:] %} body {% end_tag`: the end tag is consumed when drop_end is set.
  Status ParseBody(StmtList* body, Names end_tags, const Location& opened_at, bool drop_end);
  Result<StmtPtr> ParseStatement();
  Result<StmtPtr> ParseFor();
  Result<StmtPtr> ParseIf();
  Result<StmtPtr> ParseSet();
  Result<StmtPtr> ParseMacro();
  Result<StmtPtr> ParseCallBlock();
  Result<StmtPtr> ParseFilterBlock();
  Result<StmtPtr> ParseWith();
  Result<StmtPtr> ParseScopeBlock(const char* end_tag);
  Status ParseSignature(Stmt* node);
  // Sets catch_varargs / catch_kwargs / uses_caller from the macro body.
  static void FindSpecialNames(Stmt* macro);

  // ---- expressions (parser_expr.cc)
  Result<ExprPtr> ParseTuple(bool simplified, bool with_condexpr, Names extra_end, bool explicit_parens,
                             bool with_namespace);
  Result<ExprPtr> ParseExpression(bool with_condexpr = true);
  Result<ExprPtr> ParseAssignTarget(bool with_tuple, bool name_only, Names extra_end, bool with_namespace);
  Result<ExprPtr> ParseCondExpr();
  Result<ExprPtr> ParseOr();
  Result<ExprPtr> ParseAnd();
  Result<ExprPtr> ParseNot();
  Result<ExprPtr> ParseCompare();
  Result<ExprPtr> ParseMath1();
  Result<ExprPtr> ParseConcat();
  Result<ExprPtr> ParseMath2();
  Result<ExprPtr> ParsePow();
  Result<ExprPtr> ParseUnary(bool with_filter);
  Result<ExprPtr> ParsePrimary(bool with_namespace);
  Result<ExprPtr> ParseList();
  Result<ExprPtr> ParseDict();
  Result<ExprPtr> ParsePostfix(ExprPtr node);
  Result<ExprPtr> ParseFilterExpr(ExprPtr node);
  Result<ExprPtr> ParseSubscript(ExprPtr node);
  Result<ExprPtr> ParseSubscribed();
  Status ParseCallArgs(Expr* node);
  Result<ExprPtr> ParseCall(ExprPtr node);
  // Parses `| name(args) | ...`; node may be null (filter and set blocks).
  Result<ExprPtr> ParseFilter(ExprPtr node, bool start_inline);
  Result<ExprPtr> ParseTest(ExprPtr node);
  bool IsTupleEnd(Names extra_end) const;
  Status TooDeep() const;

  // ---- token stream
  const Token& Current() const { return tokens_[pos_]; }
  const Token& Look() const { return tokens_[pos_ + 1 < tokens_.size() ? pos_ + 1 : pos_]; }
  void Advance() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  bool IsName(const char* name) const;
  bool IsNameIn(Names names) const;
  bool IsOp(const char* op) const;
  bool SkipName(const char* name);
  bool SkipOp(const char* op);
  Status ExpectOp(const char* op);
  Status ExpectName(const char* name);
  Result<std::string> ExpectAnyName();
  Status ExpectType(TokenType type);
  Status Fail(const Location& loc, const std::string& message) const;
  Status Unexpected(const std::string& expected) const;
  static std::string Describe(const Token& token);
  // Sets node->depth from its children; fails past the tree-height limit.
  Status Finish(Expr* node) const;
  ExprPtr NewExpr(ExprKind kind, const Location& loc) const;

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;     // recursion depth of the parse
  int loop_depth_ = 0;  // for loops around the current statement (break/continue)
  std::vector<std::vector<std::string>> end_tag_stack_;  // for error messages
};

// Limits that keep parsing, evaluating and freeing the tree within a small
// stack: real templates nest about 10 levels (blocks plus brackets); each
// level costs ~3.5 KB of parser stack in a release build.
constexpr int kMaxParseNesting = 48;
constexpr int kMaxExprHeight = 256;

// Counts one level of parser recursion for as long as it lives.
class NestingGuard {
 public:
  explicit NestingGuard(Parser* parser) : parser_(parser) { ++parser_->nesting_; }
  ~NestingGuard() { --parser_->nesting_; }
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;
  bool exceeded() const { return parser_->nesting_ > kMaxParseNesting; }

 private:
  Parser* parser_;
};

}  // namespace jinja
}  // namespace kite
