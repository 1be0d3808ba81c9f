#include "runtime/llm/tokenizer/added_tokens.h"

#include <algorithm>

#include "runtime/llm/tokenizer/unicode.h"

namespace kite {
namespace tok {

namespace {

// The code point that ends at `end` (text[..end] is valid UTF-8 and non-empty).
char32_t LastCodePoint(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
  char32_t cp;
  NextCodePoint(text, start, &cp);
  return cp;
}

}  // namespace

void AddedTokenMatcher::Add(Entry entry) {
  if (entry.pattern.empty()) return;
  int32_t node = 0;
  for (char c : entry.pattern) {
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(c);
    auto it = edges_.find(key);
    if (it == edges_.end()) {
      const int32_t child = static_cast<int32_t>(node_entry_.size());
      node_entry_.push_back(-1);
      it = edges_.emplace(key, child).first;
    }
    node = it->second;
  }
  if (node_entry_[node] >= 0) return;  // duplicate pattern
  first_byte_[static_cast<uint8_t>(entry.pattern[0])] = true;
  node_entry_[node] = static_cast<int32_t>(entries_.size());
  entries_.push_back(std::move(entry));
}

size_t AddedTokenMatcher::LongestAt(std::string_view text, size_t pos, int32_t* entry) const {
  size_t best_end = 0;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto it = edges_.find((static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(text[i]));
    if (it == edges_.end()) break;
    node = it->second;
    if (node_entry_[node] >= 0) {
      best_end = i + 1;
      *entry = node_entry_[node];
    }
  }
  return best_end;
}

void AddedTokenMatcher::Split(std::string_view text, bool parse_special, std::vector<AddedSegment>* out) const {
  size_t start_offset = 0;  // end of what has been emitted
  size_t pos = 0;           // where the next search starts (after the previous raw match)
  while (pos < text.size() && !entries_.empty()) {
    // Leftmost, then longest, like aho-corasick's LeftmostLongest find_iter.
    size_t s = pos, e = 0;
    int32_t index = -1;
    for (; s < text.size(); ++s) {
      if (!first_byte_[static_cast<uint8_t>(text[s])]) continue;
      e = LongestAt(text, s, &index);
      if (e > 0) break;
    }
    if (e == 0) break;
    pos = e;
    const Entry& token = entries_[index];
    if (token.special && !parse_special) continue;
    if (token.single_word) {
      const bool space_before = s == 0 || !IsWordChar(LastCodePoint(text, s));
      char32_t next = 0;
      if (e < text.size()) NextCodePoint(text, e, &next);
      const bool space_after = e == text.size() || !IsWordChar(next);
      if (!space_before || !space_after) continue;
    }
    size_t start = s, stop = e;
    if (token.lstrip) {
      while (start > start_offset && IsWhitespace(LastCodePoint(text, start))) {
        size_t back = start - 1;
        while (back > 0 && (static_cast<uint8_t>(text[back]) & 0xC0) == 0x80) --back;
        start = back;
      }
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        char32_t cp;
        size_t n = NextCodePoint(text, stop, &cp);
        if (!IsWhitespace(cp)) break;
        stop += n;
      }
      pos = std::max(pos, stop);  // never match inside the whitespace just taken
    }
    start = std::max(start, start_offset);
    if (start_offset < start) out->push_back({start_offset, start, -1});
    out->push_back({start, stop, token.id});
    start_offset = stop;
  }
  if (start_offset < text.size()) out->push_back({start_offset, text.size(), -1});
}

}  // namespace tok
}  // namespace kite
