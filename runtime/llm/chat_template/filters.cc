// Jinja2's built-in filters with Python semantics, plus transformers' tojson
// (json.dumps with ensure_ascii=False). Filters that return generators in
// Jinja (map, select, items, ...) return lists here.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "runtime/llm/chat_template/evaluator.h"
#include "runtime/llm/chat_template/json_dump.h"
#include "runtime/llm/chat_template/operators.h"
#include "runtime/llm/chat_template/string_ops.h"
#include "runtime/llm/chat_template/unicode.h"

namespace kite {
namespace jinja {
namespace {

Result<std::string> Str(Evaluator& ev, const Value& v) {
  if (v.is_string()) return v.str();
  std::string out;
  KITE_RETURN_IF_ERROR(AppendStr(v, &out, ev.max_output_bytes()));
  return out;
}

// Jinja's make_attrgetter: "a.b.0" looks up each part with getitem.
Result<Value> GetPath(Evaluator& ev, const Value& item, const Value& path) {
  if (!path.is_string()) return ev.GetItem(item, path);
  Value current = item;
  const std::string& text = path.str();
  size_t start = 0;
  while (true) {
    const size_t dot = text.find('.', start);
    const std::string part = text.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits && part.size() < 18) {
      KITE_ASSIGN_OR_RETURN(current, ev.GetItem(current, Value::Int(std::atoll(part.c_str()))));
    } else {
      KITE_ASSIGN_OR_RETURN(current, ev.GetItem(current, Value::String(part)));
    }
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

// Case folding for case-insensitive sorting and comparing (Jinja's ignore_case).
Value IgnoreCase(const Value& v) { return v.is_string() ? Value::String(ToLower(v.str())) : v; }

// A stable sort whose comparison can fail (Python raises on mixed types).
Status StableSort(std::vector<std::pair<ValueList, Value>>* keyed, bool reverse) {
  Status error;
  auto less = [&](const ValueList& a, const ValueList& b) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (Equals(a[i], b[i])) continue;
      Result<bool> r = Less(a[i], b[i]);
      if (!r.ok()) {
        if (error.ok()) error = r.status();
        return false;
      }
      return r.value();
    }
    return a.size() < b.size();
  };
  std::stable_sort(keyed->begin(), keyed->end(), [&](const auto& x, const auto& y) {
    return reverse ? less(y.first, x.first) : less(x.first, y.first);
  });
  return error;
}

Result<std::vector<Value>> SplitAttributes(const Value& attribute) {
  std::vector<Value> parts;
  if (attribute.is_string() && attribute.str().find(',') != std::string::npos) {
    size_t start = 0;
    const std::string& s = attribute.str();
    while (start <= s.size()) {
      const size_t comma = s.find(',', start);
      parts.push_back(Value::String(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } else {
    parts.push_back(attribute);
  }
  return parts;
}

// Sort keys for sort/dictsort/unique/min/max.
Result<ValueList> SortKey(Evaluator& ev, const Value& item, const std::vector<Value>& attributes, bool case_sensitive) {
  ValueList key;
  if (attributes.empty()) {
    key.push_back(case_sensitive ? item : IgnoreCase(item));
    return key;
  }
  for (const Value& attribute : attributes) {
    KITE_ASSIGN_OR_RETURN(Value v, GetPath(ev, item, attribute));
    key.push_back(case_sensitive ? v : IgnoreCase(v));
  }
  return key;
}

Result<Value> FilterLength(Evaluator& ev, const Value& in, const CallArgs& args);

// ---------------------------------------------------------------- strings

Result<Value> FilterTrim(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("trim", args, {"chars"}));
  KITE_ASSIGN_OR_RETURN(std::string s, Str(ev, in));
  if (a.has(0) && a.get(0).is_string()) return Value::String(PyStrip(s, &a.get(0).str(), true, true));
  return Value::String(PyStrip(s, nullptr, true, true));
}

Result<Value> FilterUpper(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(std::string s, Str(ev, in));
  return Value::String(ToUpper(s));
}

Result<Value> FilterLower(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(std::string s, Str(ev, in));
  return Value::String(ToLower(s));
}

Result<Value> FilterCapitalize(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(std::string s, Str(ev, in));
  return Value::String(PyCapitalize(s));
}

// Jinja's title: words start after any of -, whitespace, (, {, [, <.
Result<Value> FilterTitle(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(std::string s, Str(ev, in));
  std::string out;
  bool word_start = true;
  size_t length = 0;
  for (size_t pos = 0; pos < s.size(); pos += length) {
    const uint32_t cp = Utf8Decode(s, pos, &length);
    const bool separator = IsPySpace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    if (separator) {
      AppendUtf8(&out, cp);
      word_start = true;
    } else {
      AppendUtf8(&out, word_start ? ToUpperCp(cp) : ToLowerCp(cp));
      word_start = false;
    }
  }
  return Value::String(std::move(out));
}

Result<Value> FilterString(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(std::string s, Str(ev, in));
  return Value::String(std::move(s));
}

Result<Value> FilterEscape(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(std::string s, Str(ev, in));
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&#39;"; break;
      case '"': out += "&#34;"; break;
      default: out += c;
    }
  }
  return ev.MakeString(std::move(out));
}

Result<Value> FilterReplace(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("replace", args, {"old", "new", "count"}, 2));
  KITE_ASSIGN_OR_RETURN(std::string s, Str(ev, in));
  KITE_ASSIGN_OR_RETURN(std::string old_text, Str(ev, a.get(0)));
  KITE_ASSIGN_OR_RETURN(std::string new_text, Str(ev, a.get(1)));
  int64_t count = -1;
  if (a.has(2) && !a.get(2).is_none()) {
    if (!a.get(2).is_integral()) return InvalidArgument("replace() count must be an integer");
    count = a.get(2).int_value();
  }
  KITE_ASSIGN_OR_RETURN(std::string out, PyReplace(s, old_text, new_text, count, ev.max_output_bytes()));
  return ev.MakeString(std::move(out));
}

Result<Value> FilterIndent(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("indent", args, {"width", "first", "blank"}));
  std::string indention = "    ";
  if (a.has(0)) {
    if (a.get(0).is_string()) {
      indention = a.get(0).str();
    } else if (a.get(0).is_integral()) {
      const int64_t width = a.get(0).int_value();
      if (width > 1024) return InvalidArgument("indent width too large");
      indention.assign(width > 0 ? static_cast<size_t>(width) : 0, ' ');
    } else {
      return InvalidArgument("indent width must be an integer or a string");
    }
  }
  // Jinja appends "\n" to the value itself, which only works for strings.
  if (in.is_undefined()) return InvalidArgument(in.undefined_message());
  if (!in.is_string()) return InvalidArgument(std::string("indent() needs a string, not ") + TypeName(in));
  std::string s = in.str() + "\n";  // the quirk that keeps a final empty line through splitlines
  const std::vector<std::string> lines = PySplitLines(s, false);
  std::string out;
  if (Truthy(a.get_or(2, Value::Bool(false)))) {
    for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" + indention : "") + lines[i];
  } else {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) out += "\n" + (lines[i].empty() ? "" : indention);
      out += lines[i];
      if (out.size() > ev.max_output_bytes()) return OutOfRange("indent output exceeds the output limit");
    }
  }
  if (Truthy(a.get_or(1, Value::Bool(false)))) out = indention + out;
  return ev.MakeString(std::move(out));
}

