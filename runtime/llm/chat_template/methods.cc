// Methods templates call on values: Python str methods, dict.items/keys/
// values/get, list.index/count, loop.cycle/changed. Mutating list and dict
// methods are refused, as in transformers' ImmutableSandboxedEnvironment.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "runtime/llm/chat_template/evaluator.h"
#include "runtime/llm/chat_template/string_ops.h"
#include "runtime/llm/chat_template/unicode.h"

namespace kite {
namespace jinja {
namespace {

const char* const kStringMethods[] = {
    "strip",   "lstrip",    "rstrip",     "split",      "rsplit",       "splitlines", "startswith", "endswith",
    "upper",   "lower",     "title",      "capitalize", "swapcase",     "casefold",   "replace",    "find",
    "rfind",   "index",     "rindex",     "count",      "join",         "format",     "isdigit",    "isdecimal",
    "isnumeric", "isalpha", "isalnum",    "isspace",    "isupper",      "islower",    "istitle",    "zfill",
    "center",  "ljust",     "rjust",      "partition",  "rpartition",   "removeprefix", "removesuffix"};
const char* const kDictMethods[] = {"items", "keys", "values", "get", "copy"};
const char* const kListMethods[] = {"index", "count", "copy"};
const char* const kUnsafeDictMethods[] = {"pop", "popitem", "setdefault", "update", "clear"};
const char* const kUnsafeListMethods[] = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};

template <size_t N>
bool In(const char* const (&names)[N], const std::string& name) {
  return std::any_of(std::begin(names), std::end(names), [&](const char* n) { return name == n; });
}

Result<std::string> Str(Evaluator& ev, const Value& v) {
  if (v.is_string()) return v.str();
  std::string out;
  KITE_RETURN_IF_ERROR(AppendStr(v, &out, ev.max_output_bytes()));
  return out;
}

Result<std::string> StringArg(const BoundArgs& a, size_t i, const char* method) {
  if (!a.get(i).is_string()) {
    return InvalidArgument(std::string(method) + "() argument must be str, not " + TypeName(a.get(i)));
  }
  return a.get(i).str();
}

Result<int64_t> IntArg(const Value& v, const char* method) {
  if (!v.is_integral()) {
    return InvalidArgument(std::string("'") + TypeName(v) + "' object cannot be interpreted as an integer in " + method);
  }
  return v.int_value();
}

Result<Value> StringList(std::vector<std::string> parts) {
  ValueList out;
  for (std::string& part : parts) out.push_back(Value::String(std::move(part)));
  return Value::List(std::move(out));
}

// ---------------------------------------------------------------- str.format

// Applies a format spec ([[fill]align][sign][0][width][.precision][type]).
Result<std::string> FormatWithSpec(Evaluator& ev, const Value& v, const std::string& spec) {
  if (spec.empty()) return Str(ev, v);
  size_t i = 0;
  uint32_t fill = ' ';
  char align = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  size_t first_length = Utf8UnitLength(spec, 0);
  if (first_length < spec.size() && is_align(spec[first_length])) {
    fill = Utf8Decode(spec, 0, &first_length);
    align = spec[first_length];
    i = first_length + 1;
  } else if (is_align(spec[0])) {
    align = spec[0];
    i = 1;
  }
  char sign = '-';
  if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) sign = spec[i++];
  if (i < spec.size() && spec[i] == '0') {
    if (align == 0) {
      fill = '0';
      align = '=';
    }
    ++i;
  }
  int64_t width = 0;
  while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i])) && width < 100000) width = width * 10 + (spec[i++] - '0');
  int precision = -1;
  if (i < spec.size() && spec[i] == '.') {
    precision = 0;
    ++i;
    while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i])) && precision < 1000) precision = precision * 10 + (spec[i++] - '0');
  }
  const char type = i < spec.size() ? spec[i++] : 0;
  if (i != spec.size()) return InvalidArgument("unsupported format spec '" + spec + "'");
  std::string body;
  bool numeric = v.is_number();
  if (v.is_string() || !numeric) {
    if (type != 0 && type != 's') return InvalidArgument(std::string("unknown format code '") + type + "' for a string");
    KITE_ASSIGN_OR_RETURN(body, Str(ev, v));
    if (precision >= 0) {
      const std::vector<size_t> offsets = Utf8Offsets(body);
      if (static_cast<size_t>(precision) + 1 < offsets.size()) body.resize(offsets[static_cast<size_t>(precision)]);
    }
    numeric = false;
  } else {
    char buf[1200];
    const double f = v.float_value();
    const bool integral_type = type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b';
    if (integral_type) {
      if (!v.is_integral()) return InvalidArgument(std::string("unknown format code '") + type + "' for float");
      const int64_t n = v.int_value();
      const uint64_t magnitude = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
      if (type == 'b') {
        body = magnitude == 0 ? "0" : "";
        for (uint64_t m = magnitude; m > 0; m >>= 1) body.insert(body.begin(), static_cast<char>('0' + (m & 1)));
      } else {
        std::snprintf(buf, sizeof(buf), type == 'd' ? "%llu" : (type == 'x' ? "%llx" : (type == 'X' ? "%llX" : "%llo")),
                      static_cast<unsigned long long>(magnitude));
        body = buf;
      }
      if (n < 0) body.insert(0, "-");
    } else if (type == 0 && precision < 0) {
      std::string plain;
      KITE_RETURN_IF_ERROR(AppendStr(v, &plain, 64));
      body = plain;
    } else if (type == 0 || type == 'f' || type == 'F' || type == 'e' || type == 'E' || type == 'g' || type == 'G' || type == '%') {
      const char conv = type == 0 ? 'g' : (type == '%' ? 'f' : type);
      const int p = precision < 0 ? 6 : std::min(precision, 100);
      std::snprintf(buf, sizeof(buf), (std::string("%.*") + conv).c_str(), p, type == '%' ? f * 100 : f);
      body = buf;
      if (type == '%') body += '%';
    } else {
      return InvalidArgument(std::string("unknown format code '") + type + "' for a number");
    }
    if (sign != '-' && !body.empty() && body[0] != '-') body.insert(0, 1, sign);
  }
  if (align == 0) align = numeric ? '>' : '<';
  const int64_t length = static_cast<int64_t>(Utf8Length(body));
  if (width <= length) return body;
  std::string fill_text;
  AppendUtf8(&fill_text, fill);
  const int64_t margin = width - length;
  const int64_t left = align == '>' ? margin : (align == '^' ? margin / 2 : (align == '=' ? margin : 0));
  std::string padding_left, padding_right;
  for (int64_t k = 0; k < left; ++k) padding_left += fill_text;
  for (int64_t k = 0; k < margin - left; ++k) padding_right += fill_text;
  if (align == '=' && !body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) {
    return body.substr(0, 1) + padding_left + body.substr(1);
  }
  return padding_left + body + padding_right;
}

