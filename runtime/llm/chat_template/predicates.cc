// Jinja2's built-in tests (`x is defined`, `x is string`, ...) with the
// answers Python gives, including for Undefined (iterable, a sequence and
// callable, since Jinja's Undefined defines __iter__, __len__, __getitem__
// and __call__).
#include <unordered_map>

#include "runtime/llm/chat_template/evaluator.h"
#include "runtime/llm/chat_template/operators.h"
#include "runtime/llm/chat_template/unicode.h"

namespace kite {
namespace jinja {
namespace {

Result<Value> OneArg(const char* test, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind(test, args, {"other"}, 1));
  return a.get(0);
}

Result<bool> TestDefined(Evaluator&, const Value& v, const CallArgs&) { return !v.is_undefined(); }
Result<bool> TestUndefined(Evaluator&, const Value& v, const CallArgs&) { return v.is_undefined(); }
Result<bool> TestNone(Evaluator&, const Value& v, const CallArgs&) { return v.is_none(); }
Result<bool> TestBoolean(Evaluator&, const Value& v, const CallArgs&) { return v.is_bool(); }
Result<bool> TestTrue(Evaluator&, const Value& v, const CallArgs&) { return v.is_bool() && v.bool_value(); }
Result<bool> TestFalse(Evaluator&, const Value& v, const CallArgs&) { return v.is_bool() && !v.bool_value(); }
Result<bool> TestInteger(Evaluator&, const Value& v, const CallArgs&) { return v.is_int(); }
Result<bool> TestFloat(Evaluator&, const Value& v, const CallArgs&) { return v.is_float(); }
Result<bool> TestNumber(Evaluator&, const Value& v, const CallArgs&) { return v.is_number(); }
Result<bool> TestString(Evaluator&, const Value& v, const CallArgs&) { return v.is_string(); }
Result<bool> TestMapping(Evaluator&, const Value& v, const CallArgs&) { return v.is_dict(); }
Result<bool> TestEscaped(Evaluator&, const Value&, const CallArgs&) { return false; }

Result<bool> TestIterable(Evaluator&, const Value& v, const CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict() || v.kind() == Kind::kLoop;
}

Result<bool> TestSequence(Evaluator&, const Value& v, const CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
}

Result<bool> TestCallable(Evaluator&, const Value& v, const CallArgs&) { return v.is_callable() || v.is_undefined(); }

// Python's str(value).islower() / isupper(): at least one cased character,
// none of the other case.
Result<bool> CaseTest(const Value& v, bool upper) {
  std::string text;
  KITE_RETURN_IF_ERROR(AppendStr(v, &text, 1u << 20));
  bool cased = false;
  for (uint32_t cp : Utf8CodePoints(text)) {
    if (upper ? IsLowerCp(cp) : IsUpperCp(cp)) return false;
    cased = cased || (upper ? IsUpperCp(cp) : IsLowerCp(cp));
  }
  return cased;
}

Result<bool> TestLower(Evaluator&, const Value& v, const CallArgs&) { return CaseTest(v, false); }
Result<bool> TestUpper(Evaluator&, const Value& v, const CallArgs&) { return CaseTest(v, true); }

Result<bool> Remainder(Evaluator& ev, const Value& v, const Value& divisor, int64_t expected) {
  if (v.is_undefined()) return InvalidArgument(v.undefined_message());
  if (!v.is_number() || !divisor.is_number()) {
    return InvalidArgument(std::string("unsupported operand type(s) for %: '") + TypeName(v) + "' and '" +
                           TypeName(divisor) + "'");
  }
  KITE_ASSIGN_OR_RETURN(Value r, BinaryOperation(ev, BinaryOp::kMod, v, divisor));
  return Equals(r, Value::Int(expected));
}

Result<bool> TestOdd(Evaluator& ev, const Value& v, const CallArgs&) { return Remainder(ev, v, Value::Int(2), 1); }
Result<bool> TestEven(Evaluator& ev, const Value& v, const CallArgs&) { return Remainder(ev, v, Value::Int(2), 0); }

Result<bool> TestDivisibleBy(Evaluator& ev, const Value& v, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(Value num, OneArg("divisibleby", args));
  return Remainder(ev, v, num, 0);
}

Result<bool> TestSameAs(Evaluator&, const Value& v, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(Value other, OneArg("sameas", args));
  if (v.kind() != other.kind()) return false;
  switch (v.kind()) {
    case Kind::kNone:
    case Kind::kBool:
    case Kind::kInt:
    case Kind::kFloat:
    case Kind::kString: return Equals(v, other);  // Python interns equal string literals
    case Kind::kUndefined: return false;
    default: return v.identity() == other.identity();
  }
}

template <CompareOp op>
Result<bool> TestCompare(Evaluator&, const Value& v, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(Value other, OneArg("comparison", args));
  return CompareValues(op, v, other);
}

Result<bool> TestIn(Evaluator&, const Value& v, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(Value seq, OneArg("in", args));
  return Contains(seq, v);
}

Result<bool> TestFilter(Evaluator&, const Value& v, const CallArgs&) {
  return v.is_string() && FindFilter(v.str()) != nullptr;
}

Result<bool> TestTest(Evaluator&, const Value& v, const CallArgs&) {
  return v.is_string() && FindTest(v.str()) != nullptr;
}

}  // namespace

TestFunction FindTest(const std::string& name) {
  static const std::unordered_map<std::string, TestFunction> kTests = {
      {"defined", TestDefined},
      {"undefined", TestUndefined},
      {"none", TestNone},
      {"boolean", TestBoolean},
      {"true", TestTrue},
      {"false", TestFalse},
      {"integer", TestInteger},
      {"float", TestFloat},
      {"number", TestNumber},
      {"string", TestString},
      {"mapping", TestMapping},
      {"iterable", TestIterable},
      {"sequence", TestSequence},
      {"callable", TestCallable},
      {"escaped", TestEscaped},
      {"lower", TestLower},
      {"upper", TestUpper},
      {"odd", TestOdd},
      {"even", TestEven},
      {"divisibleby", TestDivisibleBy},
      {"sameas", TestSameAs},
      {"in", TestIn},
      {"filter", TestFilter},
      {"test", TestTest},
      {"eq", TestCompare<CompareOp::kEq>},
      {"equalto", TestCompare<CompareOp::kEq>},
      {"==", TestCompare<CompareOp::kEq>},
      {"ne", TestCompare<CompareOp::kNe>},
      {"!=", TestCompare<CompareOp::kNe>},
      {"lt", TestCompare<CompareOp::kLt>},
      {"lessthan", TestCompare<CompareOp::kLt>},
      {"<", TestCompare<CompareOp::kLt>},
      {"le", TestCompare<CompareOp::kLe>},
      {"<=", TestCompare<CompareOp::kLe>},
      {"gt", TestCompare<CompareOp::kGt>},
      {"greaterthan", TestCompare<CompareOp::kGt>},
      {">", TestCompare<CompareOp::kGt>},
      {"ge", TestCompare<CompareOp::kGe>},
      {">=", TestCompare<CompareOp::kGe>},
  };
  auto it = kTests.find(name);
  return it == kTests.end() ? nullptr : it->second;
}

}  // namespace jinja
}  // namespace kite