Result<Value> FilterCenter(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("center", args, {"width"}));
  KITE_ASSIGN_OR_RETURN(std::string s, Str(ev, in));
  const Value width = a.get_or(0, Value::Int(80));
  if (!width.is_integral()) return InvalidArgument("center() width must be an integer");
  KITE_ASSIGN_OR_RETURN(std::string out, PyPad(s, width.int_value(), ' ', 'c', ev.max_output_bytes()));
  return ev.MakeString(std::move(out));
}

Result<Value> FilterTruncate(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("truncate", args, {"length", "killwords", "end", "leeway"}));
  if (!in.is_string()) {
    // Jinja measures len(value) and returns short values unchanged, whatever their type.
    KITE_ASSIGN_OR_RETURN(Value length, FilterLength(ev, in, CallArgs()));
    const Value limit = a.get_or(0, Value::Int(255));
    const Value leeway = a.get_or(3, Value::Int(5));
    if (limit.is_integral() && leeway.is_integral() && leeway.int_value() >= 0 &&
        length.int_value() - leeway.int_value() <= limit.int_value()) {
      return in;
    }
    return InvalidArgument(std::string("truncate() needs a string, not ") + TypeName(in));
  }
  const std::string& s = in.str();
  const Value length_value = a.get_or(0, Value::Int(255));
  const Value leeway_value = a.get_or(3, Value::Int(5));
  if (!length_value.is_integral() || !(leeway_value.is_integral() || leeway_value.is_none())) {
    return InvalidArgument("truncate() length and leeway must be integers");
  }
  KITE_ASSIGN_OR_RETURN(std::string end, Str(ev, a.get_or(2, Value::String("..."))));
  const int64_t length = length_value.int_value();
  const int64_t leeway = leeway_value.is_none() ? 5 : leeway_value.int_value();
  const int64_t end_length = static_cast<int64_t>(Utf8Length(end));
  if (length < end_length) return InvalidArgument("expected length >= " + std::to_string(end_length));
  if (leeway < 0) return InvalidArgument("expected leeway >= 0");
  const std::vector<size_t> offsets = Utf8Offsets(s);
  const int64_t n = static_cast<int64_t>(offsets.size()) - 1;
  if (length >= n || n - length <= leeway) return Value::String(s);
  std::string head = s.substr(0, offsets[static_cast<size_t>(length - end_length)]);
  if (!Truthy(a.get_or(1, Value::Bool(false)))) {
    const size_t space = head.rfind(' ');
    if (space != std::string::npos) head.resize(space);
  }
  return Value::String(head + end);
}

