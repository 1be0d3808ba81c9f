// Inner loops of multi-head latent attention (runtime/model/mla_attention.cc, DeepSeek-V2/V3):
// one query head against the cached rows of one layer, each row [latent c (r) | rope key k_pe (dr)]
// `row_stride` floats apart (r + dr in the runtime's cache).
//
//   f32_mla_scores:  scores[j] = scale * (q_latent . c_j + q_pe . k_pe_j)        for j in [0, len)
//   f32_mla_context: out[i]    = sum_j p[j] * c_j[i]                           for i in [0, r)
//   f32_axpy:        y[i]     += a * x[i]                                        for i in [0, n)
//     (the absorption q_latent += q_nope[i] * W_uk[i, :], one W_uk row at a time)
//
// Any lengths (odd, zero, shorter than a vector) are allowed; out/y must not alias the inputs.
// Single-threaded, allocation-free. The SIMD versions sum in a different order from the scalar
// reference (kernels/ref/mla_ref.cc), so results agree to f32 rounding, not bit for bit.
#pragma once

#include <cstdint>

namespace kite {
namespace kernels {

using MlaScoresFn = void (*)(const float* q_latent, const float* q_pe, const float* cache, int64_t len,
                             int64_t row_stride, int64_t latent, int64_t rope_dim, float scale, float* scores);
using MlaContextFn = void (*)(const float* p, const float* cache, int64_t len, int64_t row_stride, int64_t latent,
                              float* out);
using AxpyFn = void (*)(float a, const float* x, int64_t n, float* y);

struct MlaKernels {
  const char* isa;  // "scalar", "avx2", "neon"
  MlaScoresFn scores;
  MlaContextFn context;
  AxpyFn axpy;
};

// The scalar reference: the truth the others are tested against.
const MlaKernels& ReferenceMlaKernels();
// The fastest set this CPU supports (detected at run time).
const MlaKernels& BestMlaKernels();
// All sets this CPU can run, reference first, best last; returns how many it stored.
constexpr int kMaxMlaKernelSets = 2;
int AvailableMlaKernels(const MlaKernels** out, int capacity);

// Per-ISA entry points (defined only where built: x86 for avx2, aarch64 for neon).
void f32_mla_scores__scalar(const float* q_latent, const float* q_pe, const float* cache, int64_t len,
                            int64_t row_stride, int64_t latent, int64_t rope_dim, float scale, float* scores);
void f32_mla_context__scalar(const float* p, const float* cache, int64_t len, int64_t row_stride, int64_t latent,
                             float* out);
void f32_axpy__scalar(float a, const float* x, int64_t n, float* y);
void f32_mla_scores__avx2(const float* q_latent, const float* q_pe, const float* cache, int64_t len,
                          int64_t row_stride, int64_t latent, int64_t rope_dim, float scale, float* scores);
void f32_mla_context__avx2(const float* p, const float* cache, int64_t len, int64_t row_stride, int64_t latent,
                           float* out);
void f32_axpy__avx2(float a, const float* x, int64_t n, float* y);
void f32_mla_scores__neon(const float* q_latent, const float* q_pe, const float* cache, int64_t len,
                          int64_t row_stride, int64_t latent, int64_t rope_dim, float scale, float* scores);
void f32_mla_context__neon(const float* p, const float* cache, int64_t len, int64_t row_stride, int64_t latent,
                           float* out);
void f32_axpy__neon(float a, const float* x, int64_t n, float* y);

}  // namespace kernels
}  // namespace kite
