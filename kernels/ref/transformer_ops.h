// Element-wise and row-wise operations of the transformer block, scalar.
// These are a small share of the time next to the matrix products; they stay
// in plain loops the compiler vectorises, and are the reference for any
// backend's version of the same op.
#pragma once

#include <cstdint>

namespace kite {
namespace kernels {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]        x, w, out: [n]; out may alias x
void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* out);
// Rotates one head in place, Hugging Face "rotate_half" layout: pairs (i, i + d/2).
// cos, sin: [d/2] for this position.
void RopeRotateHalf(float* head, int64_t head_dim, const float* cos, const float* sin);
// In-place numerically stable softmax over x[0..n).
void Softmax(float* x, int64_t n);
// gate[i] = silu(gate[i]) * up[i]: the fastest version this CPU runs (AVX2 + FMA on x86, SIMD128 in
// wasm builds: within 8 ulp of SiluMulScalar, tests/kernels/activations_test.cc).
void SiluMul(float* gate, const float* up, int64_t n);
void SiluMulScalar(float* gate, const float* up, int64_t n);  // libm's expf, the reference
#if defined(__x86_64__) || defined(_M_X64)
void SiluMulAvx2(float* gate, const float* up, int64_t n);  // kernels/cpu/x86/activations_avx2.cc
#endif
#if defined(__wasm_simd128__)
void SiluMulWasm(float* gate, const float* up, int64_t n);  // kernels/cpu/wasm/activations_wasm.cc
#endif
// y[i] += x[i]
void AddInPlace(float* y, const float* x, int64_t n);
// out[i] = sum_j p[j] * v[j * stride + i]  for i < d
void WeightedSum(const float* p, const float* v, int64_t n, int64_t stride, int64_t d, float* out);
float Dot(const float* a, const float* b, int64_t n);

// out[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i], biased variance (GPT-2); out may alias x
void LayerNorm(const float* x, const float* w, const float* b, int64_t n, float eps, float* out);
// x[i] = gelu_tanh(x[i]) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (HF gelu_new / gelu_pytorch_tanh)
void GeluTanh(float* x, int64_t n);
// gate[i] = gelu_tanh(gate[i]) * up[i]   (GeGLU, Gemma)
void GeluTanhMul(float* gate, const float* up, int64_t n);
// x[i] = cap * tanh(x[i] / cap)   (Gemma soft-capping of scores and logits)
void SoftCap(float* x, int64_t n, float cap);
// Rotates one head in place, interleaved layout: pairs (2i, 2i + 1) (DeepSeek, Meta/llama2.c).
// cos, sin: [d/2] for this position.
void RopeInterleaved(float* head, int64_t head_dim, const float* cos, const float* sin);

}  // namespace kernels
}  // namespace kite