Result<Value> StrFormat(Evaluator& ev, const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  char numbering = 0;  // 'a'utomatic or 'm'anual, once chosen
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') ++i;
      else return InvalidArgument("Single '}' encountered in format string");
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t close = format.find('}', i);
    if (close == std::string::npos) return InvalidArgument("Single '{' encountered in format string");
    std::string field = format.substr(i + 1, close - i - 1);
    i = close;
    if (field.find('{') != std::string::npos) return InvalidArgument("nested format fields are not supported");
    std::string spec;
    char conversion = 0;
    const size_t colon = field.find(':');
    if (colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    const size_t bang = field.find('!');
    if (bang != std::string::npos) {
      if (bang + 2 != field.size()) return InvalidArgument("invalid conversion in format string");
      conversion = field[bang + 1];
      field.resize(bang);
    }
    // The argument name, then .attr / [key] accessors.
    size_t name_end = field.find_first_of(".[");
    const std::string name = field.substr(0, name_end);
    Value value;
    if (name.empty() || std::all_of(name.begin(), name.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      // Python refuses to mix "{}" and "{0}" in one format string.
      if (numbering != 0 && numbering != (name.empty() ? 'a' : 'm')) {
        return InvalidArgument("cannot mix automatic field numbering and manual field specification");
      }
      numbering = name.empty() ? 'a' : 'm';
      const size_t index = name.empty() ? auto_index++ : static_cast<size_t>(std::stoul(name.substr(0, 6)));
      if (index >= args.positional.size()) return InvalidArgument("Replacement index " + std::to_string(index) + " out of range");
      value = args.positional[index];
    } else {
      auto it = std::find_if(args.keywords.begin(), args.keywords.end(), [&](const auto& kw) { return kw.first == name; });
      if (it == args.keywords.end()) return InvalidArgument("KeyError: '" + name + "'");
      value = it->second;
    }
    while (name_end != std::string::npos && name_end < field.size()) {
      if (field[name_end] == '.') {
        const size_t next = field.find_first_of(".[", name_end + 1);
        KITE_ASSIGN_OR_RETURN(value, ev.GetAttr(value, field.substr(name_end + 1, next == std::string::npos ? std::string::npos : next - name_end - 1)));
        name_end = next;
      } else {
        const size_t end = field.find(']', name_end);
        if (end == std::string::npos) return InvalidArgument("Missing ']' in format string");
        const std::string key = field.substr(name_end + 1, end - name_end - 1);
        const bool digits = !key.empty() && key.size() < 18 && std::all_of(key.begin(), key.end(), [](char d) { return d >= '0' && d <= '9'; });
        KITE_ASSIGN_OR_RETURN(value, ev.GetItem(value, digits ? Value::Int(std::stoll(key)) : Value::String(key)));
        name_end = end + 1;
      }
    }
    if (conversion == 'r' || conversion == 'a') {
      std::string repr;
      KITE_RETURN_IF_ERROR(AppendRepr(value, &repr, ev.max_output_bytes()));
      value = Value::String(std::move(repr));
    } else if (conversion == 's') {
      KITE_ASSIGN_OR_RETURN(std::string text, Str(ev, value));
      value = Value::String(std::move(text));
    } else if (conversion != 0) {
      return InvalidArgument(std::string("Unknown conversion specifier ") + conversion);
    }
    KITE_ASSIGN_OR_RETURN(std::string piece, FormatWithSpec(ev, value, spec));
    out += piece;
    if (out.size() > ev.max_output_bytes()) return OutOfRange("format() output exceeds the output limit");
  }
  return ev.MakeString(std::move(out));
}

// ---------------------------------------------------------------- str methods

Result<Value> CallStringMethod(Evaluator& ev, const std::string& s, const std::string& name, const CallArgs& args) {
  if (name == "format") return StrFormat(ev, s, args);
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind(name.c_str(), args, {"chars"}));
    const std::string* chars = (a.has(0) && a.get(0).is_string()) ? &a.get(0).str() : nullptr;
    return Value::String(PyStrip(s, chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind(name.c_str(), args, {"sep", "maxsplit"}));
    int64_t max_split = -1;
    if (a.has(1)) {
      KITE_ASSIGN_OR_RETURN(max_split, IntArg(a.get(1), name.c_str()));
    }
    const std::string* sep = nullptr;
    if (a.has(0) && !a.get(0).is_none()) {
      KITE_ASSIGN_OR_RETURN(std::string unused, StringArg(a, 0, name.c_str()));
      sep = &a.get(0).str();
      if (sep->empty()) return InvalidArgument("empty separator");
    }
    return StringList(PySplit(s, sep, max_split, name == "rsplit"));
  }
  if (name == "splitlines") {
    KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("splitlines", args, {"keepends"}));
    return StringList(PySplitLines(s, Truthy(a.get_or(0, Value::Bool(false)))));
  }
  if (name == "startswith" || name == "endswith") {
    KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind(name.c_str(), args, {"prefix"}, 1));
    ValueList candidates = a.get(0).is_tuple() ? a.get(0).list() : ValueList{a.get(0)};
    for (const Value& c : candidates) {
      if (!c.is_string()) return InvalidArgument(name + " first arg must be str or a tuple of str");
      const std::string& p = c.str();
      if (p.size() <= s.size() &&
          (name == "startswith" ? s.compare(0, p.size(), p) == 0 : s.compare(s.size() - p.size(), p.size(), p) == 0)) {
        return Value::Bool(true);
      }
    }
    return Value::Bool(false);
  }
  if (name == "upper") return Value::String(ToUpper(s));
  if (name == "lower" || name == "casefold") return Value::String(ToLower(s));
  if (name == "title") return Value::String(PyTitle(s));
  if (name == "capitalize") return Value::String(PyCapitalize(s));
  if (name == "swapcase") return Value::String(PySwapCase(s));
  if (name == "replace") {
    KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("replace", args, {"old", "new", "count"}, 2));
    KITE_ASSIGN_OR_RETURN(std::string old_text, StringArg(a, 0, "replace"));
    KITE_ASSIGN_OR_RETURN(std::string new_text, StringArg(a, 1, "replace"));
    int64_t count = -1;
    if (a.has(2)) {
      KITE_ASSIGN_OR_RETURN(count, IntArg(a.get(2), "replace"));
    }
    KITE_ASSIGN_OR_RETURN(std::string out, PyReplace(s, old_text, new_text, count, ev.max_output_bytes()));
    return ev.MakeString(std::move(out));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind(name.c_str(), args, {"sub"}, 1));
    KITE_ASSIGN_OR_RETURN(std::string sub, StringArg(a, 0, name.c_str()));
    if (name == "count") return Value::Int(PyCount(s, sub));
    const int64_t at = PyFind(s, sub, name[0] == 'r');
    if (at < 0 && name.find("index") != std::string::npos) return InvalidArgument("substring not found");
    return Value::Int(at);
  }
  if (name == "join") {
    KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("join", args, {"iterable"}, 1));
    KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(a.get(0)));
    std::string out;
    for (size_t i = 0; i < items->size(); ++i) {
      const Value& item = (*items)[i];
      if (!item.is_string()) {
        return InvalidArgument("sequence item " + std::to_string(i) + ": expected str instance, " + TypeName(item) + " found");
      }
      if (i > 0) out += s;
      out += item.str();
      if (out.size() > ev.max_output_bytes()) return OutOfRange("join() output exceeds the output limit");
    }
    return ev.MakeString(std::move(out));
  }
  if (name.compare(0, 2, "is") == 0) {
    const std::vector<uint32_t> cps = Utf8CodePoints(s);
    if (cps.empty()) return Value::Bool(false);
    bool result = true;
    if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") {
      result = std::all_of(cps.begin(), cps.end(), IsPyDigit);
    } else if (name == "isalpha") {
      result = std::all_of(cps.begin(), cps.end(), IsPyAlpha);
    } else if (name == "isalnum") {
      result = std::all_of(cps.begin(), cps.end(), [](uint32_t cp) { return IsPyAlpha(cp) || IsPyDigit(cp); });
    } else if (name == "isspace") {
      result = std::all_of(cps.begin(), cps.end(), IsPySpace);
    } else if (name == "isupper" || name == "islower") {
      const bool upper = name == "isupper";
      bool cased = false;
      for (uint32_t cp : cps) {
        if (upper ? IsLowerCp(cp) : IsUpperCp(cp)) return Value::Bool(false);
        cased = cased || (upper ? IsUpperCp(cp) : IsLowerCp(cp));
      }
      result = cased;
    } else {  // istitle
      result = PyTitle(s) == s && std::any_of(cps.begin(), cps.end(), IsUpperCp);
    }
    return Value::Bool(result);
  }
  if (name == "zfill" || name == "center" || name == "ljust" || name == "rjust") {
    KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind(name.c_str(), args, {"width", "fillchar"}, 1));
    KITE_ASSIGN_OR_RETURN(int64_t width, IntArg(a.get(0), name.c_str()));
    uint32_t fill = name == "zfill" ? '0' : ' ';
    if (a.has(1)) {
      if (!a.get(1).is_string() || Utf8Length(a.get(1).str()) != 1) {
        return InvalidArgument("The fill character must be exactly one character long");
      }
      size_t length = 0;
      fill = Utf8Decode(a.get(1).str(), 0, &length);
    }
    if (name == "zfill") {
      if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        KITE_ASSIGN_OR_RETURN(std::string rest, PyPad(s.substr(1), width > 0 ? width - 1 : 0, '0', 'r', ev.max_output_bytes()));
        return Value::String(s.substr(0, 1) + rest);
      }
      KITE_ASSIGN_OR_RETURN(std::string padded, PyPad(s, width, '0', 'r', ev.max_output_bytes()));
      return Value::String(std::move(padded));
    }
    const char align = name == "center" ? 'c' : (name == "ljust" ? 'l' : 'r');
    KITE_ASSIGN_OR_RETURN(std::string padded, PyPad(s, width, fill, align, ev.max_output_bytes()));
    return ev.MakeString(std::move(padded));
  }
  if (name == "partition" || name == "rpartition") {
    KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind(name.c_str(), args, {"sep"}, 1));
    KITE_ASSIGN_OR_RETURN(std::string sep, StringArg(a, 0, name.c_str()));
    if (sep.empty()) return InvalidArgument("empty separator");
    const size_t at = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (at == std::string::npos) {
      return name == "partition" ? Value::Tuple({Value::String(s), Value::String(""), Value::String("")})
                                 : Value::Tuple({Value::String(""), Value::String(""), Value::String(s)});
    }
    return Value::Tuple({Value::String(s.substr(0, at)), Value::String(sep), Value::String(s.substr(at + sep.size()))});
  }
  if (name == "removeprefix" || name == "removesuffix") {
    KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind(name.c_str(), args, {"affix"}, 1));
    KITE_ASSIGN_OR_RETURN(std::string affix, StringArg(a, 0, name.c_str()));
    if (name == "removeprefix" && s.compare(0, affix.size(), affix) == 0) return Value::String(s.substr(affix.size()));
    if (name == "removesuffix" && affix.size() <= s.size() && !affix.empty() &&
        s.compare(s.size() - affix.size(), affix.size(), affix) == 0) {
      return Value::String(s.substr(0, s.size() - affix.size()));
    }
    return Value::String(s);
  }
  return InvalidArgument("'str' object has no attribute '" + name + "'");
}