Result<Value> FilterWordcount(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(std::string s, Str(ev, in));
  int64_t words = 0;
  bool in_word = false;
  size_t length = 0;
  for (size_t pos = 0; pos < s.size(); pos += length) {
    const uint32_t cp = Utf8Decode(s, pos, &length);
    const bool word_char = IsPyAlpha(cp) || IsPyDigit(cp) || cp == '_';
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value::Int(words);
}

Result<Value> FilterFormat(Evaluator& ev, const Value& in, const CallArgs& args) {
  if (!args.positional.empty() && !args.keywords.empty()) {
    return InvalidArgument("format filter can't handle positional and keyword arguments at the same time");
  }
  KITE_ASSIGN_OR_RETURN(std::string s, Str(ev, in));
  if (!args.keywords.empty()) {
    Dict named;
    for (const auto& kw : args.keywords) named.Set(Value::String(kw.first), kw.second);
    KITE_ASSIGN_OR_RETURN(Value dict, Value::FromDict(std::move(named)));
    return PercentFormat(ev, s, dict);
  }
  KITE_ASSIGN_OR_RETURN(Value tuple, Value::Tuple(args.positional));
  return PercentFormat(ev, s, tuple);
}

Result<Value> FilterSafe(Evaluator& ev, const Value& in, const CallArgs& args) {
  if (in.is_string()) return in;
  return FilterString(ev, in, args);
}

Result<Value> FilterToJson(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a,
                        BoundArgs::Bind("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"}));
  JsonOptions options;
  options.ensure_ascii = Truthy(a.get_or(0, Value::Bool(false)));
  options.sort_keys = Truthy(a.get_or(3, Value::Bool(false)));
  const Value indent = a.get_or(1, Value::None());
  if (indent.is_integral()) {
    if (indent.int_value() > 1024) return InvalidArgument("tojson indent too large");
    options.indent = std::string(indent.int_value() > 0 ? static_cast<size_t>(indent.int_value()) : 0, ' ');
    options.pretty = true;
  } else if (indent.is_string()) {
    options.indent = indent.str();
    options.pretty = true;
  } else if (!indent.is_none()) {
    return InvalidArgument("tojson indent must be an integer, a string or None");
  }
  // json.dumps: separators default to (', ', ': '), or (',', ': ') with an indent.
  options.item_separator = options.pretty ? "," : ", ";
  options.key_separator = ": ";
  const Value separators = a.get_or(2, Value::None());
  if (!separators.is_none()) {
    if (!separators.is_sequence() || separators.list().size() != 2 || !separators.list()[0].is_string() ||
        !separators.list()[1].is_string()) {
      return InvalidArgument("tojson separators must be a pair of strings");
    }
    options.item_separator = separators.list()[0].str();
    options.key_separator = separators.list()[1].str();
  }
  std::string out;
  KITE_RETURN_IF_ERROR(DumpJson(in, options, ev.max_output_bytes(), &out));
  return ev.MakeString(std::move(out));
}

