#include "runtime/llm/chat_template/operators.h"

#include <cmath>
#include <cstdio>

#include "runtime/llm/chat_template/evaluator.h"
#include "runtime/llm/chat_template/unicode.h"

namespace kite {
namespace jinja {
namespace {

const char* OpSymbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd: return "+";
    case BinaryOp::kSub: return "-";
    case BinaryOp::kMul: return "*";
    case BinaryOp::kDiv: return "/";
    case BinaryOp::kFloorDiv: return "//";
    case BinaryOp::kMod: return "%";
    case BinaryOp::kPow: return "** or pow()";
  }
  return "?";
}

Status Unsupported(BinaryOp op, const Value& a, const Value& b) {
  return InvalidArgument(std::string("unsupported operand type(s) for ") + OpSymbol(op) + ": '" + TypeName(a) +
                         "' and '" + TypeName(b) + "'");
}

Status Overflow() { return OutOfRange("integer overflow: the result does not fit in 64 bits"); }
Status DivisionByZero() { return InvalidArgument("division by zero"); }

// Python floor division and modulo on ints (rounding toward -inf).
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t FloorMod(int64_t a, int64_t b) {
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

Result<Value> IntPow(int64_t base, int64_t exponent) {
  int64_t result = 1;
  while (exponent > 0) {
    if (exponent & 1) {
      if (__builtin_mul_overflow(result, base, &result)) return Overflow();
    }
    exponent >>= 1;
    if (exponent > 0 && __builtin_mul_overflow(base, base, &base)) return Overflow();
  }
  return Value::Int(result);
}

Result<Value> Repeat(Evaluator& ev, const Value& seq, int64_t count) {
  if (count <= 0) return seq.is_string() ? Value::String("") : (seq.is_list() ? Value::List({}) : Value::Tuple({}));
  if (seq.is_string()) {
    const size_t bytes = seq.str().size();
    if (bytes != 0 && static_cast<uint64_t>(count) > ev.max_output_bytes() / bytes) {
      return OutOfRange("string repetition exceeds the output limit of " + std::to_string(ev.max_output_bytes()) +
                        " bytes");
    }
    std::string out;
    out.reserve(bytes * static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) out += seq.str();
    return ev.MakeString(std::move(out));
  }
  const ValueList& items = seq.list();
  if (!items.empty() && static_cast<uint64_t>(count) > 1000000 / items.size()) {
    return OutOfRange("list repetition would make more than 1000000 items");
  }
  ValueList out;
  for (int64_t i = 0; i < count; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.is_list() ? Value::List(std::move(out)) : Value::Tuple(std::move(out));
}

Result<Value> FloatOperation(BinaryOp op, double x, double y) {
  switch (op) {
    case BinaryOp::kAdd: return Value::Float(x + y);
    case BinaryOp::kSub: return Value::Float(x - y);
    case BinaryOp::kMul: return Value::Float(x * y);
    case BinaryOp::kDiv:
      if (y == 0) return DivisionByZero();
      return Value::Float(x / y);
    case BinaryOp::kFloorDiv: {
      if (y == 0) return DivisionByZero();
      // CPython's float_floor_div: from fmod, so that 1 // 0.1 is 9.0 as in Python.
      const double mod = std::fmod(x, y);
      double div = (x - mod) / y;
      if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
      double floor_div = 0;
      if (div != 0) {
        floor_div = std::floor(div);
        if (div - floor_div > 0.5) floor_div += 1.0;
      } else {
        floor_div = std::copysign(0.0, x / y);
      }
      return Value::Float(floor_div);
    }
    case BinaryOp::kMod: {
      if (y == 0) return DivisionByZero();
      double r = std::fmod(x, y);
      if (r != 0 && ((r < 0) != (y < 0))) r += y;
      return Value::Float(r);
    }
    case BinaryOp::kPow:
      if (x == 0 && y < 0) return DivisionByZero();
      if (x < 0 && y != std::floor(y)) return InvalidArgument("a negative number to a fractional power has no real result");
      {
        const double r = std::pow(x, y);
        if (std::isinf(r) && !std::isinf(x) && !std::isinf(y)) return OutOfRange("Numerical result out of range");
        return Value::Float(r);
      }
  }
  return Internal("unknown operator");
}

}  // namespace

Result<Value> BinaryOperation(Evaluator& ev, BinaryOp op, const Value& a, const Value& b) {
  // Python asks both operands; Undefined fails either way, except that
  // str % Undefined formats it (as "").
  if (op == BinaryOp::kMod && a.is_string()) return PercentFormat(ev, a.str(), b);
  if (a.is_undefined()) return InvalidArgument(a.undefined_message());
  if (b.is_undefined()) return InvalidArgument(b.undefined_message());
  if (a.is_integral() && b.is_integral()) {
    const int64_t x = a.int_value(), y = b.int_value();
    int64_t r = 0;
    switch (op) {
      case BinaryOp::kAdd:
        if (__builtin_add_overflow(x, y, &r)) return Overflow();
        return Value::Int(r);
      case BinaryOp::kSub:
        if (__builtin_sub_overflow(x, y, &r)) return Overflow();
        return Value::Int(r);
      case BinaryOp::kMul:
        if (__builtin_mul_overflow(x, y, &r)) return Overflow();
        return Value::Int(r);
      case BinaryOp::kDiv:
        if (y == 0) return DivisionByZero();
        return Value::Float(static_cast<double>(x) / static_cast<double>(y));
      case BinaryOp::kFloorDiv:
        if (y == 0) return DivisionByZero();
        if (x == INT64_MIN && y == -1) return Overflow();
        return Value::Int(FloorDiv(x, y));
      case BinaryOp::kMod:
        if (y == 0) return DivisionByZero();
        if (y == -1) return Value::Int(0);
        return Value::Int(FloorMod(x, y));
      case BinaryOp::kPow:
        if (y < 0) return FloatOperation(op, static_cast<double>(x), static_cast<double>(y));
        return IntPow(x, y);
    }
  }
  if (a.is_number() && b.is_number()) return FloatOperation(op, a.float_value(), b.float_value());
  if (op == BinaryOp::kAdd) {
    if (a.is_string() && b.is_string()) {
      if (a.str().size() + b.str().size() > ev.max_output_bytes()) {
        return OutOfRange("string concatenation exceeds the output limit of " +
                          std::to_string(ev.max_output_bytes()) + " bytes");
      }
      return ev.MakeString(a.str() + b.str());
    }
    if (a.kind() == b.kind() && a.is_sequence()) {
      ValueList items = a.list();
      items.insert(items.end(), b.list().begin(), b.list().end());
      return a.is_list() ? Value::List(std::move(items)) : Value::Tuple(std::move(items));
    }
    if (a.is_string()) {
      return InvalidArgument(std::string("can only concatenate str (not \"") + TypeName(b) + "\") to str");
    }
    if (a.is_sequence()) {
      return InvalidArgument(std::string("can only concatenate ") + TypeName(a) + " (not \"" + TypeName(b) +
                             "\") to " + TypeName(a));
    }
  }
  if (op == BinaryOp::kMul) {
    if ((a.is_string() || a.is_sequence()) && b.is_integral()) return Repeat(ev, a, b.int_value());
    if (a.is_integral() && (b.is_string() || b.is_sequence())) return Repeat(ev, b, a.int_value());
  }
  return Unsupported(op, a, b);
}

Result<Value> Negate(const Value& v) {
  if (v.is_undefined()) return InvalidArgument(v.undefined_message());
  if (v.is_integral()) {
    if (v.int_value() == INT64_MIN) return Overflow();
    return Value::Int(-v.int_value());
  }
  if (v.is_float()) return Value::Float(-v.float_value());
  return InvalidArgument(std::string("bad operand type for unary -: '") + TypeName(v) + "'");
}

Result<Value> UnaryPlus(const Value& v) {
  if (v.is_undefined()) return InvalidArgument(v.undefined_message());
  if (v.is_integral()) return Value::Int(v.int_value());
  if (v.is_float()) return v;
  return InvalidArgument(std::string("bad operand type for unary +: '") + TypeName(v) + "'");
}

Result<bool> CompareValues(CompareOp op, const Value& a, const Value& b) {
  switch (op) {
    case CompareOp::kEq: return Equals(a, b);
    case CompareOp::kNe: return !Equals(a, b);
    case CompareOp::kIn: return Contains(b, a);
    case CompareOp::kNotIn: {
      KITE_ASSIGN_OR_RETURN(bool in, Contains(b, a));
      return !in;
    }
    default: break;
  }
  const char* symbol = op == CompareOp::kLt ? "<" : op == CompareOp::kLe ? "<=" : op == CompareOp::kGt ? ">" : ">=";
  const bool swap = op == CompareOp::kGt || op == CompareOp::kGe;
  const Value& x = swap ? b : a;
  const Value& y = swap ? a : b;
  Result<bool> less = Less(x, y);
  if (!less.ok()) {
    if (a.is_undefined() || b.is_undefined()) return less.status();
    return InvalidArgument(std::string("'") + symbol + "' not supported between instances of '" + TypeName(a) +
                           "' and '" + TypeName(b) + "'");
  }
  if (op == CompareOp::kLt || op == CompareOp::kGt) return less.value();
  if (less.value()) return true;
  // <= and >=: equal, or for NaN neither.
  return Equals(a, b);
}

Result<bool> Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::kUndefined: return false;  // Undefined iterates as empty
    case Kind::kString:
      if (!item.is_string()) {
        return InvalidArgument(std::string("'in <string>' requires string as left operand, not ") + TypeName(item));
      }
      return container.str().find(item.str()) != std::string::npos;
    case Kind::kList:
    case Kind::kTuple:
      for (const Value& v : container.list()) {
        if (Equals(v, item)) return true;
      }
      return false;
    case Kind::kDict:
      if (item.is_list() || item.is_dict() || item.kind() == Kind::kNamespace) {
        return InvalidArgument(std::string("unhashable type: '") + TypeName(item) + "'");
      }
      return container.dict().Find(item) != nullptr;
    default:
      return InvalidArgument(std::string("argument of type '") + TypeName(container) + "' is not iterable");
  }
}