// ---------------------------------------------------------------- others

Result<Value> CallDictMethod(Evaluator& ev, const Value& self, const std::string& name, const CallArgs& args) {
  const Dict& dict = self.dict();
  if (name == "get") {
    KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("get", args, {"key", "default"}, 1));
    const Value* v = dict.Find(a.get(0));
    return v ? *v : a.get_or(1, Value::None());
  }
  KITE_ASSIGN_OR_RETURN(BoundArgs none, BoundArgs::Bind(name.c_str(), args, {}));
  if (name == "copy") return self;
  ValueList out;
  for (const auto& item : dict.items()) {
    if (name == "keys") {
      out.push_back(item.first);
    } else if (name == "values") {
      out.push_back(item.second);
    } else {
      KITE_ASSIGN_OR_RETURN(Value pair, Value::Tuple({item.first, item.second}));
      out.push_back(std::move(pair));
    }
  }
  return Value::List(std::move(out));
}

Result<Value> CallListMethod(const Value& self, const std::string& name, const CallArgs& args) {
  if (name == "copy") return self;
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind(name.c_str(), args, {"value"}, 1));
  const ValueList& items = self.list();
  if (name == "count") {
    return Value::Int(std::count_if(items.begin(), items.end(), [&](const Value& v) { return Equals(v, a.get(0)); }));
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (Equals(items[i], a.get(0))) return Value::Int(static_cast<int64_t>(i));
  }
  return InvalidArgument(std::string(TypeName(self)) + ".index(x): x not in " + TypeName(self));
}