// ---------------------------------------------------------------- numbers

Result<Value> FilterInt(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("int", args, {"default", "base"}));
  const Value fallback = a.get_or(0, Value::Int(0));
  const Value base = a.get_or(1, Value::Int(10));
  if (!base.is_integral()) return InvalidArgument("int() base must be an integer");
  if (in.is_undefined()) return InvalidArgument(in.undefined_message());  // Undefined.__int__ fails
  if (in.is_integral()) return Value::Int(in.int_value());
  if (in.is_float()) {
    const double f = in.float_value();
    if (std::isnan(f) || std::isinf(f) || std::fabs(f) >= 9.2e18) return InvalidArgument("cannot convert float to integer");
    return Value::Int(static_cast<int64_t>(f));
  }
  if (in.is_string()) {
    int64_t parsed = 0;
    if (PyParseInt(in.str(), base.int_value(), &parsed)) return Value::Int(parsed);
    double f = 0;  // "42.23"|int is 42
    if (PyParseFloat(in.str(), &f) && !std::isnan(f) && !std::isinf(f) && std::fabs(f) < 9.2e18) {
      return Value::Int(static_cast<int64_t>(f));
    }
  }
  return fallback;
}

Result<Value> FilterFloat(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("float", args, {"default"}));
  if (in.is_undefined()) return InvalidArgument(in.undefined_message());  // Undefined.__float__ fails
  if (in.is_number()) return Value::Float(in.float_value());
  double f = 0;
  if (in.is_string() && PyParseFloat(in.str(), &f)) return Value::Float(f);
  return a.get_or(0, Value::Float(0.0));
}

Result<Value> FilterAbs(Evaluator& ev, const Value& in, const CallArgs& args) {
  if (in.is_integral()) {
    if (in.int_value() == INT64_MIN) return OutOfRange("integer overflow in abs()");
    return Value::Int(in.int_value() < 0 ? -in.int_value() : in.int_value());
  }
  if (in.is_float()) return Value::Float(std::fabs(in.float_value()));
  return InvalidArgument(std::string("bad operand type for abs(): '") + TypeName(in) + "'");
}

