// Matrix products of activations with (possibly quantized) weights: the hot
// loop of every forward pass. Each kernel computes a slice [n_begin, n_end)
// of the output columns for all M activation rows, single-threaded; the
// backend splits columns across threads. M = 1 is decode (a matrix-vector
// product), M > 1 is prefill.
//
//   y[m * ldy + n] = sum_k x[m][k] * W[n][k]     for m in [0, M), n in [n_begin, n_end)
//
// Weight layouts: kernels/quant_formats.h. Quantized kernels take the
// activations already quantized by QuantizeActivationsQ8 (once per op,
// shared by every thread).
#pragma once

#include <cstdint>

namespace kite {
namespace kernels {

struct GemmArgs {
  int64_t m = 1;        // activation rows
  int64_t k = 0;        // logical columns of W and x
  int64_t ldy = 0;      // output row stride (usually N)
  int64_t n_begin = 0;  // output columns to compute
  int64_t n_end = 0;
  float* y = nullptr;
};

// f32 activations [M][K] (row stride K)
using GemmF32Fn = void (*)(const GemmArgs& a, const float* w, const float* x);
using GemmF16Fn = void (*)(const GemmArgs& a, const uint16_t* w, const float* x);
using GemmBF16Fn = void (*)(const GemmArgs& a, const uint16_t* w, const float* x);
// int8 activations [M][K_pad] with scales [M][K_pad/32], K_pad = RoundUp(K, 32)
using GemmQ8Fn = void (*)(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                          const float* x_scales);
using GemmQ4Fn = void (*)(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16, int64_t group_size,
                          const int8_t* xq, const float* x_scales);
// Quantizes M rows of K floats to the Q8 activation layout (padding zeroed).
using QuantizeActivationsFn = void (*)(const float* x, int64_t m, int64_t k, int8_t* xq, float* x_scales);
// Q4 prefill through a second activation layout (sets that have one): PrepareQ4Prefill rearranges
// Q8 activations, once per op, into Q4PrefillActivationBytes(m, k) bytes at `prepared` (64-byte
// aligned); GemmQ4Prefill then computes what GemmQ4 computes from the same activations (group_size a
// multiple of 32). The layout
// belongs to the kernel set (it lets each int32 lane sum one whole 32-column block; see
// kernels/cpu/x86/gemm_q4_prefill_avx512.cc).
using PrepareQ4PrefillFn = void (*)(const int8_t* xq, const float* x_scales, int64_t m, int64_t k, void* prepared);
using GemmQ4PrefillFn = void (*)(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                 int64_t group_size, const void* prepared);
int64_t Q4PrefillActivationBytes(int64_t m, int64_t k);
// A buffer of Q4PrefillBufferBytes(m, k) bytes holds the prepared activations 64-byte aligned, at
// AlignQ4Prefill(buffer) (vectors give no such alignment).
inline int64_t Q4PrefillBufferBytes(int64_t m, int64_t k) { return Q4PrefillActivationBytes(m, k) + 64; }
inline void* AlignQ4Prefill(void* buffer) {
  const uintptr_t p = reinterpret_cast<uintptr_t>(buffer);
  return static_cast<char*>(buffer) + (64 - p % 64) % 64;
}

struct GemmKernels {
  const char* isa;  // "scalar", "avx2", "avx-vnni", "avx512-vnni", "neon", "neon-dotprod", "neon-i8mm", "wasm-simd128",
                    // "wasm-relaxed-simd"
  GemmF32Fn gemm_f32;
  GemmF16Fn gemm_f16;
  GemmBF16Fn gemm_bf16;
  GemmQ8Fn gemm_q8;
  GemmQ4Fn gemm_q4;
  QuantizeActivationsFn quantize_activations_q8;
  int float_lanes;  // f32 lanes per vector of the M >= 2 float kernels: 1 scalar, 4 NEON, 8 AVX2, 16 AVX-512
  // Both null, or both set: the faster Q4 path for M >= 2 (gemm_q4 still takes any M).
  PrepareQ4PrefillFn prepare_q4_prefill;
  GemmQ4PrefillFn gemm_q4_prefill;
  // Null, or gemm_q4 over rows stored in transposed groups (quant_formats.h), a layout this set reads
  // faster. The relaxed wasm set has one: its weights sit in the writable wasm heap, where the
  // Engine can rearrange them when asked (Engine::RearrangeWeightsForKernels); MatMul picks this
  // kernel for the matrices marked so (Matrix::q4_transposed) and gemm_q4 for the others. The matrix
  // must have an even row count (the layout interleaves row pairs; any [n_begin, n_end) may be
  // asked), and the scales of its rows' whole transposed groups must be finite (it converts them
  // without looking for Inf or NaN); RearrangeQ4ForKernels leaves other matrices in the stored layout.
  GemmQ4Fn gemm_q4_transposed;
};

// The scalar reference: the truth every other kernel is tested against.
const GemmKernels& ReferenceGemmKernels();
// The fastest kernels this CPU supports (detected at run time).
const GemmKernels& BestGemmKernels();
// All kernel sets this CPU can run, reference first (for tests and benchmarks).
int AvailableGemmKernels(const GemmKernels** out, int capacity);
// AvailableGemmKernels stores min(capacity, available) sets and returns how many it stored; a capacity of
// kMaxGemmKernelSets always holds them all. The sets are ordered slowest first; the last is BestGemmKernels().
constexpr int kMaxGemmKernelSets = 4;

}  // namespace kernels
}  // namespace kite
