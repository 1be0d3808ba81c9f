#include "runtime/llm/chat_template/string_ops.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "runtime/llm/chat_template/unicode.h"

namespace kite {
namespace jinja {
namespace {

bool IsCased(uint32_t cp) { return IsUpperCp(cp) || IsLowerCp(cp); }

// Removes `_` between digits and surrounding whitespace; false when an
// underscore is misplaced.
bool CleanNumber(std::string_view s, std::string* out) {
  const std::string stripped = PyStrip(s, nullptr, true, true);
  out->clear();
  for (size_t i = 0; i < stripped.size(); ++i) {
    if (stripped[i] == '_') {
      const bool ok = i > 0 && i + 1 < stripped.size() && std::isalnum(static_cast<unsigned char>(stripped[i - 1])) &&
                      std::isalnum(static_cast<unsigned char>(stripped[i + 1]));
      if (!ok) return false;
      continue;
    }
    out->push_back(stripped[i]);
  }
  return !out->empty();
}

}  // namespace

std::string PyCapitalize(std::string_view s) {
  std::string out;
  size_t length = 0;
  for (size_t pos = 0; pos < s.size(); pos += length) {
    const uint32_t cp = Utf8Decode(s, pos, &length);
    AppendUtf8(&out, pos == 0 ? ToUpperCp(cp) : ToLowerCp(cp));
  }
  return out;
}

std::string PyTitle(std::string_view s) {
  std::string out;
  bool previous_cased = false;
  size_t length = 0;
  for (size_t pos = 0; pos < s.size(); pos += length) {
    const uint32_t cp = Utf8Decode(s, pos, &length);
    AppendUtf8(&out, previous_cased ? ToLowerCp(cp) : ToUpperCp(cp));
    previous_cased = IsCased(cp);
  }
  return out;
}

std::string PySwapCase(std::string_view s) {
  std::string out;
  size_t length = 0;
  for (size_t pos = 0; pos < s.size(); pos += length) {
    const uint32_t cp = Utf8Decode(s, pos, &length);
    AppendUtf8(&out, IsUpperCp(cp) ? ToLowerCp(cp) : ToUpperCp(cp));
  }
  return out;
}

Result<std::string> PyReplace(std::string_view s, std::string_view old_text, std::string_view new_text, int64_t count,
                              size_t max_bytes) {
  std::string out;
  auto too_large = [&]() { return OutOfRange("replace() result exceeds the output limit of " + std::to_string(max_bytes) + " bytes"); };
  if (old_text.empty()) {  // Python inserts `new` around every code point
    int64_t done = 0;
    size_t length = 0;
    for (size_t pos = 0; pos <= s.size(); pos += length) {
      if (count < 0 || done < count) {
        out.append(new_text);
        ++done;
      }
      if (pos == s.size()) break;
      Utf8Decode(s, pos, &length);
      out.append(s.substr(pos, length));
      if (out.size() > max_bytes) return too_large();
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t found = s.find(old_text, pos);
    if (found == std::string_view::npos) break;
    out.append(s.substr(pos, found - pos));
    out.append(new_text);
    if (out.size() > max_bytes) return too_large();
    pos = found + old_text.size();
    ++done;
  }
  out.append(s.substr(pos));
  if (out.size() > max_bytes) return too_large();
  return out;
}

std::vector<std::string> PySplitLines(std::string_view s, bool keep_ends) {
  std::vector<std::string> lines;
  size_t start = 0;
  size_t length = 0;
  for (size_t pos = 0; pos < s.size(); pos += length) {
    const uint32_t cp = Utf8Decode(s, pos, &length);
    const bool newline = cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' || (cp >= 0x1C && cp <= 0x1E) ||
                         cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!newline) continue;
    size_t end = pos + length;
    if (cp == '\r' && end < s.size() && s[end] == '\n') {
      ++end;
      length = 2;
    }
    lines.emplace_back(s.substr(start, (keep_ends ? end : pos) - start));
    start = end;
  }
  if (start < s.size()) lines.emplace_back(s.substr(start));
  return lines;
}

std::vector<std::string> PySplit(std::string_view s, const std::string* sep, int64_t max_split, bool from_right) {
  std::vector<std::string> parts;
  if (sep != nullptr) {
    if (!from_right) {
      size_t pos = 0;
      while (max_split < 0 || static_cast<int64_t>(parts.size()) < max_split) {
        const size_t found = s.find(*sep, pos);
        if (found == std::string_view::npos) break;
        parts.emplace_back(s.substr(pos, found - pos));
        pos = found + sep->size();
      }
      parts.emplace_back(s.substr(pos));
      return parts;
    }
    size_t end = s.size();
    while (max_split < 0 || static_cast<int64_t>(parts.size()) < max_split) {
      if (end < sep->size()) break;
      const size_t found = s.substr(0, end).rfind(*sep);
      if (found == std::string_view::npos) break;
      parts.emplace_back(s.substr(found + sep->size(), end - found - sep->size()));
      end = found;
    }
    parts.emplace_back(s.substr(0, end));
    return std::vector<std::string>(parts.rbegin(), parts.rend());
  }
  // Whitespace splitting: runs of whitespace separate, ends are dropped.
  const std::vector<uint32_t> cps = Utf8CodePoints(s);
  const std::vector<size_t> offsets = Utf8Offsets(s);
  const size_t n = cps.size();
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < n && IsPySpace(cps[i])) ++i;
      if (i >= n) break;
      if (max_split >= 0 && static_cast<int64_t>(parts.size()) >= max_split) {
        parts.emplace_back(s.substr(offsets[i]));  // the rest, trailing spaces kept
        break;
      }
      size_t j = i;
      while (j < n && !IsPySpace(cps[j])) ++j;
      parts.emplace_back(s.substr(offsets[i], offsets[j] - offsets[i]));
      i = j;
    }
    return parts;
  }
  size_t j = n;
  while (true) {
    while (j > 0 && IsPySpace(cps[j - 1])) --j;
    if (j == 0) break;
    if (max_split >= 0 && static_cast<int64_t>(parts.size()) >= max_split) {
      parts.emplace_back(s.substr(0, offsets[j]));  // the rest, leading spaces kept
      break;
    }
    size_t i = j;
    while (i > 0 && !IsPySpace(cps[i - 1])) --i;
    parts.emplace_back(s.substr(offsets[i], offsets[j] - offsets[i]));
    j = i;
  }
  return std::vector<std::string>(parts.rbegin(), parts.rend());
}