Result<Value> FilterRound(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("round", args, {"precision", "method"}));
  const Value precision_value = a.get_or(0, Value::Int(0));
  const Value method = a.get_or(1, Value::String("common"));
  if (!precision_value.is_integral()) return InvalidArgument("round() precision must be an integer");
  if (!method.is_string() || (method.str() != "common" && method.str() != "ceil" && method.str() != "floor")) {
    return InvalidArgument("method must be common, ceil or floor");
  }
  if (!in.is_number()) return InvalidArgument(std::string("type ") + TypeName(in) + " doesn't define __round__ method");
  const int64_t precision = std::max<int64_t>(-308, std::min<int64_t>(308, precision_value.int_value()));
  const double scale = std::pow(10.0, static_cast<double>(precision));
  if (method.str() != "common") {
    const double x = in.float_value() * scale;
    return Value::Float((method.str() == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
  }
  if (in.is_integral()) {
    if (precision >= 0) return Value::Int(in.int_value());
    const double rounded = std::nearbyint(static_cast<double>(in.int_value()) * scale) / scale;
    if (!(std::fabs(rounded) < 9.2e18)) return OutOfRange("round() result does not fit in 64 bits");
    return Value::Int(static_cast<int64_t>(rounded));
  }
  const double x = in.float_value();
  if (std::isnan(x) || std::isinf(x)) return Value::Float(x);
  if (precision >= 0 && precision <= 300) {
    // printf rounds the exact binary value half-to-even, as Python's round does.
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::min<int64_t>(precision, 100)), x);
    return Value::Float(std::strtod(buf, nullptr));
  }
  return Value::Float(std::nearbyint(x * scale) / scale);
}

// ---------------------------------------------------------------- sequences

Result<Value> FilterLength(Evaluator& ev, const Value& in, const CallArgs& args) {
  switch (in.kind()) {
    case Kind::kUndefined: return Value::Int(0);
    case Kind::kString: return Value::Int(static_cast<int64_t>(Utf8Length(in.str())));
    case Kind::kList:
    case Kind::kTuple: return Value::Int(static_cast<int64_t>(in.list().size()));
    case Kind::kDict: return Value::Int(static_cast<int64_t>(in.dict().size()));
    case Kind::kLoop: return Value::Int(static_cast<int64_t>(in.object_as<LoopObject>()->items->size()));
    default: return InvalidArgument(std::string("object of type '") + TypeName(in) + "' has no len()");
  }
}

Result<Value> FilterDefault(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("default", args, {"default_value", "boolean"}));
  const bool boolean = Truthy(a.get_or(1, Value::Bool(false)));
  if (in.is_undefined() || (boolean && !Truthy(in))) return a.get_or(0, Value::String(""));
  return in;
}

Result<Value> FilterFirst(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(in));
  if (items->empty()) return Value::Undefined("No first item, sequence was empty.");
  return items->front();
}

Result<Value> FilterLast(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(in));
  if (items->empty()) return Value::Undefined("No last item, sequence was empty.");
  return items->back();
}

Result<Value> FilterList(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(in));
  return Value::List(*items);
}

Result<Value> FilterReverse(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(in));
  if (in.is_string()) {
    std::string out;
    for (auto it = items->rbegin(); it != items->rend(); ++it) out += it->str();
    return Value::String(std::move(out));
  }
  return Value::List(ValueList(items->rbegin(), items->rend()));
}

Result<Value> FilterJoin(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("join", args, {"d", "attribute"}));
  KITE_ASSIGN_OR_RETURN(std::string separator, Str(ev, a.get_or(0, Value::String(""))));
  KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(in));
  std::string out;
  for (size_t i = 0; i < items->size(); ++i) {
    if (i > 0) out += separator;
    Value item = (*items)[i];
    if (a.has(1) && !a.get(1).is_none()) {
      KITE_ASSIGN_OR_RETURN(item, GetPath(ev, item, a.get(1)));
    }
    KITE_RETURN_IF_ERROR(AppendStr(item, &out, ev.max_output_bytes()));
    if (out.size() > ev.max_output_bytes()) return OutOfRange("join output exceeds the output limit");
  }
  return ev.MakeString(std::move(out));
}

