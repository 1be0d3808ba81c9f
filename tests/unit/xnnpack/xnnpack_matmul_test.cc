// XNNPACK prefill path (runtime/backend/xnnpack) against Kite's scalar reference gemm on the same
// weights: f32 and f16 (widened exactly, so both sides multiply the same values), column slices,
// output strides, the thread-pool entry point and its rule, bad arguments. Without XNNPACK in the
// build, only the deferring behaviour is checked.

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/quantize.h"
#include "runtime/backend/xnnpack/xnnpack_matmul.h"
// GoogleTest, or its stand-in in the aarch64 cross build (tests/kernels_only, with an arm64 XNNPACK).
#include "tests/kernels/test_framework.h"

namespace kite {
namespace {

constexpr double kUnitRoundoff = 0x1p-24;

// A kernel set as the rule sees it: only float_lanes matters to it.
kernels::GemmKernels KernelsWithFloatLanes(int lanes) {
  kernels::GemmKernels set = kernels::ReferenceGemmKernels();
  set.float_lanes = lanes;
  return set;
}
constexpr float kSentinel = -12345.678f;

struct Problem {
  int64_t m, n, k, ldy;
  XnnpackWeights type;
  std::vector<float> x;       // [m][k] + kXnnpackExtraBytes of slack
  std::vector<float> w;       // [n][k], the values both sides use
  std::vector<uint16_t> w16;  // f16 weights
  const void* weights() const { return type == XnnpackWeights::kF32 ? static_cast<const void*>(w.data()) : w16.data(); }
};

Problem MakeProblem(XnnpackWeights type, int64_t m, int64_t n, int64_t k, int64_t ldy, uint32_t seed) {
  Problem p{m, n, k, ldy, type, {}, {}, {}};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  p.x.resize(static_cast<size_t>(m * k + kXnnpackExtraBytes / sizeof(float)), 0.0f);
  for (int64_t i = 0; i < m * k; ++i) p.x[i] = unit(rng);
  p.w.resize(static_cast<size_t>(n * k));
  for (float& v : p.w) v = 0.1f * unit(rng);
  if (type == XnnpackWeights::kF16) {
    p.w16.resize(p.w.size());
    for (size_t i = 0; i < p.w.size(); ++i) {
      p.w16[i] = kernels::FloatToHalf(p.w[i]);
      p.w[i] = kernels::HalfToFloat(p.w16[i]);
    }
  }
  return p;
}

// y from the scalar reference gemm, [m][ldy] with the sentinel outside [0, n).
std::vector<float> Reference(const Problem& p) {
  std::vector<float> y(static_cast<size_t>(p.m * p.ldy), kSentinel);
  kernels::GemmArgs a;
  a.m = p.m, a.k = p.k, a.ldy = p.ldy, a.n_begin = 0, a.n_end = p.n, a.y = y.data();
  const kernels::GemmKernels& ref = kernels::ReferenceGemmKernels();
  if (p.type == XnnpackWeights::kF32) {
    ref.gemm_f32(a, p.w.data(), p.x.data());
  } else {
    ref.gemm_f16(a, p.w16.data(), p.x.data());
  }
  return y;
}

// Both sides sum the same k products of f32 values in different orders: each is within (k+1)u S
// of the exact sum (S = sum |w x|), so they differ by at most 2(k+8)u S (as in the gemm tests).
void ExpectMatches(const Problem& p, const std::vector<float>& got, const std::vector<float>& want) {
  int reported = 0;
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t c = 0; c < p.ldy; ++c) {
      const float g = got[i * p.ldy + c], r = want[i * p.ldy + c];
      if (c >= p.n) {
        if (std::memcmp(&g, &kSentinel, sizeof(float)) != 0 && reported++ < 5) {
          ADD_FAILURE() << "wrote column " << c << " past n = " << p.n;
        }
        continue;
      }
      double s = 0.0;
      for (int64_t j = 0; j < p.k; ++j) s += std::fabs(double(p.x[i * p.k + j]) * p.w[c * p.k + j]);
      const double tolerance = 2.0 * (p.k + 8) * kUnitRoundoff * s;
      if (!(std::fabs(double(g) - r) <= tolerance) && reported++ < 5) {
        ADD_FAILURE() << "m=" << i << " n=" << c << " got " << g << " reference " << r << " tolerance " << tolerance;
      }
    }
  }
  EXPECT_EQ(reported, 0);
}

