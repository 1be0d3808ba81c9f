// Y = X W^T on the CPU for any stored weight dtype, split across the thread
// pool by output columns. Quantized weights get their activations quantized
// once per call into caller-provided scratch (no allocation per step). f32/f16
// matrices that the Engine packed for XNNPACK (Matrix::xnnpack) go through
// XNNPACK for the prefill shapes its rule picks (m >= 2 only; decode never).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/gemm.h"
#include "runtime/backend/xnnpack/xnnpack_matmul.h"
#include "runtime/core/thread_pool.h"
#include "runtime/model/weights.h"

namespace kite {

struct MatMulScratch {
  std::vector<int8_t> xq;       // [max_m][K_pad]
  std::vector<float> x_scales;  // [max_m][K_pad / 32]
  // Q4 prefill activations of kernel sets with a gemm_q4_prefill (see kernels/gemm.h), 64 bytes of
  // slack for alignment; empty when max_m is 1.
  std::vector<uint8_t> q4_prefill;
  // Sizes the buffers for up to max_m rows of up to max_k columns.
  void Reserve(int64_t max_m, int64_t max_k);
  void* Q4PrefillData();
};

// Floats the buffer holding x must have readable past its last row: XNNPACK's kernels may over-read
// that far (never write). Models size their MatMul input buffers [max_batch][cols] + this.
constexpr int64_t kMatMulInputPadFloats = kXnnpackExtraBytes / sizeof(float);

// x: [m][w.cols] f32 (followed by kMatMulInputPadFloats readable floats when w.xnnpack is set),
// y: [m][ldy] with columns [0, w.rows) written.
void MatMul(const kernels::GemmKernels& kernels, ThreadPool& pool, MatMulScratch& scratch, const Matrix& w,
            const float* x, int64_t m, float* y, int64_t ldy);

// Writes row `row` of a weight matrix as f32 (embedding lookup).
void DequantizeRow(const Matrix& w, int64_t row, float* out);

}  // namespace kite
