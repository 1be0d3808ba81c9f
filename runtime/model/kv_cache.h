// The per-session K/V cache shared by the attention families (Llama/Qwen/
// Mistral, GPT-2, Gemma 3). Each layer holds its rows in a ring of `slots`
// rows: a full-attention layer has one slot per context position (the ring
// never wraps), a sliding-window layer only window + max_batch - 1, so its
// memory stays bounded however long the conversation grows. Position p lives
// in slot p % slots.
//
// Why window + max_batch - 1: a forward pass writes the K/V of up to
// max_batch tokens before any of them attends. The first of them, at position
// p, still needs keys back to p - window + 1, which the batch's last write
// (p + max_batch - 1) must not have overwritten.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/core/status.h"

namespace kite {

struct KvLayerSpec {
  int64_t window = 0;  // 0: full attention (keys 0..p); W: keys p-W+1..p
};

class KvCache {
 public:
  // row: floats per position per layer for K and for V (kv_heads * head_dim).
  // ring_for_windowed = false keeps every position of windowed layers too (tests compare both).
  Status Init(const std::vector<KvLayerSpec>& layers, int64_t row, int64_t context_tokens, int64_t max_batch,
              bool ring_for_windowed = true);

  float* K(int64_t layer, int64_t pos) { return layers_[layer].k.data() + Slot(layer, pos) * row_; }
  float* V(int64_t layer, int64_t pos) { return layers_[layer].v.data() + Slot(layer, pos) * row_; }
  const float* K(int64_t layer, int64_t pos) const { return layers_[layer].k.data() + Slot(layer, pos) * row_; }
  const float* V(int64_t layer, int64_t pos) const { return layers_[layer].v.data() + Slot(layer, pos) * row_; }
  int64_t Slot(int64_t layer, int64_t pos) const { return pos % layers_[layer].slots; }
  int64_t slots(int64_t layer) const { return layers_[layer].slots; }
  int64_t window(int64_t layer) const { return layers_[layer].window; }
  int64_t row() const { return row_; }
  int64_t capacity_tokens() const { return capacity_tokens_; }
  uint64_t bytes() const;

  // Checks that a pass at positions [pos, pos + n) finds every key it needs: after a rewind
  // (Session::Truncate) a ring may already have overwritten the positions just before `pos`.
  Status CheckCanWrite(int64_t pos, int64_t n) const;
  // Records that positions up to pos + n - 1 have been written.
  void MarkWritten(int64_t pos, int64_t n);

 private:
  struct Layer {
    int64_t window = 0;
    int64_t slots = 0;
    std::vector<float> k, v;  // [slots][row]
  };
  std::vector<Layer> layers_;
  int64_t row_ = 0;
  int64_t capacity_tokens_ = 0;
  int64_t written_end_ = 0;  // one past the highest position written
};

}  // namespace kite
