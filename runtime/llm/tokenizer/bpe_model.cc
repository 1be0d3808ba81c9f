#include "runtime/llm/tokenizer/bpe_model.h"

#include <algorithm>
#include <cstdio>

#include "runtime/llm/tokenizer/unicode.h"

namespace kite {
namespace tok {

void MergeTable::Reserve(size_t count) {
  size_t capacity = 16;
  shift_ = 60;
  while (capacity < count * 2) {  // load factor <= 0.5 keeps probe runs short
    capacity *= 2;
    --shift_;
  }
  slots_.assign(capacity, Entry{kEmpty, 0, -1});
}

void MergeTable::Insert(uint32_t left, uint32_t right, uint32_t rank, int32_t merged_id) {
  const uint64_t key = (uint64_t{left} << 32) | right;
  const size_t mask = slots_.size() - 1;
  for (size_t i = Slot(key);; i = (i + 1) & mask) {
    if (slots_[i].key == kEmpty || slots_[i].key == key) {
      slots_[i] = Entry{key, rank, merged_id};
      return;
    }
  }
}

const MergeTable::Entry* MergeTable::Find(int32_t left, int32_t right) const {
  if (slots_.empty()) return nullptr;
  const uint64_t key = (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
  const size_t mask = slots_.size() - 1;
  for (size_t i = Slot(key);; i = (i + 1) & mask) {
    if (slots_[i].key == key) return &slots_[i];
    if (slots_[i].key == kEmpty) return nullptr;
  }
}

Result<std::unique_ptr<BpeModel>> BpeModel::Create(const TokenizerSpec& spec,
                                                   const std::vector<std::string>& vocab) {
  if (spec.model_type != "BPE") {
    return Unsupported("tokenizer model type '" + spec.model_type + "' is not supported (BPE only)");
  }
  std::unique_ptr<BpeModel> model(new BpeModel());
  const size_t n = vocab.size();
  model->index_.reserve(n);
  for (size_t id = 0; id < n; ++id) {
    if (vocab[id].empty()) continue;  // a hole in the id range
    model->index_.emplace(vocab[id], static_cast<int32_t>(id));  // first id wins on duplicates
  }
  if (spec.unk_id >= 0 && static_cast<size_t>(spec.unk_id) >= n) {
    return InvalidArgument("unk_id " + std::to_string(spec.unk_id) + " is outside the vocabulary (" +
                           std::to_string(n) + " tokens)");
  }
  model->unk_id_ = spec.unk_id;
  model->byte_fallback_ = spec.byte_fallback;
  model->fuse_unk_ = spec.fuse_unk;
  model->ignore_merges_ = spec.ignore_merges;
  model->prefix_ = spec.continuing_subword_prefix;
  model->suffix_ = spec.end_of_word_suffix;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    model->byte_ids_[b] = model->Find(name);
  }

  model->merges_.Reserve(spec.merges.size());
  std::string merged;
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const uint32_t left = spec.merges[rank].first, right = spec.merges[rank].second;
    if (left >= n || right >= n) {
      return InvalidArgument("merge " + std::to_string(rank) + " (" + std::to_string(left) + ", " +
                             std::to_string(right) + ") refers to an id outside the vocabulary (" +
                             std::to_string(n) + " tokens)");
    }
    // The merged token is left + right, less right's continuing-subword prefix.
    std::string_view right_text = vocab[right];
    if (!model->prefix_.empty() && right_text.substr(0, model->prefix_.size()) == model->prefix_) {
      right_text.remove_prefix(model->prefix_.size());
    }
    merged.assign(vocab[left]);
    merged.append(right_text.data(), right_text.size());
    const int32_t merged_id = model->Find(merged);
    if (merged_id < 0) {
      return InvalidArgument("merge " + std::to_string(rank) + " ('" + vocab[left] + "' '" + vocab[right] +
                             "'): the merged token '" + merged + "' is not in the vocabulary");
    }
    model->merges_.Insert(left, right, static_cast<uint32_t>(rank), merged_id);
  }
  return model;
}

int32_t BpeModel::Find(std::string_view text) const {
  auto it = index_.find(text);
  return it == index_.end() ? -1 : it->second;
}

void BpeModel::Tokenize(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    const int32_t id = Find(word);
    if (id >= 0) {
      ids->push_back(id);
      return;
    }
  }
  std::vector<int32_t> symbols;
  symbols.reserve(word.size());
  bool unk_pending = false;  // a fused <unk> still open
  std::string decorated;
  size_t i = 0;
  while (i < word.size()) {
    char32_t cp;
    const size_t len = NextCodePoint(word, i, &cp);
    std::string_view piece = word.substr(i, len);
    const bool first = i == 0;
    i += len;
    const bool last = i >= word.size();
    if ((!first && !prefix_.empty()) || (last && !suffix_.empty())) {
      decorated.assign(first ? "" : prefix_);
      decorated.append(piece.data(), piece.size());
      if (last) decorated += suffix_;
      piece = decorated;
    }
    const int32_t id = Find(piece);
    if (id >= 0) {
      if (unk_pending) symbols.push_back(unk_id_);
      unk_pending = false;
      symbols.push_back(id);
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes = true;
      for (char c : piece) all_bytes = all_bytes && byte_ids_[static_cast<uint8_t>(c)] >= 0;
      if (all_bytes) {
        if (unk_pending) symbols.push_back(unk_id_);
        unk_pending = false;
        for (char c : piece) symbols.push_back(byte_ids_[static_cast<uint8_t>(c)]);
        continue;
      }
    }
    if (unk_id_ < 0) continue;  // no <unk>: HF drops the character
    if (unk_pending && !fuse_unk_) symbols.push_back(unk_id_);
    unk_pending = true;
  }
  if (unk_pending) symbols.push_back(unk_id_);
  MergeAll(&symbols);
  ids->insert(ids->end(), symbols.begin(), symbols.end());
}

