#include "runtime/llm/chat_template/lexer.h"

#include <cerrno>
#include <cstdlib>

#include "runtime/llm/chat_template/unicode.h"

namespace kite {
namespace jinja {

std::string LocatedMessage(const Location& loc, const std::string& message) {
  return "line " + std::to_string(loc.line) + ", column " + std::to_string(loc.column) + ": " + message;
}

namespace {

bool IsTagSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

// Jinja normalises \r\n and \r to \n and drops one trailing newline
// (keep_trailing_newline=False) before lexing.
std::string NormalizeNewlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {}

  Result<std::vector<Token>> Run() {
    size_t pos = 0;
    bool line_starting = true;  // did the last tag end with a newline?
    while (pos < src_.size()) {
      const size_t tag = FindTagStart(pos);
      if (tag == std::string::npos) {
        EmitText(pos, src_.substr(pos));
        break;
      }
      const char kind = src_[tag + 1];  // '{', '%' or '#'
      char sign = 0;
      if (tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+')) sign = src_[tag + 2];
      size_t raw_body = 0;  // where a {% raw %} body starts
      bool raw_line_end = false;
      const bool raw = kind == '%' && MatchRawBegin(tag, &raw_body, &raw_line_end);
      EmitText(pos, StripBefore(src_.substr(pos, tag - pos), sign, kind != '{', line_starting));
      const size_t after_sign = tag + 2 + (sign != 0 ? 1 : 0);
      if (raw) {
        KITE_RETURN_IF_ERROR(LexRaw(tag, raw_body, raw_line_end, &pos, &line_starting));
      } else if (kind == '#') {
        KITE_RETURN_IF_ERROR(LexComment(tag, after_sign, &pos, &line_starting));
      } else {
        KITE_RETURN_IF_ERROR(LexTag(tag, kind == '%', after_sign, &pos, &line_starting));
      }
    }
    Token eof;
    eof.type = TokenType::kEof;
    eof.loc = LocationAt(src_.size());
    tokens_.push_back(std::move(eof));
    return std::move(tokens_);
  }

 private:
  size_t FindTagStart(size_t pos) const {
    for (size_t i = src_.find('{', pos); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  // Jinja's OptionalLStrip: `-` strips all whitespace before the tag; for
  // block and comment tags lstrip_blocks strips spaces between the line start
  // and the tag unless the tag says `+`.
  static std::string StripBefore(std::string text, char sign, bool lstrip_applies, bool line_starting) {
    if (sign == '-') return PyStrip(text, nullptr, false, true);
    if (sign == '+' || !lstrip_applies) return text;
    const size_t newline = text.rfind('\n');
    const size_t line_pos = newline == std::string::npos ? 0 : newline + 1;
    if (line_pos == 0 && !line_starting) return text;
    if (line_pos == text.size()) return text;
    size_t length = 0;
    for (size_t i = line_pos; i < text.size(); i += length) {
      if (!IsPySpace(Utf8Decode(text, i, &length))) return text;
    }
    text.resize(line_pos);
    return text;
  }

  // {%[-+]? \s* raw \s* (-%}\s* | %})
  bool MatchRawBegin(size_t tag, size_t* body, bool* line_end) const {
    size_t i = tag + 2;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
    while (i < src_.size() && IsTagSpace(src_[i])) ++i;
    if (src_.compare(i, 3, "raw") != 0) return false;
    i += 3;
    while (i < src_.size() && IsTagSpace(src_[i])) ++i;
    if (src_.compare(i, 3, "-%}") == 0) {
      i += 3;
      while (i < src_.size() && IsTagSpace(src_[i])) ++i;
    } else if (src_.compare(i, 2, "%}") == 0) {
      i += 2;
    } else {
      return false;
    }
    *body = i;
    *line_end = i > 0 && src_[i - 1] == '\n';
    return true;
  }

  Status LexRaw(size_t tag, size_t body, bool line_starting, size_t* pos, bool* next_line_starting) {
    // Find {%[-+]? \s* endraw \s* (+%} | -%}\s* | %}\n?)
    for (size_t i = src_.find("{%", body); i != std::string::npos; i = src_.find("{%", i + 1)) {
      size_t j = i + 2;
      char sign = 0;
      if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) sign = src_[j++];
      while (j < src_.size() && IsTagSpace(src_[j])) ++j;
      if (src_.compare(j, 6, "endraw") != 0) continue;
      j += 6;
      while (j < src_.size() && IsTagSpace(src_[j])) ++j;
      size_t end = 0;
      if (!MatchTagEnd(j, '%', true, &end)) continue;
      EmitText(body, StripBefore(src_.substr(body, i - body), sign, true, line_starting));
      *pos = end;
      *next_line_starting = end > 0 && src_[end - 1] == '\n';
      return Status::Ok();
    }
    return Error(tag, "missing end of raw directive");
  }

  Status LexComment(size_t tag, size_t body, size_t* pos, bool* line_starting) {
    for (size_t i = body; i < src_.size(); ++i) {
      size_t end = 0;
      if (MatchTagEnd(i, '#', true, &end)) {
        *pos = end;
        *line_starting = end > 0 && src_[end - 1] == '\n';
        return Status::Ok();
      }
    }
    return Error(tag, "missing end of comment tag");
  }

  // At i: `+X}` | `-X}` + whitespace | `X}` + one newline when trimming.
  bool MatchTagEnd(size_t i, char closer, bool trim_blocks, size_t* end) const {
    const char close[3] = {closer, '}', 0};
    if (i < src_.size() && src_[i] == '+' && closer != '}' && src_.compare(i + 1, 2, close) == 0) {
      *end = i + 3;
      return true;
    }
    if (i < src_.size() && src_[i] == '-' && src_.compare(i + 1, 2, close) == 0) {
      size_t j = i + 3;
      while (j < src_.size() && IsTagSpace(src_[j])) ++j;
      *end = j;
      return true;
    }
    if (src_.compare(i, 2, close) == 0) {
      size_t j = i + 2;
      if (trim_blocks && j < src_.size() && src_[j] == '\n') ++j;
      *end = j;
      return true;
    }
    return false;
  }

  Status LexTag(size_t tag, bool block, size_t pos, size_t* out_pos, bool* line_starting) {
    Push(block ? TokenType::kBlockBegin : TokenType::kVariableBegin, tag, src_.substr(tag, pos - tag));
    std::vector<char> balance;  // expected closing brackets
    const char closer = block ? '%' : '}';
    while (true) {
      size_t end = 0;
      // Block ends count only while brackets balance, like Jinja.
      if (balance.empty() && MatchTagEnd(pos, closer, block, &end)) {
        Push(block ? TokenType::kBlockEnd : TokenType::kVariableEnd, pos, src_.substr(pos, end - pos));
        *out_pos = end;
        *line_starting = end > 0 && src_[end - 1] == '\n';
        return Status::Ok();
      }
      if (pos >= src_.size()) {
        *out_pos = pos;  // the parser reports the unexpected end
        return Status::Ok();
      }
      const char c = src_[pos];
      if (IsTagSpace(c)) {
        ++pos;
      } else if (IsDigit(c)) {
        KITE_RETURN_IF_ERROR(LexNumber(&pos));
      } else if (IsNameStart(c)) {
        size_t end_name = pos;
        while (end_name < src_.size() && IsNameChar(src_[end_name])) ++end_name;
        Push(TokenType::kName, pos, src_.substr(pos, end_name - pos));
        pos = end_name;
      } else if (c == '\'' || c == '"') {
        KITE_RETURN_IF_ERROR(LexString(&pos));
      } else {
        KITE_RETURN_IF_ERROR(LexOperator(&pos, &balance));
      }
    }
  }

  Status LexOperator(size_t* pos, std::vector<char>* balance) {
    static const char* const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    const size_t start = *pos;
    for (const char* op : kTwo) {
      if (src_.compare(start, 2, op) == 0) {
        Push(TokenType::kOperator, start, op);
        *pos += 2;
        return Status::Ok();
      }
    }
    const char c = src_[start];
    static const std::string kOne = "+-/*%~[](){}><=.:|,;";
    if (kOne.find(c) == std::string::npos) {
      size_t length = 0;
      Utf8Decode(src_, start, &length);
      return Error(start, "unexpected character '" + src_.substr(start, length) + "'");
    }
    if (c == '(' || c == '[' || c == '{') {
      balance->push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance->empty()) return Error(start, std::string("unexpected '") + c + "'");
      const char expected = balance->back();
      balance->pop_back();
      if (expected != c) return Error(start, std::string("unexpected '") + c + "', expected '" + expected + "'");
    }
    Push(TokenType::kOperator, start, std::string(1, c));
    ++*pos;
    return Status::Ok();
  }

  // Digits with optional `_` separators, e.g. 1_000.
  size_t ScanDigits(size_t i, bool (*digit)(char)) const {
    if (i >= src_.size() || !digit(src_[i])) return i;
    size_t j = i + 1;
    while (j < src_.size()) {
      if (digit(src_[j])) {
        ++j;
      } else if (src_[j] == '_' && j + 1 < src_.size() && digit(src_[j + 1])) {
        j += 2;
      } else {
        break;
      }
    }
    return j;
  }

  Status LexNumber(size_t* pos) {
    const size_t start = *pos;
    // Float: digits then (.digits)? e[+-]digits, or digits.digits; not right after a '.'.
    const size_t int_end = ScanDigits(start, IsDigit);
    if (start == 0 || src_[start - 1] != '.') {
      size_t j = int_end;
      bool is_float = false;
      if (j < src_.size() && src_[j] == '.' && j + 1 < src_.size() && IsDigit(src_[j + 1])) {
        j = ScanDigits(j + 1, IsDigit);
        is_float = true;
      }
      if (j < src_.size() && (src_[j] == 'e' || src_[j] == 'E')) {
        size_t k = j + 1;
        if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
        const size_t exp_end = ScanDigits(k, IsDigit);
        if (exp_end > k) {
          j = exp_end;
          is_float = true;
        }
      }
      if (is_float) {
        std::string text;
        for (size_t i = start; i < j; ++i) {
          if (src_[i] != '_') text.push_back(src_[i]);
        }
        Token t = MakeToken(TokenType::kFloat, start, src_.substr(start, j - start));
        t.float_value = std::strtod(text.c_str(), nullptr);
        tokens_.push_back(std::move(t));
        *pos = j;
        return Status::Ok();
      }
    }
    // Integer: 0b / 0o / 0x prefixes, a decimal without leading zeros, or 0.
    int base = 10;
    size_t digits_start = start;
    size_t end = int_end;
    const char prefix = start + 1 < src_.size() ? static_cast<char>(src_[start + 1] | 0x20) : 0;
    if (src_[start] == '0' && (prefix == 'b' || prefix == 'o' || prefix == 'x')) {
      base = prefix == 'b' ? 2 : (prefix == 'o' ? 8 : 16);
      auto digit = base == 2 ? +[](char c) { return c == '0' || c == '1'; }
                   : base == 8 ? +[](char c) { return c >= '0' && c <= '7'; }
                               : +[](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
      // An underscore may follow the prefix: 0x_FF.
      size_t first = start + 2;
      if (first < src_.size() && src_[first] == '_') ++first;
      end = ScanDigits(first, digit);
      if (end == first) {
        end = start + 1;  // just "0"; the letter lexes as a name
        base = 10;
      } else {
        digits_start = first;
      }
    } else if (src_[start] == '0') {
      end = start + 1;  // "0(_?0)*"
      while (end < src_.size() && (src_[end] == '0' || (src_[end] == '_' && end + 1 < src_.size() && src_[end + 1] == '0'))) ++end;
    }
    std::string digits;
    for (size_t i = digits_start; i < end; ++i) {
      if (src_[i] != '_') digits.push_back(src_[i]);
    }
    errno = 0;
    const unsigned long long value = std::strtoull(digits.c_str(), nullptr, base);
    if (errno == ERANGE || value > static_cast<unsigned long long>(INT64_MAX)) {
      return Error(start, "integer literal " + src_.substr(start, end - start) + " is too large");
    }
    Token t = MakeToken(TokenType::kInteger, start, src_.substr(start, end - start));
    t.int_value = static_cast<int64_t>(value);
    tokens_.push_back(std::move(t));
    *pos = end;
    return Status::Ok();
  }

  static int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Python's unicode-escape decoding, as Jinja applies it to string literals.
  Status LexString(size_t* pos) {
    const size_t start = *pos;
    const char quote = src_[start];
    std::string value;
    size_t i = start + 1;
    while (true) {
      if (i >= src_.size()) return Error(start, "unterminated string literal");
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) return Error(start, "unterminated string literal");
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': value.push_back('\\'); break;
        case '\'': value.push_back('\''); break;
        case '"': value.push_back('"'); break;
        case 'a': value.push_back('\a'); break;
        case 'b': value.push_back('\b'); break;
        case 'f': value.push_back('\f'); break;
        case 'n': value.push_back('\n'); break;
        case 'r': value.push_back('\r'); break;
        case 't': value.push_back('\t'); break;
        case 'v': value.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          const int count = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          uint32_t cp = 0;
          for (int k = 0; k < count; ++k) {
            const int h = i < src_.size() ? HexValue(src_[i]) : -1;
            if (h < 0) return Error(start, std::string("truncated \\") + e + " escape in string literal");
            cp = cp * 16 + static_cast<uint32_t>(h);
            ++i;
          }
          if (cp > 0x10FFFF) return Error(start, "illegal Unicode character in string literal");
          AppendUtf8(&value, cp);
          break;
        }
        case 'N': return Error(start, "\\N{...} escapes are not supported in string literals");
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) {
              cp = cp * 8 + static_cast<uint32_t>(src_[i++] - '0');
            }
            AppendUtf8(&value, cp);
          } else {
            value.push_back('\\');  // unknown escapes stay as written
            --i;
          }
      }
    }
    Token t = MakeToken(TokenType::kString, start, std::move(value));
    tokens_.push_back(std::move(t));
    *pos = i + 1;
    return Status::Ok();
  }

  void EmitText(size_t offset, std::string text) {
    if (text.empty()) return;
    Push(TokenType::kText, offset, std::move(text));
  }

  Token MakeToken(TokenType type, size_t offset, std::string value) {
    Token t;
    t.type = type;
    t.value = std::move(value);
    t.loc = LocationAt(offset);
    return t;
  }

  void Push(TokenType type, size_t offset, std::string value) {
    tokens_.push_back(MakeToken(type, offset, std::move(value)));
  }

  Status Error(size_t offset, const std::string& message) {
    return InvalidArgument(LocatedMessage(LocationAt(offset), message));
  }

  // Offsets arrive almost in order, so a forward-moving cursor makes this
  // linear overall; columns count code points.
  Location LocationAt(size_t offset) {
    if (offset < cursor_offset_) {
      cursor_offset_ = 0;
      cursor_ = Location{1, 1};
    }
    size_t length = 0;
    while (cursor_offset_ < offset && cursor_offset_ < src_.size()) {
      if (src_[cursor_offset_] == '\n') {
        ++cursor_.line;
        cursor_.column = 1;
        ++cursor_offset_;
      } else {
        Utf8Decode(src_, cursor_offset_, &length);
        cursor_offset_ += length;
        ++cursor_.column;
      }
    }
    return cursor_;
  }

  std::string src_;
  std::vector<Token> tokens_;
  size_t cursor_offset_ = 0;
  Location cursor_{1, 1};
};

}  // namespace

Result<std::vector<Token>> Tokenize(std::string_view source) {
  Lexer lexer(NormalizeNewlines(source));
  return lexer.Run();
}

}  // namespace jinja
}  // namespace kite
