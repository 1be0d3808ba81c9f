// MLA kernels (kernels/mla.h): every kernel set this CPU runs, the scalar reference included,
// against the same sums in double precision, and each SIMD set against the scalar set; random
// values on edge shapes (latent/rope widths and lengths of 0, 1, odd, just under and over the
// vector widths 4/8/16/32, DeepSeek's 512 + 64) with padded cache rows. Nothing may be written
// past scores[len] / out[latent] / y[n]. Tolerances follow from f32 summation (below).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/mla.h"
#include "tests/kernels/test_framework.h"

namespace kite {
namespace testing {
namespace {

constexpr double kUnitRoundoff = 0x1p-24;
constexpr float kSentinel = -12345.678f;

std::vector<const kernels::MlaKernels*> MlaSets() {
  const kernels::MlaKernels* sets[kernels::kMaxMlaKernelSets];
  const int count = kernels::AvailableMlaKernels(sets, kernels::kMaxMlaKernelSets);
  return std::vector<const kernels::MlaKernels*>(sets, sets + count);
}

std::vector<float> Random(int64_t n, std::mt19937& rng, float magnitude = 1.0f) {
  std::uniform_real_distribution<float> dist(-magnitude, magnitude);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// An f32 sum of n products in any order is within n * u * sum|a_i b_i| of the exact value (plus
// one rounding of the final scaling); 2x margin for the reordering between sets.
double Bound(int64_t n, double abs_sum) { return 2.0 * (static_cast<double>(n) + 2.0) * kUnitRoundoff * abs_sum + 1e-30; }

const int64_t kWidths[] = {0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 64, 100};
const int64_t kLengths[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 33, 130};

TEST(MlaKernels, ScoresMatchDoublePrecisionAndScalar) {
  std::mt19937 rng(11);
  std::vector<std::vector<int64_t>> shapes;  // latent, rope, len, padding
  for (int64_t latent : kWidths) {
    for (int64_t rope : {0, 1, 2, 8, 13, 16}) shapes.push_back({latent, rope, kLengths[rng() % 11], int64_t(rng() % 4)});
  }
  for (int64_t len : kLengths) shapes.push_back({512, 64, len, 0});  // DeepSeek-V2's kv_lora_rank + rope
  int64_t checked = 0;
  for (const auto& sh : shapes) {
    const int64_t latent = sh[0], rope = sh[1], len = sh[2], stride = latent + rope + sh[3];
    const float scale = 0.125f + 0.5f * (rng() % 4);
    const std::vector<float> ql = Random(latent, rng), qpe = Random(rope, rng, 2.0f);
    const std::vector<float> cache = Random(std::max<int64_t>(1, len * stride), rng);
    std::vector<double> want(len), bound(len);
    for (int64_t j = 0; j < len; ++j) {
      double s = 0, a = 0;
      for (int64_t i = 0; i < latent; ++i) {
        s += double(ql[i]) * cache[j * stride + i];
        a += std::fabs(double(ql[i]) * cache[j * stride + i]);
      }
      for (int64_t i = 0; i < rope; ++i) {
        s += double(qpe[i]) * cache[j * stride + latent + i];
        a += std::fabs(double(qpe[i]) * cache[j * stride + latent + i]);
      }
      want[j] = s * scale;
      bound[j] = Bound(latent + rope, a * scale);
    }
    std::vector<float> scalar(len + 1, kSentinel);
    kernels::ReferenceMlaKernels().scores(ql.data(), qpe.data(), cache.data(), len, stride, latent, rope, scale,
                                           scalar.data());
    for (const kernels::MlaKernels* set : MlaSets()) {
      SCOPED_TRACE(std::string(set->isa) + " latent=" + std::to_string(latent) + " rope=" + std::to_string(rope) +
                   " len=" + std::to_string(len) + " stride=" + std::to_string(stride));
      std::vector<float> got(len + 1, kSentinel);
      set->scores(ql.data(), qpe.data(), cache.data(), len, stride, latent, rope, scale, got.data());
      for (int64_t j = 0; j < len; ++j) {
        ASSERT_LE(std::fabs(got[j] - want[j]), bound[j]) << "row " << j;
        ASSERT_LE(std::fabs(double(got[j]) - scalar[j]), 2 * bound[j]) << "row " << j << " vs scalar";
      }
      ASSERT_EQ(got[len], kSentinel);
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(MlaKernels, ContextMatchesDoublePrecisionAndScalar) {
  std::mt19937 rng(12);
  std::vector<std::vector<int64_t>> shapes;  // latent, len, padding
  for (int64_t latent : kWidths) {
    for (int64_t len : kLengths) shapes.push_back({latent, len, int64_t(rng() % 5)});
  }
  for (int64_t len : kLengths) shapes.push_back({512, len, 64});  // rows [c (512) | k_pe (64)]
  for (const auto& sh : shapes) {
    const int64_t latent = sh[0], len = sh[1], stride = latent + sh[2];
    // Softmax-like weights: non-negative, summing to ~1.
    std::vector<float> p = Random(len, rng);
    for (float& v : p) v = std::fabs(v) / std::max<int64_t>(1, len);
    const std::vector<float> cache = Random(std::max<int64_t>(1, len * stride), rng, 3.0f);
    std::vector<float> scalar(latent + 1, kSentinel);
    kernels::ReferenceMlaKernels().context(p.data(), cache.data(), len, stride, latent, scalar.data());
    for (const kernels::MlaKernels* set : MlaSets()) {
      SCOPED_TRACE(std::string(set->isa) + " latent=" + std::to_string(latent) + " len=" + std::to_string(len) +
                   " stride=" + std::to_string(stride));
      std::vector<float> got(latent + 1, kSentinel);
      set->context(p.data(), cache.data(), len, stride, latent, got.data());
      for (int64_t i = 0; i < latent; ++i) {
        double s = 0, a = 0;
        for (int64_t j = 0; j < len; ++j) {
          s += double(p[j]) * cache[j * stride + i];
          a += std::fabs(double(p[j]) * cache[j * stride + i]);
        }
        ASSERT_LE(std::fabs(got[i] - s), Bound(len, a)) << "output " << i;
        ASSERT_LE(std::fabs(double(got[i]) - scalar[i]), 2 * Bound(len, a)) << "output " << i << " vs scalar";
      }
      ASSERT_EQ(got[latent], kSentinel);
    }
  }
}

TEST(MlaKernels, AxpyMatchesDoublePrecision) {
  std::mt19937 rng(13);
  for (int64_t n : {0, 1, 3, 7, 8, 9, 15, 16, 17, 33, 512, 515}) {
    const float a = Random(1, rng, 2.0f)[0];
    const std::vector<float> x = Random(n, rng), y0 = Random(n, rng);
    for (const kernels::MlaKernels* set : MlaSets()) {
      SCOPED_TRACE(std::string(set->isa) + " n=" + std::to_string(n));
      std::vector<float> y = y0;
      y.push_back(kSentinel);
      set->axpy(a, x.data(), n, y.data());
      for (int64_t i = 0; i < n; ++i) {
        const double want = double(a) * x[i] + y0[i];
        // At most two roundings (product, sum; one with FMA).
        ASSERT_LE(std::fabs(y[i] - want), 2 * kUnitRoundoff * (std::fabs(double(a) * x[i]) + std::fabs(y0[i])) + 1e-30)
            << i;
      }
      ASSERT_EQ(y[n], kSentinel);
    }
  }
}

TEST(MlaKernels, DispatchListsReferenceFirstBestLast) {
  const std::vector<const kernels::MlaKernels*> sets = MlaSets();
  ASSERT_GT(sets.size(), 0u);
  EXPECT_EQ(sets.front(), &kernels::ReferenceMlaKernels());
  EXPECT_EQ(sets.back(), &kernels::BestMlaKernels());
  EXPECT_EQ(std::string(sets.front()->isa), "scalar");
#if defined(__aarch64__)
  EXPECT_EQ(std::string(kernels::BestMlaKernels().isa), "neon");
#endif
}

}  // namespace
}  // namespace testing
}  // namespace kite