// ---------------------------------------------------------------- str % args

namespace {

std::string PadTo(std::string s, size_t width, bool left_align, char fill = ' ') {
  const size_t length = Utf8Length(s);
  if (length >= width) return s;
  const std::string pad(width - length, fill);
  return left_align ? s + pad : pad + s;
}

}  // namespace

Result<Value> PercentFormat(Evaluator& ev, const std::string& format, const Value& args) {
  std::vector<Value> positional;
  const Dict* named = nullptr;
  if (args.is_tuple()) {
    positional = args.list();
  } else if (args.is_dict()) {
    named = &args.dict();
    positional.push_back(args);
  } else {
    positional.push_back(args);
  }
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out.push_back(format[i]);
      continue;
    }
    if (++i >= format.size()) return InvalidArgument("incomplete format");
    const Value* arg = nullptr;
    if (format[i] == '(') {
      const size_t close = format.find(')', i);
      if (close == std::string::npos) return InvalidArgument("incomplete format key");
      if (named == nullptr) return InvalidArgument("format requires a mapping");
      arg = named->Find(std::string_view(format).substr(i + 1, close - i - 1));
      if (arg == nullptr) return InvalidArgument("format key '" + format.substr(i + 1, close - i - 1) + "' not found");
      i = close + 1;
    }
    std::string flags;
    while (i < format.size() && std::string("-+ #0").find(format[i]) != std::string::npos) flags += format[i++];
    std::string width, precision;
    while (i < format.size() && format[i] >= '0' && format[i] <= '9') width += format[i++];
    if (i < format.size() && format[i] == '.') {
      precision = ".";
      ++i;
      while (i < format.size() && format[i] >= '0' && format[i] <= '9') precision += format[i++];
    }
    if (width.size() > 3 || precision.size() > 3) return InvalidArgument("format width or precision too large");
    if (i >= format.size()) return InvalidArgument("incomplete format");
    const char type = format[i];
    if (type == '%') {
      out.push_back('%');
      continue;
    }
    if (arg == nullptr) {
      if (next >= positional.size()) return InvalidArgument("not enough arguments for format string");
      arg = &positional[next++];
    }
    const size_t field_width = width.empty() ? 0 : static_cast<size_t>(std::stoi(width));
    const bool left = flags.find('-') != std::string::npos;
    if (type == 's' || type == 'r' || type == 'a') {
      std::string text;
      KITE_RETURN_IF_ERROR(type == 's' ? AppendStr(*arg, &text, ev.max_output_bytes())
                                       : AppendRepr(*arg, &text, ev.max_output_bytes()));
      if (precision.size() > 1) {
        const size_t keep = static_cast<size_t>(std::stoi(precision.substr(1)));
        const std::vector<size_t> offsets = Utf8Offsets(text);
        if (keep + 1 < offsets.size()) text.resize(offsets[keep]);
      }
      out += PadTo(std::move(text), field_width, left);
      continue;
    }
    if (type == 'c') {
      std::string ch;
      if (arg->is_integral()) {
        if (arg->int_value() < 0 || arg->int_value() > 0x10FFFF) return InvalidArgument("%c arg not in range(0x110000)");
        AppendUtf8(&ch, static_cast<uint32_t>(arg->int_value()));
      } else if (arg->is_string() && Utf8Length(arg->str()) == 1) {
        ch = arg->str();
      } else {
        return InvalidArgument("%c requires an int or a single character");
      }
      out += PadTo(std::move(ch), field_width, left);
      continue;
    }
    if (!arg->is_number()) {
      return InvalidArgument(std::string("%") + type + " format: a real number is required, not " + TypeName(*arg));
    }
    const std::string spec = "%" + flags + width + precision;
    char buf[2048];  // width <= 999, precision <= 99, |f| < 1e309: fits
    if (type == 'd' || type == 'i' || type == 'u' || type == 'x' || type == 'X' || type == 'o') {
      const double f = arg->float_value();
      if (arg->is_float() && !(std::fabs(f) < 9.2e18)) return InvalidArgument("cannot format this float as a 64-bit integer");
      const long long n = arg->is_float() ? static_cast<long long>(f) : static_cast<long long>(arg->int_value());
      const unsigned long long magnitude = n < 0 ? 0ULL - static_cast<unsigned long long>(n) : static_cast<unsigned long long>(n);
      const char conv = (type == 'i' || type == 'u') ? 'd' : type;
      if (conv == 'd') {
        std::snprintf(buf, sizeof(buf), (spec + "lld").c_str(), n);
      } else {
        // Python prints a sign for negative hex/octal; C would print two's complement.
        const std::string body_spec = "%" + flags + width + precision + "ll" + conv;
        std::snprintf(buf, sizeof(buf), body_spec.c_str(), magnitude);
        if (n < 0) {
          std::string s = buf;
          const size_t first = s.find_first_not_of(' ');
          s.insert(first == std::string::npos ? 0 : first, "-");
          if (first != std::string::npos && first > 0 && s[0] == ' ') s.erase(0, 1);
          out += s;
          continue;
        }
      }
    } else if (std::string("eEfFgG").find(type) != std::string::npos) {
      std::snprintf(buf, sizeof(buf), (spec + type).c_str(), arg->float_value());
    } else {
      return InvalidArgument(std::string("unsupported format character '") + type + "'");
    }
    out += buf;
  }
  // Python treats a lone argument with __getitem__ (list, dict, Undefined) as a
  // mapping: left unused, it is no error.
  if (next < positional.size() && !(args.is_list() || args.is_dict() || args.is_undefined())) {
    return InvalidArgument("not all arguments converted during string formatting");
  }
  return ev.MakeString(std::move(out));
}

}  // namespace jinja
}  // namespace kite
