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
//
// Rows are stored as f32, f16 (the default of sessions: half the memory and
// half the attention traffic, error well under the quantized weights') or
// int8 with one f32 scale per token row and KV head (a quarter, for long
// contexts on small devices). Everything is allocated by Init.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/attention.h"
#include "runtime/core/status.h"

namespace kite {

struct KvLayerSpec {
  int64_t window = 0;  // 0: full attention (keys 0..p); W: keys p-W+1..p
};

// "f32", "f16", "q8" (as options and the CLI spell them).
const char* KvFormatName(kernels::KvFormat format);
bool ParseKvFormat(const char* name, kernels::KvFormat* format);

class KvCache {
 public:
  // row: values per position per layer for K and for V (kv_heads * head_dim); head_dim: the
  // width of one KV head (Q8 keeps a scale per head). ring_for_windowed = false keeps every
  // position of windowed layers too (tests compare both).
  Status Init(const std::vector<KvLayerSpec>& layers, int64_t row, int64_t head_dim, int64_t context_tokens,
              int64_t max_batch, bool ring_for_windowed = true,
              kernels::KvFormat format = kernels::KvFormat::kF32);

  // Stores position pos's K and V rows (row() floats each) in the layer's format.
  void Write(int64_t layer, int64_t pos, const float* k, const float* v);
  // What the attention kernels read for a layer (its ring included).
  kernels::KvCacheView View(int64_t layer) const;

  int64_t Slot(int64_t layer, int64_t pos) const { return pos % layers_[layer].slots; }
  int64_t slots(int64_t layer) const { return layers_[layer].slots; }
  int64_t window(int64_t layer) const { return layers_[layer].window; }
  int64_t row() const { return row_; }
  kernels::KvFormat format() const { return format_; }
  int64_t capacity_tokens() const { return capacity_tokens_; }
  uint64_t bytes() const;
  // Bytes one position takes in a layer (K and V, scales included).
  uint64_t bytes_per_position() const;

  // Checks that a pass at positions [pos, pos + n) finds every key it needs: after a rewind
  // (Session::Truncate) a ring may already have overwritten the positions just before `pos`.
  Status CheckCanWrite(int64_t pos, int64_t n) const;
  // Records that positions up to pos + n - 1 have been written.
  void MarkWritten(int64_t pos, int64_t n);

 private:
  struct Layer {
    int64_t window = 0;
    int64_t slots = 0;
    std::vector<uint8_t> k, v;        // [slots][row] values of format_
    std::vector<float> k_scale, v_scale;  // Q8: [slots][n_kv_heads]
  };
  std::vector<Layer> layers_;
  kernels::KvFormat format_ = kernels::KvFormat::kF32;
  int64_t row_ = 0;
  int64_t head_dim_ = 0;
  int64_t capacity_tokens_ = 0;
  int64_t written_end_ = 0;  // one past the highest position written
};

}  // namespace kite
