// Converts one checkpoint tensor into its artifact dtype and streams it into
// an ArtifactWriter a block of rows at a time, so that memory use stays at a
// few MB whatever the tensor's size. Measures the error the conversion adds.
#pragma once

#include <cstdint>
#include <functional>

#include "converter/safetensors.h"
#include "runtime/artifact/artifact_writer.h"
#include "runtime/core/status.h"

namespace kite {

// Sums over elements of (w - converted)^2 and w^2, in double.
struct ErrorStats {
  double sum_sq_error = 0.0;
  double sum_sq_weight = 0.0;
  void Add(const ErrorStats& other) {
    sum_sq_error += other.sum_sq_error;
    sum_sq_weight += other.sum_sq_weight;
  }
  // sqrt(sum (w - deq)^2 / sum w^2); 0 for an all-zero tensor converted exactly.
  double relative_rms() const;
};

// How an artifact tensor is read from its checkpoint tensor.
enum class SourceLayout {
  kSame,    // same shape, same order
  kConv1D,  // source [in, out_total] (GPT-2 Conv1D); the tensor is columns [offset, offset + rows)
            // transposed to Kite's [out, in]: [rows, in]
  kSlice,   // 1-D: source elements [offset, offset + n)
};

// `source` (F32/F16/BF16) -> `spec` (F32, F16, Q8 or Q4), written as the writer's current tensor
// (this ends it). With kSame the shapes must agree; otherwise `layout` and `offset` say which part
// of the source, in which order, makes up spec's shape. Fails on NaN/inf weights and on values f16
// cannot hold. `on_bytes(n)` is called as output bytes are written. Q8/Q4 use kernels/quantize.h.
Status EncodeTensor(const SourceTensor& source, const TensorSpec& spec, ArtifactWriter* writer, ErrorStats* stats,
                    const std::function<void(uint64_t)>& on_bytes = nullptr, SourceLayout layout = SourceLayout::kSame,
                    int64_t offset = 0);

}  // namespace kite