Result<Value> FilterItems(Evaluator& ev, const Value& in, const CallArgs& args) {
  if (in.is_undefined()) return Value::List({});
  if (!in.is_dict()) return InvalidArgument("Can only get item pairs from a mapping.");
  ValueList pairs;
  for (const auto& item : in.dict().items()) {
    KITE_ASSIGN_OR_RETURN(Value pair, Value::Tuple({item.first, item.second}));
    pairs.push_back(std::move(pair));
  }
  return Value::List(std::move(pairs));
}

Result<Value> FilterDictsort(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("dictsort", args, {"case_sensitive", "by", "reverse"}));
  const bool case_sensitive = Truthy(a.get_or(0, Value::Bool(false)));
  const Value by = a.get_or(1, Value::String("key"));
  if (!by.is_string() || (by.str() != "key" && by.str() != "value")) {
    return InvalidArgument("You can only sort by either \"key\" or \"value\"");
  }
  if (!in.is_dict()) return InvalidArgument(std::string("'") + TypeName(in) + "' object has no attribute 'items'");
  std::vector<std::pair<ValueList, Value>> keyed;
  for (const auto& item : in.dict().items()) {
    const Value& key = by.str() == "key" ? item.first : item.second;
    KITE_ASSIGN_OR_RETURN(Value pair, Value::Tuple({item.first, item.second}));
    keyed.emplace_back(ValueList{case_sensitive ? key : IgnoreCase(key)}, std::move(pair));
  }
  KITE_RETURN_IF_ERROR(StableSort(&keyed, Truthy(a.get_or(2, Value::Bool(false)))));
  ValueList out;
  for (auto& entry : keyed) out.push_back(std::move(entry.second));
  return Value::List(std::move(out));
}

Result<Value> FilterSort(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("sort", args, {"reverse", "case_sensitive", "attribute"}));
  std::vector<Value> attributes;
  if (a.has(2) && !a.get(2).is_none()) {
    KITE_ASSIGN_OR_RETURN(attributes, SplitAttributes(a.get(2)));
  }
  KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(in));
  std::vector<std::pair<ValueList, Value>> keyed;
  for (const Value& item : *items) {
    KITE_ASSIGN_OR_RETURN(ValueList key, SortKey(ev, item, attributes, Truthy(a.get_or(1, Value::Bool(false)))));
    keyed.emplace_back(std::move(key), item);
  }
  KITE_RETURN_IF_ERROR(StableSort(&keyed, Truthy(a.get_or(0, Value::Bool(false)))));
  ValueList out;
  for (auto& entry : keyed) out.push_back(std::move(entry.second));
  return Value::List(std::move(out));
}

Result<Value> FilterUnique(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("unique", args, {"case_sensitive", "attribute"}));
  std::vector<Value> attributes;
  if (a.has(1) && !a.get(1).is_none()) attributes.push_back(a.get(1));
  KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(in));
  ValueList seen;
  ValueList out;
  for (const Value& item : *items) {
    KITE_ASSIGN_OR_RETURN(ValueList key, SortKey(ev, item, attributes, Truthy(a.get_or(0, Value::Bool(false)))));
    if (key[0].is_list() || key[0].is_dict() || key[0].kind() == Kind::kNamespace) {  // Python keeps a set
      return InvalidArgument(std::string("unhashable type: '") + TypeName(key[0]) + "'");
    }
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return Equals(s, key[0]); })) continue;
    seen.push_back(key[0]);
    out.push_back(item);
  }
  return Value::List(std::move(out));
}

Result<Value> MinOrMax(Evaluator& ev, const Value& in, const CallArgs& args, bool want_max) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind(want_max ? "max" : "min", args, {"case_sensitive", "attribute"}));
  std::vector<Value> attributes;
  if (a.has(1) && !a.get(1).is_none()) attributes.push_back(a.get(1));
  KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(in));
  if (items->empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  const bool case_sensitive = Truthy(a.get_or(0, Value::Bool(false)));
  size_t best = 0;
  KITE_ASSIGN_OR_RETURN(ValueList best_key, SortKey(ev, (*items)[0], attributes, case_sensitive));
  for (size_t i = 1; i < items->size(); ++i) {
    KITE_ASSIGN_OR_RETURN(ValueList key, SortKey(ev, (*items)[i], attributes, case_sensitive));
    KITE_ASSIGN_OR_RETURN(bool better, want_max ? Less(best_key[0], key[0]) : Less(key[0], best_key[0]));
    if (better) {
      best = i;
      best_key = std::move(key);
    }
  }
  return (*items)[best];
}