TEST(Xnnpack, WithoutXnnpackEverythingDefers) {
  if (XnnpackAvailable()) GTEST_SKIP() << "this build has XNNPACK";
  const Problem p = MakeProblem(XnnpackWeights::kF32, 32, 64, 64, 64, 1);
  auto matrix = XnnpackMatrix::Create(p.type, p.weights(), p.n, p.k, p.ldy, 1);
  ASSERT_FALSE(matrix.ok());
  EXPECT_EQ(matrix.status().code(), StatusCode::kUnsupported);
  ThreadPool pool(2);
  std::vector<float> y(static_cast<size_t>(p.m * p.ldy), kSentinel);
  EXPECT_FALSE(XnnpackMatMul(nullptr, KernelsWithFloatLanes(8), pool, p.x.data(), p.m, y.data(), p.ldy));
}

TEST(Xnnpack, SlicesMatchReferenceGemm) {
  if (!XnnpackAvailable()) GTEST_SKIP() << "built without XNNPACK";
  uint32_t seed = 10;
  const int64_t shapes[][4] = {  // m, n, k, ldy
      {1, 1, 1, 1}, {3, 15, 3, 15}, {16, 16, 64, 20}, {17, 17, 33, 17}, {33, 67, 100, 80}, {128, 1152, 896, 1152},
      {40, 576, 1536, 576}};
  for (XnnpackWeights type : {XnnpackWeights::kF32, XnnpackWeights::kF16}) {
    for (const auto& s : shapes) {
      for (int slices : {1, 2, 3}) {
        if (slices > s[1]) continue;
        const Problem p = MakeProblem(type, s[0], s[1], s[2], s[3], ++seed);
        SCOPED_TRACE(::testing::Message() << (type == XnnpackWeights::kF32 ? "f32" : "f16") << " m=" << p.m << " n="
                                          << p.n << " k=" << p.k << " ldy=" << p.ldy << " slices=" << slices);
        auto matrix = XnnpackMatrix::Create(p.type, p.weights(), p.n, p.k, p.ldy, slices);
        ASSERT_TRUE(matrix.ok()) << matrix.status().ToString();
        const XnnpackMatrix& w = **matrix;
        EXPECT_GE(w.slices(), 1);
        EXPECT_LE(w.slices(), slices);
        EXPECT_GE(w.packed_bytes(), static_cast<uint64_t>(p.n * p.k * 4));
        std::vector<float> y(static_cast<size_t>(p.m * p.ldy), kSentinel);
        for (int i = 0; i < w.slices(); ++i) ASSERT_TRUE(w.RunSlice(i, p.x.data(), p.m, y.data()).ok());
        ExpectMatches(p, y, Reference(p));
      }
    }
  }
}

TEST(Xnnpack, MatMulOnThreadPoolFollowsTheRule) {
  if (!XnnpackAvailable()) GTEST_SKIP() << "built without XNNPACK";
  ThreadPool pool(2);
  const kernels::GemmKernels avx2_like = KernelsWithFloatLanes(8), avx512_like = KernelsWithFloatLanes(16);
  for (XnnpackWeights type : {XnnpackWeights::kF32, XnnpackWeights::kF16}) {
    for (int64_t m : {1, 4, 15, 16, 32, 130}) {
      const Problem p = MakeProblem(type, m, 960, 576, 960, static_cast<uint32_t>(m));
      auto matrix = XnnpackMatrix::Create(p.type, p.weights(), p.n, p.k, p.ldy, pool.size());
      ASSERT_TRUE(matrix.ok()) << matrix.status().ToString();
      for (const kernels::GemmKernels* kite : {&avx2_like, &avx512_like}) {
        SCOPED_TRACE(::testing::Message() << "m=" << m << " float_lanes=" << kite->float_lanes);
        std::vector<float> y(static_cast<size_t>(p.m * p.ldy), kSentinel);
        const bool ran = XnnpackMatMul(matrix->get(), *kite, pool, p.x.data(), p.m, y.data(), p.ldy);
        EXPECT_EQ(ran, XnnpackPreferred(p.type, p.m, p.n, p.k, *kite));
        if (ran) {
          ExpectMatches(p, y, Reference(p));
        } else {
          for (float v : y) ASSERT_EQ(v, kSentinel) << "deferred but wrote";
        }
        // A different output stride than the matrix was packed for: defer, write nothing.
        std::vector<float> wide(static_cast<size_t>(p.m * (p.ldy + 1)), kSentinel);
        EXPECT_FALSE(XnnpackMatMul(matrix->get(), *kite, pool, p.x.data(), p.m, wide.data(), p.ldy + 1));
        for (float v : wide) ASSERT_EQ(v, kSentinel);
      }
    }
  }
}

