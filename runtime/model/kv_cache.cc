#include "runtime/model/kv_cache.h"

#include <algorithm>
#include <string>

namespace kite {

Status KvCache::Init(const std::vector<KvLayerSpec>& layers, int64_t row, int64_t context_tokens, int64_t max_batch,
                     bool ring_for_windowed) {
  if (row <= 0 || context_tokens <= 0 || max_batch <= 0) {
    return InvalidArgument("KV cache: row, context and batch sizes must be positive");
  }
  uint64_t total_floats = 0;
  layers_.assign(layers.size(), Layer());
  for (size_t l = 0; l < layers.size(); ++l) {
    Layer& layer = layers_[l];
    layer.window = layers[l].window;
    if (layer.window < 0) return InvalidArgument("KV cache: negative window at layer " + std::to_string(l));
    layer.slots = context_tokens;
    if (layer.window > 0 && ring_for_windowed) layer.slots = std::min(context_tokens, layer.window + max_batch - 1);
    total_floats += 2ull * static_cast<uint64_t>(layer.slots) * static_cast<uint64_t>(row);
  }
  if (total_floats * sizeof(float) > (1ull << 40)) {
    return InvalidArgument("context of " + std::to_string(context_tokens) + " tokens needs too much KV memory");
  }
  for (Layer& layer : layers_) {
    layer.k.assign(static_cast<size_t>(layer.slots * row), 0.0f);
    layer.v.assign(static_cast<size_t>(layer.slots * row), 0.0f);
  }
  row_ = row;
  capacity_tokens_ = context_tokens;
  written_end_ = 0;
  return Status::Ok();
}

uint64_t KvCache::bytes() const {
  uint64_t b = 0;
  for (const Layer& layer : layers_) b += (layer.k.size() + layer.v.size()) * sizeof(float);
  return b;
}

Status KvCache::CheckCanWrite(int64_t pos, int64_t n) const {
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    if (layer.slots >= capacity_tokens_) continue;  // keeps every position
    // Oldest position the ring still holds vs the oldest key position pos's window needs.
    const int64_t oldest_kept = std::max<int64_t>(0, written_end_ - layer.slots);
    const int64_t oldest_needed = std::max<int64_t>(0, pos - layer.window + 1);
    const bool needs_older_keys = oldest_needed < pos;  // keys before pos, written by earlier passes
    if (needs_older_keys && pos < written_end_ && oldest_needed < oldest_kept) {
      return InvalidArgument("the sliding-window cache of layer " + std::to_string(l) + " no longer holds position " +
                             std::to_string(oldest_needed) + " (it keeps " + std::to_string(layer.slots) +
                             " positions, up to " + std::to_string(written_end_ - 1) +
                             "); rewinding this far needs the conversation to be evaluated again from the start");
    }
  }
  (void)n;
  return Status::Ok();
}

void KvCache::MarkWritten(int64_t pos, int64_t n) { written_end_ = pos + n; }

}  // namespace kite
