// One tester for every gemm kernel (in the manner of XNNPACK's gemm tester):
// chained setters describe a problem, Test() builds the inputs, runs a kernel
// set and the scalar reference on them and checks the two agree within a
// bound derived from the arithmetic (see the comments in gemm_tester.cc).
//
//   GemmTester().m(5).n(67).k(172).group_size(64).Test(kernels, WeightFormat::kQ4);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/gemm.h"

namespace kite {
namespace testing {

enum class WeightFormat { kF32, kF16, kBf16, kQ8, kQ4 };
const char* WeightFormatName(WeightFormat format);

enum class Values {
  kRandom,   // rows of random magnitude (0.01 to 10), uniform within a row
  kZeros,    // all weights and activations zero
  kHuge,     // near the top of each format's range, with sums still finite
  kTiny,     // products in the f32 subnormal range
  kExtreme,  // float: rows of mixed huge/tiny/zero magnitude; quantized: codes at the ends of their
             // ranges (Q8 weights -128/-127/127, Q4 codes -8/7, activation codes +-127)
};
const char* ValuesName(Values values);

class GemmTester {
 public:
  GemmTester& m(int64_t v) { m_ = v; return *this; }
  GemmTester& n(int64_t v) { n_ = v; return *this; }
  GemmTester& k(int64_t v) { k_ = v; return *this; }
  GemmTester& group_size(int64_t v) { group_size_ = v; return *this; }
  // Compute only columns [begin, end); the default is all of [0, N).
  GemmTester& n_range(int64_t begin, int64_t end) { n_begin_ = begin; n_end_ = end; return *this; }
  // Output row stride; the default is N. Entries outside the computed columns must stay untouched.
  GemmTester& ldy(int64_t v) { ldy_ = v; return *this; }
  GemmTester& values(Values v) { values_ = v; return *this; }
  GemmTester& seed(uint32_t v) { seed_ = v; return *this; }

  // Runs `kernels` and the reference; reports failures through the test framework.
  void Test(const kernels::GemmKernels& kernels, WeightFormat format) const;

  std::string Describe(WeightFormat format) const;

 private:
  int64_t m_ = 1, n_ = 1, k_ = 1, group_size_ = 32;
  int64_t n_begin_ = 0, n_end_ = -1, ldy_ = -1;
  Values values_ = Values::kRandom;
  uint32_t seed_ = 1;
};

// The kernel sets this CPU can run, reference first.
std::vector<const kernels::GemmKernels*> AvailableKernelSets();

}  // namespace testing
}  // namespace kite