TEST(Xnnpack, RuleAtModelShapes) {
  // The tables of README.md. Kite with 8-wide float kernels: XNNPACK from 16 rows on, never for
  // decode. Kite with AVX-512 float tiles: f32 only, from 32 rows, k <= 768 (SmolLM2's k = 576).
  const kernels::GemmKernels avx2_like = KernelsWithFloatLanes(8), avx512_like = KernelsWithFloatLanes(16);
  for (XnnpackWeights type : {XnnpackWeights::kF32, XnnpackWeights::kF16}) {
    EXPECT_FALSE(XnnpackPreferred(type, 1, 1152, 896, avx2_like));
    EXPECT_FALSE(XnnpackPreferred(type, 8, 4864, 896, avx2_like));
    EXPECT_TRUE(XnnpackPreferred(type, 16, 4864, 896, avx2_like));
    EXPECT_TRUE(XnnpackPreferred(type, 512, 896, 4864, avx2_like));
    EXPECT_TRUE(XnnpackPreferred(type, 128, 960, 576, avx2_like));
    EXPECT_FALSE(XnnpackPreferred(type, 128, 1152, 896, avx512_like));
    EXPECT_FALSE(XnnpackPreferred(type, 16, 960, 576, avx512_like));
  }
  EXPECT_TRUE(XnnpackPreferred(XnnpackWeights::kF32, 32, 960, 576, avx512_like));
  EXPECT_FALSE(XnnpackPreferred(XnnpackWeights::kF16, 32, 960, 576, avx512_like));
  EXPECT_FALSE(XnnpackPreferred(XnnpackWeights::kF32, 512, 576, 1536, avx512_like));
  EXPECT_TRUE(XnnpackWorthPacking(XnnpackWeights::kF16, 896, 4864, avx2_like));
  EXPECT_FALSE(XnnpackWorthPacking(XnnpackWeights::kF16, 960, 576, avx512_like));
  EXPECT_TRUE(XnnpackWorthPacking(XnnpackWeights::kF32, 1536, 576, avx512_like));
  EXPECT_FALSE(XnnpackWorthPacking(XnnpackWeights::kF32, 1152, 896, avx512_like));
}

TEST(Xnnpack, BadArguments) {
  if (!XnnpackAvailable()) GTEST_SKIP() << "built without XNNPACK";
  const Problem p = MakeProblem(XnnpackWeights::kF32, 4, 32, 8, 32, 3);
  EXPECT_EQ(XnnpackMatrix::Create(p.type, nullptr, 32, 8, 32, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(XnnpackMatrix::Create(p.type, p.weights(), 0, 8, 32, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(XnnpackMatrix::Create(p.type, p.weights(), 32, 8, 31, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(XnnpackMatrix::Create(p.type, p.weights(), 32, 8, 32, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(XnnpackMatrix::Create(p.type, p.weights(), 32, 8, 32, 33).status().code(), StatusCode::kInvalidArgument);
  auto matrix = XnnpackMatrix::Create(p.type, p.weights(), 32, 8, 32, 2);
  ASSERT_TRUE(matrix.ok());
  std::vector<float> y(4 * 32);
  EXPECT_EQ((*matrix)->RunSlice(2, p.x.data(), 4, y.data()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*matrix)->RunSlice(-1, p.x.data(), 4, y.data()).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kite
