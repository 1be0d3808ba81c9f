// Kite's MatMul (runtime/backend/cpu/cpu_matmul.h) with a matrix the Engine would have packed for
// XNNPACK (Matrix::xnnpack): it must take XNNPACK exactly for the products the packed rule picks
// (never for one row: decode), agree with MatMul on the same matrix without the packed copy, and
// leave a Matrix whose packed copy does not match its shape (a row slice) on Kite's kernels.
// Without XNNPACK in the build only the unpacked path exists and the test skips.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "kernels/quantize.h"
#include "runtime/backend/cpu/cpu_matmul.h"
#include "runtime/backend/xnnpack/xnnpack_matmul.h"

namespace kite {
namespace {

constexpr double kUnitRoundoff = 0x1p-24;

struct Weights {
  DType dtype;
  std::vector<float> w;       // [n][k] the values both paths multiply
  std::vector<uint16_t> w16;  // the f16 bits, for DType::kF16
  Matrix matrix;
};

Weights MakeWeights(DType dtype, int64_t n, int64_t k, uint32_t seed) {
  Weights out{dtype, {}, {}, {}};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  out.w.resize(static_cast<size_t>(n * k));
  for (float& v : out.w) v = 0.1f * unit(rng);
  if (dtype == DType::kF16) {
    out.w16.resize(out.w.size());
    for (size_t i = 0; i < out.w.size(); ++i) {
      out.w16[i] = kernels::FloatToHalf(out.w[i]);
      out.w[i] = kernels::HalfToFloat(out.w16[i]);
    }
  }
  out.matrix.dtype = dtype;
  out.matrix.data = dtype == DType::kF32 ? static_cast<const void*>(out.w.data()) : out.w16.data();
  out.matrix.rows = n;
  out.matrix.cols = k;
  out.matrix.bytes = static_cast<uint64_t>(n * k) * (dtype == DType::kF32 ? 4 : 2);
  return out;
}

TEST(CpuMatMulXnnpack, TakesXnnpackOnlyWhereTheRuleSaysAndAgrees) {
  if (!XnnpackAvailable()) GTEST_SKIP() << "built without XNNPACK";
  ThreadPool pool(2);
  const kernels::GemmKernels& kite = kernels::BestGemmKernels();
  uint32_t seed = 100;
  const int64_t shapes[][2] = {{40, 37}, {160, 64}, {576, 576}};  // n, k: odd sizes and a model shape
  for (DType dtype : {DType::kF32, DType::kF16}) {
    for (const auto& shape : shapes) {
      const int64_t n = shape[0], k = shape[1];
      Weights w = MakeWeights(dtype, n, k, ++seed);
      const XnnpackWeights type = dtype == DType::kF32 ? XnnpackWeights::kF32 : XnnpackWeights::kF16;
      for (XnnpackRule rule : {XnnpackRule::kAlways, XnnpackRule::kMeasured}) {
        auto packed = XnnpackMatrix::Create(type, w.matrix.data, n, k, /*ldy=*/n, pool.size(), rule);
        ASSERT_TRUE(packed.ok()) << packed.status().ToString();
        Matrix with = w.matrix;
        with.xnnpack = packed->get();
        for (int64_t m : {1, 2, 5, 16, 33}) {
          SCOPED_TRACE(::testing::Message() << (dtype == DType::kF32 ? "f32" : "f16") << " n=" << n << " k=" << k
                                            << " m=" << m << (rule == XnnpackRule::kAlways ? " always" : " measured"));
          std::mt19937 rng(static_cast<uint32_t>(m * 7 + n));
          std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
          // x: [m][k] + the padding MatMul's contract asks for when the matrix is packed.
          std::vector<float> x(static_cast<size_t>(m * k + kMatMulInputPadFloats));
          for (int64_t i = 0; i < m * k; ++i) x[i] = unit(rng);
          MatMulScratch scratch;
          scratch.Reserve(m, k);
          std::vector<float> got(static_cast<size_t>(m * n), -1.0f), want(static_cast<size_t>(m * n), -2.0f);
          const uint64_t before = packed.value()->products();
          MatMul(kite, pool, scratch, with, x.data(), m, got.data(), n);
          const bool expect_xnnpack =
              m >= 2 && (rule == XnnpackRule::kAlways || XnnpackPreferred(type, m, n, k, kite));
          EXPECT_EQ(packed.value()->products() - before, expect_xnnpack ? 1u : 0u);
          MatMul(kite, pool, scratch, w.matrix, x.data(), m, want.data(), n);
          // Both sum the same k products of f32 values in different orders: each within (k+1)u S of
          // the exact sum (S = sum |w x|), so at most 2(k+8)u S apart (as in the gemm tests).
          int reported = 0;
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t c = 0; c < n; ++c) {
              double s = 0;
              for (int64_t j = 0; j < k; ++j) s += std::fabs(double(x[i * k + j]) * w.w[c * k + j]);
              const double tolerance = 2.0 * (k + 8) * kUnitRoundoff * s;
              if (!(std::fabs(double(got[i * n + c]) - want[i * n + c]) <= tolerance) && reported++ < 5) {
                ADD_FAILURE() << "row " << i << " col " << c << ": " << got[i * n + c] << " vs " << want[i * n + c];
              }
            }
          }
        }
        // A row slice of the packed matrix is not what was packed: Kite's kernels run it.
        Matrix slice = with;
        slice.rows = n / 2;
        std::vector<float> x(static_cast<size_t>(4 * k + kMatMulInputPadFloats), 0.5f), y(static_cast<size_t>(4 * n));
        MatMulScratch scratch;
        scratch.Reserve(4, k);
        const uint64_t before = packed.value()->products();
        MatMul(kite, pool, scratch, slice, x.data(), 4, y.data(), n);
        EXPECT_EQ(packed.value()->products(), before);
      }
    }
  }
}

