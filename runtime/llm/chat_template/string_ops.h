// Python str operations shared by filters and string methods, working on
// code points: replace, split, splitlines, find, padding, number parsing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/status.h"

namespace kite {
namespace jinja {

std::string PyCapitalize(std::string_view s);
// str.title(): a letter after a non-letter is upper-cased, others lowered.
std::string PyTitle(std::string_view s);
std::string PySwapCase(std::string_view s);
// str.replace(old, new, count); count < 0 replaces all. Fails past max_bytes.
Result<std::string> PyReplace(std::string_view s, std::string_view old_text, std::string_view new_text, int64_t count,
                              size_t max_bytes);
std::vector<std::string> PySplitLines(std::string_view s, bool keep_ends);
// str.split / str.rsplit; sep null splits on whitespace runs. sep must not be empty.
std::vector<std::string> PySplit(std::string_view s, const std::string* sep, int64_t max_split, bool from_right);
// Code-point index of the first (or last) occurrence, or -1.
int64_t PyFind(std::string_view s, std::string_view sub, bool from_right);
int64_t PyCount(std::string_view s, std::string_view sub);
// Pads to `width` code points; align is 'l', 'r' or 'c' (str.center's split).
Result<std::string> PyPad(std::string_view s, int64_t width, uint32_t fill, char align, size_t max_bytes);
// int(s, base) and float(s): surrounding whitespace and `_` separators allowed.
bool PyParseInt(std::string_view s, int64_t base, int64_t* out);
bool PyParseFloat(std::string_view s, double* out);

}  // namespace jinja
}  // namespace kite