Result<Value> FilterMax(Evaluator& ev, const Value& in, const CallArgs& args) { return MinOrMax(ev, in, args, true); }
Result<Value> FilterMin(Evaluator& ev, const Value& in, const CallArgs& args) { return MinOrMax(ev, in, args, false); }

Result<Value> FilterSum(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("sum", args, {"attribute", "start"}));
  Value total = a.get_or(1, Value::Int(0));
  if (total.is_string()) return InvalidArgument("sum() can't sum strings [use ''.join(seq) instead]");
  KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(in));
  for (const Value& item : *items) {
    Value v = item;
    if (a.has(0) && !a.get(0).is_none()) {
      KITE_ASSIGN_OR_RETURN(v, GetPath(ev, item, a.get(0)));
    }
    KITE_ASSIGN_OR_RETURN(total, BinaryOperation(ev, BinaryOp::kAdd, total, v));
  }
  return total;
}

Result<Value> FilterBatch(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("batch", args, {"linecount", "fill_with"}, 1));
  if (!a.get(0).is_integral() || a.get(0).int_value() <= 0) return InvalidArgument("batch() linecount must be a positive integer");
  const size_t size = static_cast<size_t>(a.get(0).int_value());
  KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(in));
  ValueList batches;
  ValueList current;
  for (const Value& item : *items) {
    current.push_back(item);
    if (current.size() == size) {
      KITE_ASSIGN_OR_RETURN(Value batch, Value::List(std::move(current)));
      batches.push_back(std::move(batch));
      current.clear();
    }
  }
  if (!current.empty()) {
    if (a.has(1) && !a.get(1).is_none()) current.resize(size, a.get(1));
    KITE_ASSIGN_OR_RETURN(Value batch, Value::List(std::move(current)));
    batches.push_back(std::move(batch));
  }
  return Value::List(std::move(batches));
}

Result<Value> FilterAttr(Evaluator& ev, const Value& in, const CallArgs& args) {
  KITE_ASSIGN_OR_RETURN(BoundArgs a, BoundArgs::Bind("attr", args, {"name"}, 1));
  if (!a.get(0).is_string()) return InvalidArgument("attr() name must be a string");
  // Python getattr only: dict keys are not attributes.
  if (in.is_dict() && !HasMethod(in, a.get(0).str())) {
    return Value::Undefined("'dict object' has no attribute '" + a.get(0).str() + "'");
  }
  return ev.GetAttr(in, a.get(0).str());
}

Result<Value> FilterMap(Evaluator& ev, const Value& in, const CallArgs& args) {
  ValueList out;
  if (!Truthy(in)) return Value::List({});
  KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(in));
  const Value* attribute = nullptr;
  Value fallback = Value::None();
  for (const auto& kw : args.keywords) {
    if (kw.first == "attribute") {
      attribute = &kw.second;
    } else if (kw.first == "default") {
      fallback = kw.second;
    } else if (args.positional.empty()) {
      return InvalidArgument("Unexpected keyword argument '" + kw.first + "'");
    }
  }
  if (args.positional.empty() && attribute != nullptr) {
    for (const Value& item : *items) {
      KITE_ASSIGN_OR_RETURN(Value v, GetPath(ev, item, *attribute));
      out.push_back(v.is_undefined() && !fallback.is_none() ? fallback : v);
    }
    return Value::List(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string()) return InvalidArgument("map requires a filter argument");
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keywords = args.keywords;
  for (const Value& item : *items) {
    KITE_ASSIGN_OR_RETURN(Value v, ev.ApplyFilter(args.positional[0].str(), item, rest));
    out.push_back(std::move(v));
  }
  return Value::List(std::move(out));
}

