// The BPE model of tokenizer.json: a word's characters (with byte fallback and
// <unk> handling) merged pair by pair in merge-rank order, exactly like HF's
// Word::merge_all (a heap of (rank, position); stale entries skipped).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/llm/tokenizer_spec.h"

namespace kite {
namespace tok {

// Open-addressing map (left id, right id) -> (rank, merged id): 151k merges load in
// milliseconds and a lookup is one multiply and, usually, one probe.
class MergeTable {
 public:
  struct Entry {
    uint64_t key;
    uint32_t rank;
    int32_t merged_id;
  };
  void Reserve(size_t count);
  // A later insert of the same pair replaces the earlier one (HF collects merges into a HashMap).
  void Insert(uint32_t left, uint32_t right, uint32_t rank, int32_t merged_id);
  const Entry* Find(int32_t left, int32_t right) const;

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  size_t Slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
  std::vector<Entry> slots_;
  int shift_ = 64;
};

class BpeModel {
 public:
  // `vocab` is the token text by id; it must outlive the model (the Tokenizer owns both).
  static Result<std::unique_ptr<BpeModel>> Create(const TokenizerSpec& spec,
                                                  const std::vector<std::string>& vocab);
  // Appends the ids of one pre-tokenized word.
  void Tokenize(std::string_view word, std::vector<int32_t>* ids) const;
  // Id of a vocabulary string, or -1.
  int32_t Find(std::string_view text) const;

 private:
  BpeModel() = default;
  void MergeAll(std::vector<int32_t>* symbols) const;

  std::unordered_map<std::string_view, int32_t> index_;
  MergeTable merges_;
  std::array<int32_t, 256> byte_ids_{};  // id of "<0xXX>" or -1
  int32_t unk_id_ = -1;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  std::string prefix_;  // continuing_subword_prefix
  std::string suffix_;  // end_of_word_suffix
};

}  // namespace tok
}  // namespace kite
