// The scalar reference against a naive double-precision dot product on the
// dequantized weights (and, for the integer kernels, dequantized
// activations): the reference may differ only by f32 rounding.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/quant_formats.h"
#include "kernels/quantize.h"
#include "tests/kernels/test_framework.h"

namespace kite {
namespace kernels {
namespace {

constexpr double kU = 0x1p-24;

struct Case {
  int64_t m, n, k, group_size;
};
const Case kCases[] = {{1, 1, 1, 32}, {1, 7, 33, 64}, {3, 5, 172, 128}, {2, 7, 896, 32}, {5, 3, 300, 64}};

std::vector<float> Random(int64_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& e : v) e = unit(rng) * std::pow(10.0f, 2.0f * unit(rng));
  return v;
}

// |computed - exact| <= (terms + 4) u * sum|products|: recursive f32 summation of `terms` rounded
// terms, each off by at most a few roundings (the scale products).
void ExpectWithinRounding(float got, double exact, double abs_sum, double terms, const std::string& where) {
  EXPECT_LE(std::fabs(double(got) - exact), (terms + 4) * kU * abs_sum) << where;
}

TEST(ReferenceGemm, FloatFormatsEqualDoubleDotWithinF32Rounding) {
  const GemmKernels& ref = ReferenceGemmKernels();
  std::mt19937 rng(5);
  for (const Case& c : kCases) {
    const std::vector<float> x = Random(c.m * c.k, rng), w = Random(c.n * c.k, rng);
    std::vector<uint16_t> w16(w.size()), wb16(w.size());
    for (size_t i = 0; i < w.size(); ++i) w16[i] = FloatToHalf(w[i]), wb16[i] = FloatToBf16(w[i]);
    std::vector<float> y32(c.m * c.n), y16(y32.size()), yb16(y32.size());
    GemmArgs a;
    a.m = c.m, a.k = c.k, a.ldy = c.n, a.n_begin = 0, a.n_end = c.n;
    a.y = y32.data(), ref.gemm_f32(a, w.data(), x.data());
    a.y = y16.data(), ref.gemm_f16(a, w16.data(), x.data());
    a.y = yb16.data(), ref.gemm_bf16(a, wb16.data(), x.data());
    for (int64_t m = 0; m < c.m; ++m) {
      for (int64_t n = 0; n < c.n; ++n) {
        double e32 = 0, e16 = 0, eb16 = 0, s32 = 0, s16 = 0, sb16 = 0;
        for (int64_t k = 0; k < c.k; ++k) {
          const double xv = x[m * c.k + k];
          const double w32 = w[n * c.k + k], wh = HalfToFloat(w16[n * c.k + k]), wb = Bf16ToFloat(wb16[n * c.k + k]);
          e32 += xv * w32, s32 += std::fabs(xv * w32);
          e16 += xv * wh, s16 += std::fabs(xv * wh);
          eb16 += xv * wb, sb16 += std::fabs(xv * wb);
        }
        const std::string where = "K=" + std::to_string(c.k) + " m=" + std::to_string(m) + " n=" + std::to_string(n);
        ExpectWithinRounding(y32[m * c.n + n], e32, s32, c.k, "f32 " + where);
        ExpectWithinRounding(y16[m * c.n + n], e16, s16, c.k, "f16 " + where);
        ExpectWithinRounding(yb16[m * c.n + n], eb16, sb16, c.k, "bf16 " + where);
      }
    }
  }
}

TEST(ReferenceGemm, QuantizedFormatsEqualDoubleDotWithinF32Rounding) {
  const GemmKernels& ref = ReferenceGemmKernels();
  std::mt19937 rng(6);
  for (const Case& c : kCases) {
    const int64_t k_pad = Q8RowBytes(c.k), blocks = k_pad / kQuantBlock;
    const std::vector<float> x = Random(c.m * c.k, rng), w = Random(c.n * c.k, rng);
    std::vector<int8_t> xq(c.m * k_pad), w8(c.n * k_pad);
    std::vector<float> xs(c.m * blocks), w8_scales(c.n);
    std::vector<uint8_t> w4(c.n * Q4RowBytes(c.k, c.group_size));
    std::vector<uint16_t> w4_scales(c.n * Q4GroupsPerRow(c.k, c.group_size));
    ref.quantize_activations_q8(x.data(), c.m, c.k, xq.data(), xs.data());
    QuantizeRowsQ8(w.data(), c.n, c.k, w8.data(), w8_scales.data());
    QuantizeRowsQ4(w.data(), c.n, c.k, c.group_size, w4.data(), w4_scales.data());
    std::vector<float> w4_values(w.size());  // exact: a 4-bit code times an f16 scale fits in f32
    DequantizeRowsQ4(w4.data(), w4_scales.data(), c.n, c.k, c.group_size, w4_values.data());
    std::vector<float> y8(c.m * c.n), y4(y8.size());
    GemmArgs a;
    a.m = c.m, a.k = c.k, a.ldy = c.n, a.n_begin = 0, a.n_end = c.n;
    a.y = y8.data(), ref.gemm_q8(a, w8.data(), w8_scales.data(), xq.data(), xs.data());
    a.y = y4.data(), ref.gemm_q4(a, w4.data(), w4_scales.data(), c.group_size, xq.data(), xs.data());
    for (int64_t m = 0; m < c.m; ++m) {
      for (int64_t n = 0; n < c.n; ++n) {
        double e8 = 0, e4 = 0, s8 = 0, s4 = 0;
        for (int64_t k = 0; k < c.k; ++k) {
          const double xv = double(xq[m * k_pad + k]) * xs[m * blocks + k / 32];
          const double w8v = double(w8[n * k_pad + k]) * w8_scales[n];
          e8 += xv * w8v, s8 += std::fabs(xv * w8v);
          e4 += xv * w4_values[n * c.k + k], s4 += std::fabs(xv * w4_values[n * c.k + k]);
        }
        const std::string where = "K=" + std::to_string(c.k) + " m=" + std::to_string(m) + " n=" + std::to_string(n);
        ExpectWithinRounding(y8[m * c.n + n], e8, s8, blocks, "q8 " + where);
        ExpectWithinRounding(y4[m * c.n + n], e4, s4, blocks, "q4 " + where);
      }
    }
  }
}

}  // namespace
}  // namespace kernels
}  // namespace kite