Result<Value> SelectOrReject(Evaluator& ev, const Value& in, const CallArgs& args, bool select, bool by_attribute) {
  if (!Truthy(in)) return Value::List({});
  KITE_ASSIGN_OR_RETURN(auto items, ev.Iterate(in));
  size_t next = 0;
  const Value* attribute = nullptr;
  if (by_attribute) {
    if (args.positional.empty()) return InvalidArgument("Missing parameter for attribute name");
    attribute = &args.positional[next++];
  }
  const Value* test_name = next < args.positional.size() ? &args.positional[next++] : nullptr;
  if (test_name != nullptr && !test_name->is_string()) return InvalidArgument("test name must be a string");
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next), args.positional.end());
  test_args.keywords = args.keywords;
  ValueList out;
  for (const Value& item : *items) {
    Value subject = item;
    if (attribute != nullptr) {
      KITE_ASSIGN_OR_RETURN(subject, GetPath(ev, item, *attribute));
    }
    bool passed = false;
    if (test_name == nullptr) {
      passed = Truthy(subject);
    } else {
      KITE_ASSIGN_OR_RETURN(passed, ev.ApplyTest(test_name->str(), subject, test_args));
    }
    if (passed == select) out.push_back(item);
  }
  return Value::List(std::move(out));
}

Result<Value> FilterSelect(Evaluator& ev, const Value& in, const CallArgs& args) {
  return SelectOrReject(ev, in, args, true, false);
}
Result<Value> FilterReject(Evaluator& ev, const Value& in, const CallArgs& args) {
  return SelectOrReject(ev, in, args, false, false);
}
Result<Value> FilterSelectAttr(Evaluator& ev, const Value& in, const CallArgs& args) {
  return SelectOrReject(ev, in, args, true, true);
}
Result<Value> FilterRejectAttr(Evaluator& ev, const Value& in, const CallArgs& args) {
  return SelectOrReject(ev, in, args, false, true);
}

}  // namespace

FilterFunction FindFilter(const std::string& name) {
  static const std::unordered_map<std::string, FilterFunction> kFilters = {
      {"abs", FilterAbs},           {"attr", FilterAttr},         {"batch", FilterBatch},
      {"capitalize", FilterCapitalize}, {"center", FilterCenter}, {"count", FilterLength},
      {"d", FilterDefault},         {"default", FilterDefault},   {"dictsort", FilterDictsort},
      {"e", FilterEscape},          {"escape", FilterEscape},     {"first", FilterFirst},
      {"float", FilterFloat},       {"forceescape", FilterEscape}, {"format", FilterFormat},
      {"indent", FilterIndent},     {"int", FilterInt},           {"items", FilterItems},
      {"join", FilterJoin},         {"last", FilterLast},         {"length", FilterLength},
      {"list", FilterList},         {"lower", FilterLower},       {"map", FilterMap},
      {"max", FilterMax},           {"min", FilterMin},           
      {"reject", FilterReject},     {"rejectattr", FilterRejectAttr}, {"replace", FilterReplace},
      {"reverse", FilterReverse},   {"round", FilterRound},       {"safe", FilterSafe},
      {"select", FilterSelect},     {"selectattr", FilterSelectAttr}, {"sort", FilterSort},
      {"string", FilterString},     {"sum", FilterSum},           {"title", FilterTitle},
      {"tojson", FilterToJson},     {"trim", FilterTrim},         {"truncate", FilterTruncate},
      {"unique", FilterUnique},     {"upper", FilterUpper},       {"wordcount", FilterWordcount},
  };
  auto it = kFilters.find(name);
  return it == kFilters.end() ? nullptr : it->second;
}

}  // namespace jinja
}  // namespace kite
