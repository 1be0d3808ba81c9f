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
// gate[i] = silu(gate[i]) * up[i]
void SiluMul(float* gate, const float* up, int64_t n);
// y[i] += x[i]
void AddInPlace(float* y, const float* x, int64_t n);
// out[i] = sum_j p[j] * v[j * stride + i]  for i < d
void WeightedSum(const float* p, const float* v, int64_t n, int64_t stride, int64_t d, float* out);
float Dot(const float* a, const float* b, int64_t n);

}  // namespace kernels
}  // namespace kite
