#include "runtime/backend/cpu/cpu_matmul.h"

#include <algorithm>
#include <cstring>

#include "kernels/quant_formats.h"
#include "kernels/quantize.h"

namespace kite {

void MatMulScratch::Reserve(int64_t max_m, int64_t max_k) {
  const int64_t k_pad = RoundUp(max_k, 128);
  if (static_cast<int64_t>(xq.size()) < max_m * k_pad) xq.resize(max_m * k_pad);
  if (static_cast<int64_t>(x_scales.size()) < max_m * (k_pad / kQuantBlock)) x_scales.resize(max_m * (k_pad / kQuantBlock));
  const int64_t prefill_bytes = max_m >= 2 ? kernels::Q4PrefillBufferBytes(max_m, max_k) : 0;
  if (static_cast<int64_t>(q4_prefill.size()) < prefill_bytes) q4_prefill.resize(prefill_bytes);
}

void* MatMulScratch::Q4PrefillData() { return kernels::AlignQ4Prefill(q4_prefill.data()); }

void MatMul(const kernels::GemmKernels& k, ThreadPool& pool, MatMulScratch& scratch, const Matrix& w, const float* x,
            int64_t m, float* y, int64_t ldy) {
  // Prefill of a packed f32/f16 matrix: XNNPACK when its rule picks this shape (it returns false,
  // and Kite's kernels below run, when not; also on an XNNPACK error, overwriting all of y).
  if (m >= 2 && w.xnnpack != nullptr && w.xnnpack->n() == w.rows && w.xnnpack->k() == w.cols &&
      XnnpackMatMul(w.xnnpack, k, pool, x, m, y, ldy)) {
    return;
  }
  kernels::GemmArgs base;
  base.m = m;
  base.k = w.cols;
  base.ldy = ldy;
  base.y = y;
  const int64_t n = w.rows;
  const bool quantized = w.dtype == DType::kQ8 || w.dtype == DType::kQ4;
  // Reserve sized q4_prefill for every m >= 2 it allows; the check only guards a caller that skipped it.
  const bool q4_prefill = w.dtype == DType::kQ4 && !w.q4_transposed && m >= 2 && k.gemm_q4_prefill != nullptr &&
                          static_cast<int64_t>(scratch.q4_prefill.size()) >= kernels::Q4PrefillBufferBytes(m, w.cols);
  if (quantized) {
    // Rows are independent: a prompt's rows are quantized (and rearranged) in parallel; serially
    // they kept the second thread idle for ~8% of a 2-thread q4 prefill.
    const int64_t k_pad = Q8RowBytes(w.cols), blocks = k_pad / kQuantBlock;
    const int64_t prepared_row_bytes = kernels::Q4PrefillActivationBytes(1, w.cols);
    uint8_t* prepared = q4_prefill ? static_cast<uint8_t*>(scratch.Q4PrefillData()) : nullptr;
    auto quantize_rows = [&](int64_t r0, int64_t r1) {
      k.quantize_activations_q8(x + r0 * w.cols, r1 - r0, w.cols, scratch.xq.data() + r0 * k_pad,
                                scratch.x_scales.data() + r0 * blocks);
      if (prepared != nullptr) {
        k.prepare_q4_prefill(scratch.xq.data() + r0 * k_pad, scratch.x_scales.data() + r0 * blocks, r1 - r0, w.cols,
                             prepared + r0 * prepared_row_bytes);
      }
    };
    if (m >= 16) {
      pool.ParallelFor(m, 4, quantize_rows);
    } else {
      quantize_rows(0, m);
    }
  }
  // Each task gets at least ~32 KB of weights (times the rows of x it serves) so that waking
  // a thread pays off; tasks cover whole 8-row tiles so SIMD row blocking stays intact.
  const int64_t bytes_per_row = std::max<int64_t>(1, static_cast<int64_t>(w.bytes) / std::max<int64_t>(1, n));
  const int64_t min_rows = (32 * 1024) / (bytes_per_row * m) + 1;
  const int64_t grain_tiles = (min_rows + 7) / 8;
  pool.ParallelFor((n + 7) / 8, grain_tiles, [&](int64_t b, int64_t e) {
    kernels::GemmArgs a = base;
    a.n_begin = b * 8;
    a.n_end = std::min(n, e * 8);
    switch (w.dtype) {
      case DType::kF32: k.gemm_f32(a, static_cast<const float*>(w.data), x); break;
      case DType::kF16: k.gemm_f16(a, static_cast<const uint16_t*>(w.data), x); break;
      case DType::kBF16: k.gemm_bf16(a, static_cast<const uint16_t*>(w.data), x); break;
      case DType::kQ8:
        k.gemm_q8(a, static_cast<const int8_t*>(w.data), static_cast<const float*>(w.scales), scratch.xq.data(),
                  scratch.x_scales.data());
        break;
      case DType::kQ4:
        if (q4_prefill) {
          k.gemm_q4_prefill(a, static_cast<const uint8_t*>(w.data), static_cast<const uint16_t*>(w.scales),
                            w.group_size, scratch.Q4PrefillData());
          break;
        }
        // A marked matrix was rearranged for this kernel set (the Engine checked it has the kernel).
        (w.q4_transposed ? k.gemm_q4_transposed : k.gemm_q4)(a, static_cast<const uint8_t*>(w.data),
                                                             static_cast<const uint16_t*>(w.scales), w.group_size,
                                                             scratch.xq.data(), scratch.x_scales.data());
        break;
      case DType::kI32: break;  // rejected when weights are bound
    }
  });
}

void DequantizeRow(const Matrix& w, int64_t row, float* out) {
  const int64_t k = w.cols;
  switch (w.dtype) {
    case DType::kF32:
      std::memcpy(out, static_cast<const float*>(w.data) + row * k, k * sizeof(float));
      break;
    case DType::kF16: {
      const uint16_t* r = static_cast<const uint16_t*>(w.data) + row * k;
      for (int64_t i = 0; i < k; ++i) out[i] = kernels::HalfToFloat(r[i]);
      break;
    }
    case DType::kBF16: {
      const uint16_t* r = static_cast<const uint16_t*>(w.data) + row * k;
      for (int64_t i = 0; i < k; ++i) out[i] = kernels::Bf16ToFloat(r[i]);
      break;
    }
    case DType::kQ8: {
      const int8_t* r = static_cast<const int8_t*>(w.data) + row * Q8RowBytes(k);
      kernels::DequantizeRowsQ8(r, static_cast<const float*>(w.scales) + row, 1, k, out);
      break;
    }
    case DType::kQ4: {
      if (w.q4_transposed) {  // its rows are interleaved in pairs
        kernels::DequantizeRowQ4Transposed(static_cast<const uint8_t*>(w.data), static_cast<const uint16_t*>(w.scales),
                                           row, k, w.group_size, out);
        break;
      }
      const uint8_t* r = static_cast<const uint8_t*>(w.data) + row * Q4RowBytes(k, w.group_size);
      const uint16_t* s = static_cast<const uint16_t*>(w.scales) + row * Q4GroupsPerRow(k, w.group_size);
      kernels::DequantizeRowsQ4(r, s, 1, k, w.group_size, out);
      break;
    }
    case DType::kI32: break;
  }
}

}  // namespace kite
