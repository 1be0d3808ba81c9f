// The scalar reference kernel set with a gemm_q4_transposed: it undoes the transposed groups
// (kernels/quant_formats.h) and runs the reference gemm_q4, so a model whose matrices were rearranged
// for it must give the same numbers, bit for bit, as the reference set on the stored bytes. Tests of
// the rearrangement run natively with it (the one real such kernel is in the relaxed wasm module).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/quant_formats.h"
#include "kernels/quantize.h"

namespace kite {
namespace testing {

// gemm_q4 over rows [0, a.n_end) of w stored in transposed groups (row pairs: an odd n_end's row
// has its pair's second row after it).
inline void TransposedThroughReference(const kernels::GemmArgs& a, const uint8_t* w, const uint16_t* scales,
                                       int64_t group, const int8_t* xq, const float* x_scales) {
  const int64_t row_bytes = Q4RowBytes(a.k, group), rows = RoundUp(a.n_end, 2);
  std::vector<uint8_t> stored(w, w + rows * row_bytes);
  kernels::UntransposeQ4Groups(stored.data(), rows, a.k, group);
  kernels::ReferenceGemmKernels().gemm_q4(a, stored.data(), scales, group, xq, x_scales);
}

inline kernels::GemmKernels ReferenceKernelsWithTransposedQ4() {
  kernels::GemmKernels set = kernels::ReferenceGemmKernels();
  set.gemm_q4_transposed = TransposedThroughReference;
  return set;
}

}  // namespace testing
}  // namespace kite
