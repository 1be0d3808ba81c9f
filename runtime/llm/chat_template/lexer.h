// Splits a template into tokens exactly as Jinja2's lexer does with
// trim_blocks=True and lstrip_blocks=True (what transformers uses): text,
// {{ }} / {% %} delimiters with their `-` / `+` whitespace control, comments
// and {% raw %} removed, and the expression tokens inside the delimiters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/llm/chat_template/ast.h"

namespace kite {
namespace jinja {

enum class TokenType {
  kText,
  kVariableBegin,
  kVariableEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,  // value holds the operator text: "+", "//", "==", "(", ...
  kEof,
};

struct Token {
  TokenType type = TokenType::kEof;
  std::string value;  // text, name, unescaped string or operator
  int64_t int_value = 0;
  double float_value = 0;
  Location loc;
};

// Formats "line L, column C: message", the shape of every located error.
std::string LocatedMessage(const Location& loc, const std::string& message);

// The token list always ends with kEof. Errors carry the line and column.
Result<std::vector<Token>> Tokenize(std::string_view source);

}  // namespace jinja
}  // namespace kite