void BpeModel::MergeAll(std::vector<int32_t>* ids) const {
  const size_t n = ids->size();
  if (n < 2) return;
  struct Symbol {
    int32_t id, prev, next;
    bool alive;
  };
  struct Candidate {
    uint32_t rank;
    int32_t pos, merged_id;
  };
  // Lowest rank first, then leftmost: the heap's "largest" element is that one.
  auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  std::vector<Symbol> sym(n);
  for (size_t k = 0; k < n; ++k) {
    sym[k] = Symbol{(*ids)[k], static_cast<int32_t>(k) - 1, k + 1 < n ? static_cast<int32_t>(k + 1) : -1, true};
  }
  std::vector<Candidate> heap;
  heap.reserve(n);
  for (size_t k = 0; k + 1 < n; ++k) {
    if (const MergeTable::Entry* e = merges_.Find(sym[k].id, sym[k + 1].id)) {
      heap.push_back({e->rank, static_cast<int32_t>(k), e->merged_id});
    }
  }
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& cur = sym[top.pos];
    if (!cur.alive || cur.next < 0) continue;
    const int32_t right = cur.next;
    // Skip entries made stale by an earlier merge at this position.
    const MergeTable::Entry* e = merges_.Find(cur.id, sym[right].id);
    if (e == nullptr || e->merged_id != top.merged_id) continue;
    cur.id = top.merged_id;
    cur.next = sym[right].next;
    sym[right].alive = false;
    if (cur.next >= 0) sym[cur.next].prev = top.pos;
    if (cur.prev >= 0) {
      if (const MergeTable::Entry* p = merges_.Find(sym[cur.prev].id, cur.id)) {
        heap.push_back({p->rank, cur.prev, p->merged_id});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
    if (cur.next >= 0) {
      if (const MergeTable::Entry* q = merges_.Find(cur.id, sym[cur.next].id)) {
        heap.push_back({q->rank, top.pos, q->merged_id});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
  }
  ids->clear();
  for (const Symbol& s : sym) {
    if (s.alive) ids->push_back(s.id);
  }
}

}  // namespace tok
}  // namespace kite