Result<Value> CallLoopMethod(const Value& self, const std::string& name, const CallArgs& args) {
  auto* loop = self.object_as<LoopObject>();
  if (name == "cycle") {
    if (args.positional.empty()) return InvalidArgument("no items for cycling given");
    return args.positional[loop->index0 % args.positional.size()];
  }
  // changed(*values): true when the values differ from the previous call's.
  KITE_ASSIGN_OR_RETURN(Value values, Value::Tuple(args.positional));
  if (loop->has_changed_value && Equals(loop->changed_value, values)) return Value::Bool(false);
  loop->has_changed_value = true;
  loop->changed_value = std::move(values);
  return Value::Bool(true);
}

}  // namespace

bool HasMethod(const Value& self, const std::string& name) {
  switch (self.kind()) {
    case Kind::kString: return In(kStringMethods, name);
    case Kind::kDict: return In(kDictMethods, name);
    case Kind::kList: return In(kListMethods, name);
    case Kind::kTuple: return name == "index" || name == "count";
    case Kind::kLoop: return name == "cycle" || name == "changed";
    default: return false;
  }
}

bool IsUnsafeMethod(const Value& self, const std::string& name) {
  if (self.is_dict()) return In(kUnsafeDictMethods, name);
  if (self.is_list()) return In(kUnsafeListMethods, name);
  return false;
}

Result<Value> CallMethod(Evaluator& ev, const Value& self, const std::string& name, const CallArgs& args) {
  switch (self.kind()) {
    case Kind::kString: return CallStringMethod(ev, self.str(), name, args);
    case Kind::kDict: return CallDictMethod(ev, self, name, args);
    case Kind::kList:
    case Kind::kTuple: return CallListMethod(self, name, args);
    case Kind::kLoop: return CallLoopMethod(self, name, args);
    default: return InvalidArgument(std::string("'") + TypeName(self) + "' object has no method '" + name + "'");
  }
}

}  // namespace jinja
}  // namespace kite
