// kernels::SiluMul (the CPU's fastest version) against SiluMulScalar (libm's expf) on random values
// over the whole range where the result is normal, lengths around the 8-wide vector, and the edges:
// zeros, the exp clamp points, huge, infinite and NaN gates. Tolerance: the SIMD exp is within
// 2 ulp of expf on [-87, 88], the sigmoid takes one division and the product two roundings, so 8
// ulp of the result; where e^-|g| is below FLT_MIN (|g| > 87.3) the SIMD version uses 0, which moves
// the result by less than |g| * 1e-37.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/ref/transformer_ops.h"
#include "tests/kernels/test_framework.h"

namespace kite {
namespace testing {
namespace {

void ExpectSiluMulMatchesScalar(const std::vector<float>& gate, const std::vector<float>& up) {
  std::vector<float> got = gate, want = gate;
  kernels::SiluMul(got.data(), up.data(), static_cast<int64_t>(got.size()));
  kernels::SiluMulScalar(want.data(), up.data(), static_cast<int64_t>(want.size()));
  int reported = 0;
  for (size_t i = 0; i < gate.size(); ++i) {
    if (std::isnan(want[i])) {
      if (!std::isnan(got[i]) && reported++ < 5) ADD_FAILURE() << "gate " << gate[i] << ": got " << got[i] << ", want NaN";
      continue;
    }
    const double tolerance = 8.0 * 0x1p-24 * std::fabs(double(want[i])) +
                             std::fabs(double(gate[i]) * up[i]) * 1e-37 + 1e-44;
    const bool ok = got[i] == want[i] || std::fabs(double(got[i]) - want[i]) <= tolerance;
    if (!ok && reported++ < 5) {
      ADD_FAILURE() << "n=" << gate.size() << " i=" << i << " gate " << gate[i] << " up " << up[i] << ": got "
                    << got[i] << ", scalar " << want[i] << ", tolerance " << tolerance;
    }
  }
  EXPECT_EQ(reported, 0);
}

TEST(SiluMul, MatchesScalarOnRandomValuesAndLengths) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> wide(-100.0f, 100.0f), narrow(-6.0f, 6.0f), up(-3.0f, 3.0f);
  for (int64_t n : {1, 7, 8, 9, 15, 16, 17, 33, 4864 + 3}) {
    std::vector<float> g(n), u(n);
    for (int64_t i = 0; i < n; ++i) {
      g[i] = (i % 3 == 0) ? wide(rng) : narrow(rng);
      u[i] = up(rng);
    }
    ExpectSiluMulMatchesScalar(g, u);
  }
}

TEST(SiluMul, EdgeValues) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> g = {0.0f,   -0.0f,  1e-30f, -1e-30f, 87.0f,  -87.0f, 87.4f,  -87.4f, 88.7f, -88.7f,
                          89.0f,  -89.0f, 1e30f,  -1e30f,  inf,    -inf,   std::nanf(""), 0.5f, -0.5f, 20.0f,
                          -20.0f, 1e-40f, -1e-40f, 3.0e38f};
  std::vector<float> u(g.size(), 1.0f);
  u[3] = -2.0f;
  ExpectSiluMulMatchesScalar(g, u);
}

}  // namespace
}  // namespace testing
}  // namespace kite
