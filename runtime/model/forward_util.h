// The argument checks and batching every family's Forward shares.
#pragma once

#include <algorithm>
#include <cstdint>

#include "runtime/core/status.h"
#include "runtime/model/model_config.h"

namespace kite {

// n > 0, [pos, pos + n) inside the context, every token id inside the vocabulary.
Status CheckForwardInputs(const ModelConfig& config, const int32_t* tokens, int64_t n, int64_t pos,
                          int64_t capacity_tokens);

// Splits tokens[0..n) into chunks of at most max_batch and calls
// chunk(tokens + done, b, pos + done, logits_out) -> Status for each, where logits_out is where
// that chunk's logits go: all rows ([b][vocab]) when all_rows, the last row of the last chunk
// otherwise, or null. A template so that decode builds no std::function (no allocation).
template <typename Chunk>
Status ForEachChunk(const int32_t* tokens, int64_t n, int64_t pos, int64_t max_batch, int64_t vocab, float* logits,
                    bool all_rows, const Chunk& chunk) {
  for (int64_t done = 0; done < n; done += max_batch) {
    const int64_t b = std::min(max_batch, n - done);
    const bool last_chunk = done + b == n;
    float* out = nullptr;
    if (logits != nullptr && all_rows) out = logits + done * vocab;
    if (logits != nullptr && !all_rows && last_chunk) out = logits;
    KITE_RETURN_IF_ERROR(chunk(tokens + done, b, pos + done, out));
  }
  return Status::Ok();
}

}  // namespace kite