// Sessions share the engine's packed matrices and may prefill at the same time from different
// threads, each with its own pool: every product must still be right (an XNNPACK operator's setup
// writes its state, so two threads inside one operator would mix up their x and y).
TEST(CpuMatMulXnnpack, ConcurrentCallersOnOnePackedMatrix) {
  if (!XnnpackAvailable()) GTEST_SKIP() << "built without XNNPACK";
  const int64_t n = 256, k = 128, m = 16;  // long enough (~0.5 M MACs) for calls to overlap
  Weights w = MakeWeights(DType::kF32, n, k, 7);
  auto packed = XnnpackMatrix::Create(XnnpackWeights::kF32, w.matrix.data, n, k, n, 2, XnnpackRule::kAlways);
  ASSERT_TRUE(packed.ok()) << packed.status().ToString();
  Matrix with = w.matrix;
  with.xnnpack = packed->get();
  const kernels::GemmKernels& kite = kernels::BestGemmKernels();
  constexpr int kCallers = 3, kRounds = 2000;
  int bad[kCallers] = {};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      ThreadPool pool(1);
      MatMulScratch scratch;
      scratch.Reserve(m, k);
      // Each caller its own x (a different constant per row and caller), so a mix-up shows.
      std::vector<float> x(static_cast<size_t>(m * k + kMatMulInputPadFloats)), y(static_cast<size_t>(m * n));
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < k; ++j) x[i * k + j] = static_cast<float>(c + 1) * (i + 1) * 0.004f;
      }
      std::vector<double> want(static_cast<size_t>(m * n));
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t col = 0; col < n; ++col) {
          double sum = 0;
          for (int64_t j = 0; j < k; ++j) sum += double(x[i * k + j]) * w.w[col * k + j];
          want[i * n + col] = sum;
        }
      }
      for (int r = 0; r < kRounds; ++r) {
        std::fill(y.begin(), y.end(), -1e9f);
        MatMul(kite, pool, scratch, with, x.data(), m, y.data(), n);
        for (size_t i = 0; i < y.size(); ++i) {
          // 128 terms of at most 0.192 * 0.1 each: the f32 rounding error stays far below 1e-4.
          if (!(std::fabs(y[i] - want[i]) <= 1e-4)) ++bad[c];
        }
      }
    });
  }
  for (std::thread& t : callers) t.join();
  for (int c = 0; c < kCallers; ++c) EXPECT_EQ(bad[c], 0) << "caller " << c;
  EXPECT_GT(packed.value()->products(), 0u);
}

}  // namespace
}  // namespace kite
