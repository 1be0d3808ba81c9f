// UTF-8 and Unicode helpers the tokenizer stages share: strict decoding,
// Rust-compatible lossy decoding (String::from_utf8_lossy), the character
// classes Hugging Face tokenizers test with Rust's char methods, Unicode
// normalization forms (utf8proc) and GPT-2's byte <-> printable-char table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/core/status.h"

namespace kite {
namespace tok {

// Decodes the sequence at s[i] (i < s.size()). Returns its length (1-4) and sets *cp,
// or returns 0 when it is ill-formed and sets *bad_len to the length of its maximal
// ill-formed subpart (what one U+FFFD replaces, as Unicode and Rust define it).
size_t DecodeUtf8(std::string_view s, size_t i, char32_t* cp, size_t* bad_len);

// Decodes a sequence already known to be valid (tokenizer-internal strings).
inline size_t NextCodePoint(std::string_view s, size_t i, char32_t* cp) {
  size_t bad = 0;
  size_t n = DecodeUtf8(s, i, cp, &bad);
  if (n == 0) {  // never expected; degrade to one byte so loops still advance
    *cp = 0xFFFD;
    return bad == 0 ? 1 : bad;
  }
  return n;
}

// Byte offset of the first ill-formed sequence, or std::string::npos if s is valid.
size_t FindInvalidUtf8(std::string_view s);
// Valid UTF-8 with every ill-formed subpart replaced by U+FFFD.
std::string Utf8Lossy(std::string_view bytes);
void AppendUtf8(char32_t cp, std::string* out);

// Rust char::is_whitespace (the White_Space property).
bool IsWhitespace(char32_t cp);
// Rust char::is_numeric (general categories Nd, Nl, No).
bool IsNumeric(char32_t cp);
// Rust regex \w (alphabetic, marks, decimal digits, connector punctuation, joiners).
bool IsWordChar(char32_t cp);
// ASCII punctuation or a Unicode P* category (tokenizers' Punctuation pre-tokenizer).
bool IsPunctuation(char32_t cp);
// Unicode Mn (what StripAccents removes after NFD).
bool IsNonSpacingMark(char32_t cp);

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };
// Rewrites *text (valid UTF-8) into the given normalization form.
Status NormalizeUnicode(NormalForm form, std::string* text);
// Full lowercase mapping per code point, like Rust's char::to_lowercase.
std::string Lowercase(std::string_view text);

// GPT-2 bytes_to_unicode(): the UTF-8 text of the printable char standing for `byte`.
const std::string& ByteToUnicode(uint8_t byte);
// The byte a printable char stands for, or -1 if cp is not in the table.
int UnicodeToByte(char32_t cp);

}  // namespace tok
}  // namespace kite
