#include "runtime/model/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/quantize.h"

namespace kite {
namespace {

uint64_t ValueBytes(kernels::KvFormat format) {
  switch (format) {
    case kernels::KvFormat::kF32: return 4;
    case kernels::KvFormat::kF16: return 2;
    case kernels::KvFormat::kQ8: return 1;
  }
  return 4;
}

}  // namespace

const char* KvFormatName(kernels::KvFormat format) {
  switch (format) {
    case kernels::KvFormat::kF32: return "f32";
    case kernels::KvFormat::kF16: return "f16";
    case kernels::KvFormat::kQ8: return "q8";
  }
  return "?";
}

bool ParseKvFormat(const char* name, kernels::KvFormat* format) {
  const std::string s = name == nullptr ? "" : name;
  if (s == "f32") *format = kernels::KvFormat::kF32;
  else if (s == "f16") *format = kernels::KvFormat::kF16;
  else if (s == "q8" || s == "int8") *format = kernels::KvFormat::kQ8;
  else return false;
  return true;
}

Status KvCache::Init(const std::vector<KvLayerSpec>& layers, int64_t row, int64_t head_dim, int64_t context_tokens,
                     int64_t max_batch, bool ring_for_windowed, kernels::KvFormat format) {
  if (row <= 0 || head_dim <= 0 || row % head_dim != 0 || context_tokens <= 0 || max_batch <= 0) {
    return InvalidArgument("KV cache: row, head, context and batch sizes must be positive (and a row whole heads)");
  }
  if (format != kernels::KvFormat::kF32 && format != kernels::KvFormat::kF16 && format != kernels::KvFormat::kQ8) {
    return InvalidArgument("KV cache: unknown format " + std::to_string(static_cast<int>(format)));
  }
  format_ = format;
  row_ = row;
  head_dim_ = head_dim;
  uint64_t total = 0;
  layers_.assign(layers.size(), Layer());
  for (size_t l = 0; l < layers.size(); ++l) {
    Layer& layer = layers_[l];
    layer.window = layers[l].window;
    if (layer.window < 0) return InvalidArgument("KV cache: negative window at layer " + std::to_string(l));
    layer.slots = context_tokens;
    if (layer.window > 0 && ring_for_windowed) layer.slots = std::min(context_tokens, layer.window + max_batch - 1);
    total += static_cast<uint64_t>(layer.slots) * bytes_per_position();
  }
  if (total > (1ull << 40)) {
    return InvalidArgument("context of " + std::to_string(context_tokens) + " tokens needs too much KV memory");
  }
  const bool q8 = format == kernels::KvFormat::kQ8;
  for (Layer& layer : layers_) {
    const size_t values = static_cast<size_t>(layer.slots * row) * ValueBytes(format);
    layer.k.assign(values, 0);
    layer.v.assign(values, 0);
    if (q8) {
      layer.k_scale.assign(static_cast<size_t>(layer.slots * (row / head_dim)), 0.0f);
      layer.v_scale.assign(layer.k_scale.size(), 0.0f);
    }
  }
  capacity_tokens_ = context_tokens;
  written_end_ = 0;
  return Status::Ok();
}

void KvCache::Write(int64_t layer, int64_t pos, const float* k, const float* v) {
  Layer& L = layers_[layer];
  const int64_t slot = Slot(layer, pos);
  switch (format_) {
    case kernels::KvFormat::kF32:
      std::memcpy(L.k.data() + slot * row_ * 4, k, row_ * sizeof(float));
      std::memcpy(L.v.data() + slot * row_ * 4, v, row_ * sizeof(float));
      return;
    case kernels::KvFormat::kF16: {
      uint16_t* kh = reinterpret_cast<uint16_t*>(L.k.data()) + slot * row_;
      uint16_t* vh = reinterpret_cast<uint16_t*>(L.v.data()) + slot * row_;
      kernels::FloatToHalfRow(k, kh, row_);
      kernels::FloatToHalfRow(v, vh, row_);
      return;
    }
    case kernels::KvFormat::kQ8: {
      const int64_t heads = row_ / head_dim_;
      kernels::QuantizeKvRowQ8(k, heads, head_dim_, reinterpret_cast<int8_t*>(L.k.data()) + slot * row_,
                               L.k_scale.data() + slot * heads);
      kernels::QuantizeKvRowQ8(v, heads, head_dim_, reinterpret_cast<int8_t*>(L.v.data()) + slot * row_,
                               L.v_scale.data() + slot * heads);
      return;
    }
  }
}

kernels::KvCacheView KvCache::View(int64_t layer) const {
  const Layer& L = layers_[layer];
  kernels::KvCacheView view;
  view.format = format_;
  view.k = L.k.data();
  view.v = L.v.data();
  view.row_stride = row_;
  if (format_ == kernels::KvFormat::kQ8) {
    view.k_scales = L.k_scale.data();
    view.v_scales = L.v_scale.data();
    view.scale_row_stride = row_ / head_dim_;
  }
  view.ring_rows = L.slots;  // position j in row j % slots (a full layer never wraps)
  return view;
}

uint64_t KvCache::bytes_per_position() const {
  uint64_t b = 2 * static_cast<uint64_t>(row_) * ValueBytes(format_);
  if (format_ == kernels::KvFormat::kQ8) b += 2 * static_cast<uint64_t>(row_ / head_dim_) * sizeof(float);
  return b;
}

uint64_t KvCache::bytes() const {
  uint64_t b = 0;
  for (const Layer& layer : layers_) b += static_cast<uint64_t>(layer.slots) * bytes_per_position();
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
