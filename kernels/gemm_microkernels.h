// Every gemm micro-kernel, by the XNNPACK naming scheme
//   <weight type>_<op>_<output type>__<isa>
// f32/f16/bf16 weights take f32 activations; qs8/qs4 weights take the Q8
// activations of quant_formats.h ("qd8": int8, one f32 scale per 32
// columns), which f32_qd8_quantize makes.
// The signatures are the function types of kernels/gemm.h; the dispatch in
// kernels/gemm.cc puts them into GemmKernels tables. Tests and benchmarks
// reach them through those tables, never by name.
//
// No inline code here: this header is included by the files compiled with
// -mavx2, and an inline function emitted there could be picked by the linker
// for a caller on a CPU without AVX2.
#pragma once

#include <cstdint>

#include "kernels/gemm.h"

namespace kite {
namespace kernels {

#define KITE_DECLARE_GEMM_SET(isa)                                                                        \
  void f32_gemm_f32__##isa(const GemmArgs& a, const float* w, const float* x);                         \
  void f16_gemm_f32__##isa(const GemmArgs& a, const uint16_t* w, const float* x);                      \
  void bf16_gemm_f32__##isa(const GemmArgs& a, const uint16_t* w, const float* x);                     \
  void qs8_gemm_f32__##isa(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq, \
                           const float* x_scales);                                                      \
  void qs4_gemm_f32__##isa(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,          \
                           int64_t group_size, const int8_t* xq, const float* x_scales);               \
  void f32_qd8_quantize__##isa(const float* x, int64_t m, int64_t k, int8_t* xq, float* x_scales);

KITE_DECLARE_GEMM_SET(scalar)  // kernels/ref/gemm_ref.cc
#if defined(__x86_64__) || defined(_M_X64)
KITE_DECLARE_GEMM_SET(avx2)  // kernels/cpu/x86/gemm_avx2.cc (AVX2 + FMA + F16C)
// kernels/cpu/x86/gemm_avxvnni.cc (+ AVX-VNNI: integer kernels only) and gemm_avx512.cc (+ AVX-512
// F/BW/VL/VNNI: integer kernels and the M >= 2 float tiles); both sets use the AVX2 quantizer.
void qs8_gemm_f32__avxvnni(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                           const float* x_scales);
void qs4_gemm_f32__avxvnni(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                           int64_t group_size, const int8_t* xq, const float* x_scales);
void f32_gemm_f32__avx512(const GemmArgs& a, const float* w, const float* x);  // M >= 2 tiles; M = 1: AVX2's
void f16_gemm_f32__avx512(const GemmArgs& a, const uint16_t* w, const float* x);
void bf16_gemm_f32__avx512(const GemmArgs& a, const uint16_t* w, const float* x);
void qs8_gemm_f32__avx512vnni(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                              const float* x_scales);
void qs4_gemm_f32__avx512vnni(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                              int64_t group_size, const int8_t* xq, const float* x_scales);
// kernels/cpu/x86/gemm_q4_prefill_avx512.cc: Q4 prefill on block-per-lane activations.
void qs4_prefill_prepare__avx512vnni(const int8_t* xq, const float* x_scales, int64_t m, int64_t k, void* prepared);
void qs4_prefill_gemm__avx512vnni(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                  int64_t group_size, const void* prepared);
#endif
#if defined(__aarch64__)
KITE_DECLARE_GEMM_SET(neon)  // kernels/cpu/neon/gemm_neon.cc (baseline ARMv8-A)
// kernels/cpu/neon/gemm_neon_dot.cc: sdot (ARMv8.2 dotprod); float kernels are the baseline ones.
void qs8_gemm_f32__neon_dot(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                            const float* x_scales);
void qs4_gemm_f32__neon_dot(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                            int64_t group_size, const int8_t* xq, const float* x_scales);
// kernels/cpu/neon/gemm_neon_i8mm.cc: smmla (ARMv8.6 i8mm) tiles for M >= 2, sdot for the rest.
void qs8_gemm_f32__neon_i8mm(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                             const float* x_scales);
void qs4_gemm_f32__neon_i8mm(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                             int64_t group_size, const int8_t* xq, const float* x_scales);
#endif
#if defined(__wasm_simd128__)
KITE_DECLARE_GEMM_SET(wasm_simd128)  // kernels/cpu/wasm/: gemm_float_wasm.cc, gemm_wasm.cc, quantize_wasm.cc
// The same file compiled with -DKITE_WASM_RELAXED (relaxed SIMD modules only).
void qs8_gemm_f32__wasm_relaxed(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                                const float* x_scales);
void qs4_gemm_f32__wasm_relaxed(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                int64_t group_size, const int8_t* xq, const float* x_scales);
// Q4 rows in transposed groups (quant_formats.h): GemmKernels::gemm_q4_transposed.
void qs4t_gemm_f32__wasm_relaxed(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                 int64_t group_size, const int8_t* xq, const float* x_scales);
#endif

#undef KITE_DECLARE_GEMM_SET

}  // namespace kernels
}  // namespace kite
