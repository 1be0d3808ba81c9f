// UTF-8 helpers for the chat-template engine. Python strings are sequences of
// code points, so length, indexing, slicing and case mapping work on code
// points here. Invalid UTF-8 never fails: each stray byte counts as one unit
// and is copied through unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kite {
namespace jinja {

// Byte length of the unit starting at s[pos] (1 for an invalid byte).
size_t Utf8UnitLength(std::string_view s, size_t pos);
// Decodes the unit at s[pos]; invalid bytes decode to 0xDC00 + byte (like
// Python's surrogateescape) so they never compare equal to a real character.
uint32_t Utf8Decode(std::string_view s, size_t pos, size_t* length);
void AppendUtf8(std::string* out, uint32_t code_point);

// Number of code points.
size_t Utf8Length(std::string_view s);
// Byte offsets of every unit start, plus s.size() at the end.
std::vector<size_t> Utf8Offsets(std::string_view s);
std::vector<uint32_t> Utf8CodePoints(std::string_view s);

// Python's str.isspace() for one code point.
bool IsPySpace(uint32_t cp);
// Python's str.isprintable() (approximate outside Latin-1: the common
// invisible and separator characters are treated as non-printable).
bool IsPyPrintable(uint32_t cp);
bool IsPyAlpha(uint32_t cp);
bool IsPyDigit(uint32_t cp);
// Simple one-to-one case mapping: ASCII, Latin-1, Latin Extended-A, Greek and
// Cyrillic. Other scripts map to themselves.
uint32_t ToUpperCp(uint32_t cp);
uint32_t ToLowerCp(uint32_t cp);
bool IsUpperCp(uint32_t cp);
bool IsLowerCp(uint32_t cp);

std::string ToUpper(std::string_view s);
std::string ToLower(std::string_view s);

// Python's str.strip/lstrip/rstrip. `chars` null means whitespace.
std::string PyStrip(std::string_view s, const std::string* chars, bool left, bool right);

}  // namespace jinja
}  // namespace kite
