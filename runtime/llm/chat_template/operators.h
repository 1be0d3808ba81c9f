// Python's operator semantics for template expressions: arithmetic with
// int/float promotion and floor division, string and list concatenation and
// repetition, comparisons, `in`, and printf-style `str % args`. 64-bit ints
// stand in for Python's unbounded ints; overflow is an error, not a wrap.
#pragma once

#include <string>

#include "runtime/core/status.h"
#include "runtime/llm/chat_template/ast.h"
#include "runtime/llm/chat_template/value.h"

namespace kite {
namespace jinja {

class Evaluator;

Result<Value> BinaryOperation(Evaluator& ev, BinaryOp op, const Value& a, const Value& b);
Result<Value> Negate(const Value& v);
Result<Value> UnaryPlus(const Value& v);
Result<bool> CompareValues(CompareOp op, const Value& a, const Value& b);
// `item in container`.
Result<bool> Contains(const Value& container, const Value& item);
// Python's `format % args`: args is a tuple (positional), a dict (named) or
// a single value.
Result<Value> PercentFormat(Evaluator& ev, const std::string& format, const Value& args);

}  // namespace jinja
}  // namespace kite