int64_t PyFind(std::string_view s, std::string_view sub, bool from_right) {
  const size_t found = from_right ? s.rfind(sub) : s.find(sub);
  if (found == std::string_view::npos) return -1;
  return static_cast<int64_t>(Utf8Length(s.substr(0, found)));
}

int64_t PyCount(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(Utf8Length(s)) + 1;
  int64_t count = 0;
  for (size_t pos = s.find(sub); pos != std::string_view::npos; pos = s.find(sub, pos + sub.size())) ++count;
  return count;
}

Result<std::string> PyPad(std::string_view s, int64_t width, uint32_t fill, char align, size_t max_bytes) {
  const int64_t length = static_cast<int64_t>(Utf8Length(s));
  if (width <= length) return std::string(s);
  if (static_cast<uint64_t>(width) > max_bytes) return OutOfRange("padding width exceeds the output limit");
  const int64_t margin = width - length;
  int64_t left = 0;
  if (align == 'r') {
    left = margin;
  } else if (align == 'c') {
    left = margin / 2 + (margin & width & 1);  // CPython's str.center
  }
  std::string fill_text;
  AppendUtf8(&fill_text, fill);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill_text;
  out.append(s);
  for (int64_t i = 0; i < margin - left; ++i) out += fill_text;
  return out;
}

bool PyParseInt(std::string_view s, int64_t base, int64_t* out) {
  std::string text;
  if (!CleanNumber(s, &text)) return false;
  size_t i = 0;
  bool negative = false;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    i = 1;
  }
  if (i + 1 < text.size() && text[i] == '0') {
    const char p = static_cast<char>(text[i + 1] | 0x20);
    const int64_t prefix_base = p == 'x' ? 16 : (p == 'o' ? 8 : (p == 'b' ? 2 : 0));
    if (prefix_base != 0 && (base == 0 || base == prefix_base)) {
      base = prefix_base;
      i += 2;
    }
  }
  if (base == 0) base = 10;
  if (base < 2 || base > 36 || i >= text.size()) return false;
  uint64_t value = 0;
  for (; i < text.size(); ++i) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    const int digit = (c >= '0' && c <= '9') ? c - '0' : ((c >= 'a' && c <= 'z') ? c - 'a' + 10 : 99);
    if (digit >= base) return false;
    if (value > (static_cast<uint64_t>(INT64_MAX) + 1 - static_cast<uint64_t>(digit)) / static_cast<uint64_t>(base)) {
      return false;  // past 64 bits
    }
    value = value * static_cast<uint64_t>(base) + static_cast<uint64_t>(digit);
  }
  if (!negative && value > static_cast<uint64_t>(INT64_MAX)) return false;
  *out = negative ? static_cast<int64_t>(0 - value) : static_cast<int64_t>(value);
  return true;
}

bool PyParseFloat(std::string_view s, double* out) {
  std::string text;
  if (!CleanNumber(s, &text)) return false;
  std::string lower;
  for (char c : text) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  const bool negative = lower[0] == '-';
  const std::string body = (lower[0] == '-' || lower[0] == '+') ? lower.substr(1) : lower;
  if (body == "inf" || body == "infinity" || body == "nan") {
    *out = body == "nan" ? std::nan("") : HUGE_VAL;
    if (negative) *out = -*out;
    return true;
  }
  // Python accepts only decimal forms: no hex floats, no bare "." or "e5".
  for (char c : body) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == '+' || c == '-')) return false;
  }
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return false;
  *out = value;
  return true;
}

}  // namespace jinja
}  // namespace kite
