// Y = X W^T on the CPU for any stored weight dtype, split across the thread
// pool by output columns. Quantized weights get their activations quantized
// once per call into caller-provided scratch (no allocation per step).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/gemm.h"
#include "runtime/core/thread_pool.h"
#include "runtime/model/weights.h"

namespace kite {

struct MatMulScratch {
  std::vector<int8_t> xq;       // [max_m][K_pad]
  std::vector<float> x_scales;  // [max_m][K_pad / 32]
  // Sizes the buffers for up to max_m rows of up to max_k columns.
  void Reserve(int64_t max_m, int64_t max_k);
};

// x: [m][w.cols] f32, y: [m][ldy] with columns [0, w.rows) written.
void MatMul(const kernels::GemmKernels& kernels, ThreadPool& pool, MatMulScratch& scratch, const Matrix& w,
            const float* x, int64_t m, float* y, int64_t ldy);

// Writes row `row` of a weight matrix as f32 (embedding lookup).
void DequantizeRow(const Matrix& w, int64_t row, float* out);

}  // namespace kite
