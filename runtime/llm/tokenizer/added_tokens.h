// Finds added tokens (<|im_start|>, <s>, <tool_call> ...) in text the way HF's
// AddedVocabulary::find_matches does: a leftmost-longest scan over a byte trie,
// then the single_word / lstrip / rstrip rules of the matched token.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kite {
namespace tok {

struct AddedSegment {
  size_t begin = 0;
  size_t end = 0;
  int32_t id = -1;  // -1: text between added tokens
};

class AddedTokenMatcher {
 public:
  struct Entry {
    std::string pattern;  // what is searched for (normalized content for normalized tokens)
    int32_t id = -1;
    bool special = false;
    bool lstrip = false;
    bool rstrip = false;
    bool single_word = false;
  };
  // The first entry wins when two share a pattern; empty patterns are ignored.
  void Add(Entry entry);
  bool empty() const { return entries_.empty(); }

  // Covers `text` with segments: matched tokens and the text around them. With
  // parse_special false, special tokens are left in the text (HF's
  // encode_special_tokens); non-special added tokens are still matched.
  void Split(std::string_view text, bool parse_special, std::vector<AddedSegment>* out) const;

 private:
  // Longest pattern starting at `pos`: sets *entry and returns its end, or 0 if none.
  size_t LongestAt(std::string_view text, size_t pos, int32_t* entry) const;

  std::vector<Entry> entries_;
  std::vector<int32_t> node_entry_{-1};                // trie node -> entry index or -1
  std::unordered_map<uint64_t, int32_t> edges_;        // (node << 8 | byte) -> child node
  std::array<bool, 256> first_byte_{};                 // bytes some pattern starts with
};

}  // namespace tok
}  // namespace kite
