#include "tests/kernels/gemm_tester.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>

#include "kernels/quant_formats.h"
#include "kernels/quantize.h"
#include "tests/kernels/test_framework.h"

namespace kite {
namespace testing {
namespace {

using kernels::GemmArgs;
using kernels::GemmKernels;

constexpr double kUnitRoundoff = 0x1p-24;   // f32
constexpr double kSubnormalStep = 0x1p-149;  // spacing of f32 subnormals: the absolute error floor
constexpr float kSentinel = -12345.678f;     // written to outputs a kernel must not touch

// Magnitudes for Values::kHuge / kTiny per weight format: {weights, activations}. Huge keeps
// K * |w| * |x| below FLT_MAX for K <= 1024 (and |w| within f16 for f16, f16 scales for Q4);
// tiny puts w * x (or the Q8/Q4 scale products) below FLT_MIN, into the subnormals.
struct Magnitudes {
  float weights, activations;
};
Magnitudes HugeMagnitudes(WeightFormat f) {
  if (f == WeightFormat::kF16) return {6e4f, 1e30f};
  if (f == WeightFormat::kQ4) return {5e5f, 1e29f};  // 5e5 / 8 fits an f16 scale
  return {1e16f, 1e16f};
}
Magnitudes TinyMagnitudes(WeightFormat f) {
  if (f == WeightFormat::kF16) return {5e-5f, 1e-35f};  // f16 subnormal weights
  if (f == WeightFormat::kQ8) return {1e-10f, 1e-25f};
  if (f == WeightFormat::kQ4) return {1e-4f, 2e-30f};  // some activation blocks fall below the Q8 cut-off
  return {1e-20f, 1e-20f};
}

// rows x cols values, uniform in [-mag, mag], with the per-row magnitude chosen by `values`.
std::vector<float> RandomMatrix(int64_t rows, int64_t cols, Values values, WeightFormat format, bool weights,
                                std::mt19937& rng) {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_real_distribution<float> log_mag(-2.0f, 1.0f);
  const Magnitudes huge = HugeMagnitudes(format), tiny = TinyMagnitudes(format);
  for (int64_t r = 0; r < rows; ++r) {
    float mag = std::pow(10.0f, log_mag(rng));
    if (values == Values::kZeros) mag = 0.0f;
    if (values == Values::kHuge) mag = weights ? huge.weights : huge.activations;
    if (values == Values::kTiny) mag = weights ? tiny.weights : tiny.activations;
    if (values == Values::kExtreme) {
      const float choices[4] = {weights ? huge.weights : huge.activations,
                                weights ? tiny.weights : tiny.activations, 0.0f, 1.0f};
      mag = choices[rng() % 4];
    }
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = mag * unit(rng);
  }
  return out;
}

struct Problem {
  int64_t m, n, k, k_pad, blocks, group_size, groups, q4_row_bytes;
  std::vector<float> x;                                  // [M][K]
  std::vector<float> w;                                  // [N][K] f32
  std::vector<uint16_t> w16;                             // [N][K] f16 or bf16
  std::vector<int8_t> w8;                                // [N][K_pad]
  std::vector<float> w8_scales;                          // [N]
  std::vector<uint8_t> w4;                               // [N][K_pad_G / 2]
  std::vector<uint16_t> w4_scales;                       // [N][groups] f16
  std::vector<int8_t> xq;                                // [M][K_pad]
  std::vector<float> xs;                                 // [M][blocks]
};

int Q4Code(const Problem& p, int64_t n, int64_t c) { return kernels::Q4CodeAt(p.w4.data() + n * p.q4_row_bytes, c); }

double DecodedWeight(const Problem& p, WeightFormat f, int64_t n, int64_t c) {
  switch (f) {
    case WeightFormat::kF32: return p.w[n * p.k + c];
    case WeightFormat::kF16: return kernels::HalfToFloat(p.w16[n * p.k + c]);
    case WeightFormat::kBf16: return kernels::Bf16ToFloat(p.w16[n * p.k + c]);
    case WeightFormat::kQ8: return static_cast<double>(p.w8[n * p.k_pad + c]) * p.w8_scales[n];
    case WeightFormat::kQ4: {
      const float scale = kernels::HalfToFloat(p.w4_scales[n * p.groups + c / p.group_size]);
      return Q4Code(p, n, c) * static_cast<double>(scale);
    }
  }
  return 0.0;
}

int WeightCode(const Problem& p, WeightFormat f, int64_t n, int64_t c) {
  return f == WeightFormat::kQ8 ? p.w8[n * p.k_pad + c] : Q4Code(p, n, c);
}

void RunKernel(const GemmKernels& set, WeightFormat f, const Problem& p, const GemmArgs& a) {
  switch (f) {
    case WeightFormat::kF32: set.gemm_f32(a, p.w.data(), p.x.data()); break;
    case WeightFormat::kF16: set.gemm_f16(a, p.w16.data(), p.x.data()); break;
    case WeightFormat::kBf16: set.gemm_bf16(a, p.w16.data(), p.x.data()); break;
    case WeightFormat::kQ8: set.gemm_q8(a, p.w8.data(), p.w8_scales.data(), p.xq.data(), p.xs.data()); break;
    case WeightFormat::kQ4:
      set.gemm_q4(a, p.w4.data(), p.w4_scales.data(), p.group_size, p.xq.data(), p.xs.data());
      break;
  }
}

void Compare(const Problem& p, WeightFormat f, const std::vector<float>& y_ref, const std::vector<float>& y_test,
             int64_t n_begin, int64_t n_end, int64_t ldy, const char* path) {
  SCOPED_TRACE(path);

  // Bounds. Float formats: both kernels sum the same K products (f16/bf16 widen exactly) in
  // different orders; each is within (K+1)u*S of the exact sum, S = sum_k |w_k x_k| (u = 2^-24), so
  // they differ by at most 2(K+8)u*S. Quantized formats: the per-block int32 dot products are exact
  // in both, only the f32 scaling (up to 3 roundings) and the accumulation over `blocks` terms
  // differ, each within (blocks + 8)u*S of exact. Subnormal results add up to one subnormal step per rounding; a Q4/Q8
  // scale product that is itself subnormal is off by up to a step times the integer dot, hence the
  // integer sum A = sum_k |w_code x_code| in that floor.
  const bool quantized = f == WeightFormat::kQ8 || f == WeightFormat::kQ4;
  int reported = 0;
  for (int64_t r = 0; r < p.m; ++r) {
    for (int64_t c = 0; c < ldy; ++c) {
      const float got = y_test[r * ldy + c], want = y_ref[r * ldy + c];
      if (c < n_begin || c >= n_end) {
        if (std::memcmp(&got, &kSentinel, sizeof(float)) != 0 && reported++ < 5) {
          EXPECT_EQ(got, kSentinel) << "wrote outside the columns at m=" << r << " n=" << c;
        }
        continue;
      }
      double s = 0.0, a_codes = 0.0;
      for (int64_t i = 0; i < p.k; ++i) {
        const double x = quantized ? static_cast<double>(p.xq[r * p.k_pad + i]) * p.xs[r * p.blocks + i / 32]
                                   : static_cast<double>(p.x[r * p.k + i]);  // the x the kernel saw
        s += std::fabs(x * DecodedWeight(p, f, c, i));
        if (quantized) a_codes += std::fabs(double(p.xq[r * p.k_pad + i]) * WeightCode(p, f, c, i));
      }
      const double terms = static_cast<double>(quantized ? p.blocks : p.k);
      const double tolerance = 2.0 * (terms + 8.0) * kUnitRoundoff * s +
                               2.0 * (a_codes + 8.0 * terms + 8.0) * kSubnormalStep;
      const bool ok = std::isfinite(got) && std::isfinite(want) && std::fabs(double(got) - want) <= tolerance;
      if (!ok && reported++ < 5) {
        EXPECT_TRUE(ok) << "m=" << r << " n=" << c << " got " << got << " reference " << want
                        << " |diff| " << std::fabs(double(got) - want) << " tolerance " << tolerance;
      }
    }
  }
  EXPECT_EQ(reported, 0) << "mismatches (first 5 shown)";
}

}  // namespace

const char* WeightFormatName(WeightFormat format) {
  switch (format) {
    case WeightFormat::kF32: return "f32";
    case WeightFormat::kF16: return "f16";
    case WeightFormat::kBf16: return "bf16";
    case WeightFormat::kQ8: return "q8";
    case WeightFormat::kQ4: return "q4";
  }
  return "?";
}

const char* ValuesName(Values values) {
  switch (values) {
    case Values::kRandom: return "random";
    case Values::kZeros: return "zeros";
    case Values::kHuge: return "huge";
    case Values::kTiny: return "tiny";
    case Values::kExtreme: return "extreme";
  }
  return "?";
}

std::string GemmTester::Describe(WeightFormat format) const {
  std::ostringstream s;
  s << WeightFormatName(format) << " M=" << m_ << " N=" << n_ << " K=" << k_;
  if (format == WeightFormat::kQ4) s << " G=" << group_size_;
  s << " n=[" << n_begin_ << "," << (n_end_ < 0 ? n_ : n_end_) << ") ldy=" << (ldy_ < 0 ? n_ : ldy_)
    << " values=" << ValuesName(values_) << " seed=" << seed_;
  return s.str();
}

void GemmTester::Test(const GemmKernels& set, WeightFormat f) const {
  SCOPED_TRACE(std::string(set.isa) + " " + Describe(f));
  const GemmKernels& ref = kernels::ReferenceGemmKernels();
  std::mt19937 rng(seed_);
  Problem p;
  p.m = m_, p.n = n_, p.k = k_;
  p.k_pad = RoundUp(k_, kQuantBlock);
  p.blocks = p.k_pad / kQuantBlock;
  p.group_size = group_size_;
  p.groups = Q4GroupsPerRow(k_, group_size_);
  p.q4_row_bytes = Q4RowBytes(k_, group_size_);
  const int64_t n_begin = n_begin_, n_end = n_end_ < 0 ? n_ : n_end_, ldy = ldy_ < 0 ? n_ : ldy_;
  ASSERT_TRUE(0 <= n_begin && n_begin <= n_end && n_end <= n_ && ldy >= n_);

  const bool extreme_codes = values_ == Values::kExtreme && (f == WeightFormat::kQ8 || f == WeightFormat::kQ4);
  p.x = RandomMatrix(m_, k_, values_, f, /*weights=*/false, rng);
  p.w = RandomMatrix(n_, k_, values_, f, /*weights=*/true, rng);
  p.xq.resize(static_cast<size_t>(m_ * p.k_pad));
  p.xs.resize(static_cast<size_t>(m_ * p.blocks));
  ref.quantize_activations_q8(p.x.data(), m_, k_, p.xq.data(), p.xs.data());
  std::uniform_real_distribution<float> scale_dist(0.5f, 2.0f);
  if (extreme_codes) {  // activation codes +-127 with ordinary scales; padding stays zero
    for (int64_t r = 0; r < m_; ++r) {
      for (int64_t c = 0; c < k_; ++c) p.xq[r * p.k_pad + c] = (rng() & 1) ? 127 : -127;
      for (int64_t b = 0; b < p.blocks; ++b) p.xs[r * p.blocks + b] = scale_dist(rng);
    }
  }
  // Rows outside [n_begin, n_end) get NaN weights or scales: a kernel that mixes them into a
  // computed column turns it into NaN.
  auto outside = [&](int64_t row) { return row < n_begin || row >= n_end; };
  switch (f) {
    case WeightFormat::kF32:
      for (int64_t r = 0; r < n_; ++r) {
        if (outside(r)) std::fill(p.w.begin() + r * k_, p.w.begin() + (r + 1) * k_, std::nanf(""));
      }
      break;
    case WeightFormat::kF16:
    case WeightFormat::kBf16:
      p.w16.resize(p.w.size());
      for (size_t i = 0; i < p.w.size(); ++i) {
        p.w16[i] = f == WeightFormat::kF16 ? kernels::FloatToHalf(p.w[i]) : kernels::FloatToBf16(p.w[i]);
        if (outside(static_cast<int64_t>(i) / k_)) p.w16[i] = f == WeightFormat::kF16 ? 0x7e00 : 0x7fc0;
      }
      break;
    case WeightFormat::kQ8:
      p.w8.resize(static_cast<size_t>(n_ * p.k_pad));
      p.w8_scales.resize(static_cast<size_t>(n_));
      kernels::QuantizeRowsQ8(p.w.data(), n_, k_, p.w8.data(), p.w8_scales.data());
      if (extreme_codes) {
        const int8_t codes[3] = {-128, -127, 127};
        for (int64_t r = 0; r < n_; ++r) {
          for (int64_t c = 0; c < k_; ++c) p.w8[r * p.k_pad + c] = codes[rng() % 3];
          p.w8_scales[r] = scale_dist(rng);
        }
      }
      for (int64_t r = 0; r < n_; ++r) {
        if (outside(r)) p.w8_scales[r] = std::nanf("");
      }
      break;
    case WeightFormat::kQ4:
      p.w4.resize(static_cast<size_t>(n_ * p.q4_row_bytes));
      p.w4_scales.resize(static_cast<size_t>(n_ * p.groups));
      kernels::QuantizeRowsQ4(p.w.data(), n_, k_, group_size_, p.w4.data(), p.w4_scales.data());
      if (extreme_codes) {  // codes -8/7 only; row 0 all -8; signed scales
        for (int64_t r = 0; r < n_; ++r) {
          for (int64_t c = 0; c < k_; ++c) {
            const int nibble = (r == 0 || (rng() & 1)) ? 0 : 15;  // code -8 or 7
            uint8_t& byte = p.w4[r * p.q4_row_bytes + (c / 32) * 16 + c % 16];
            byte = (c % 32) < 16 ? static_cast<uint8_t>((byte & 0xf0) | nibble)
                                 : static_cast<uint8_t>((byte & 0x0f) | (nibble << 4));
          }
          for (int64_t g = 0; g < p.groups; ++g) {
            p.w4_scales[r * p.groups + g] = kernels::FloatToHalf((rng() & 1 ? -1.0f : 1.0f) * scale_dist(rng));
          }
        }
      }
      for (int64_t r = 0; r < n_; ++r) {
        if (!outside(r)) continue;
        std::fill(p.w4_scales.begin() + r * p.groups, p.w4_scales.begin() + (r + 1) * p.groups, 0x7e00);
      }
      break;
  }

  std::vector<float> y_ref(static_cast<size_t>(m_ * ldy), kSentinel), y_test = y_ref;
  GemmArgs a;
  a.m = m_, a.k = k_, a.ldy = ldy, a.n_begin = n_begin, a.n_end = n_end;
  a.y = y_ref.data();
  RunKernel(ref, f, p, a);
  a.y = y_test.data();
  RunKernel(set, f, p, a);
  Compare(p, f, y_ref, y_test, n_begin, n_end, ldy, "gemm");
  // The set's Q4 kernel over rows rearranged into transposed groups (quant_formats.h), as the Engine
  // stores them for it (matrices with an even row count).
  if (f == WeightFormat::kQ4 && set.gemm_q4_transposed != nullptr && n_ % 2 == 0) {
    std::vector<uint8_t> transposed = p.w4;
    kernels::TransposeQ4Groups(transposed.data(), n_, k_, p.group_size);
    std::vector<float> y_transposed(y_ref.size(), kSentinel);
    a.y = y_transposed.data();
    set.gemm_q4_transposed(a, transposed.data(), p.w4_scales.data(), p.group_size, p.xq.data(), p.xs.data());
    Compare(p, f, y_ref, y_transposed, n_begin, n_end, ldy, "gemm_q4_transposed");
  }
  // The set's second Q4 path for M >= 2, on its own activation layout made from the same xq.
  if (f == WeightFormat::kQ4 && set.gemm_q4_prefill != nullptr && m_ >= 2) {
    std::vector<uint8_t> prepared(static_cast<size_t>(kernels::Q4PrefillBufferBytes(m_, k_)));
    void* aligned = kernels::AlignQ4Prefill(prepared.data());
    set.prepare_q4_prefill(p.xq.data(), p.xs.data(), m_, k_, aligned);
    std::vector<float> y_prefill(y_ref.size(), kSentinel);
    a.y = y_prefill.data();
    set.gemm_q4_prefill(a, p.w4.data(), p.w4_scales.data(), p.group_size, aligned);
    Compare(p, f, y_ref, y_prefill, n_begin, n_end, ldy, "gemm_q4_prefill");
  }
}

std::vector<const kernels::GemmKernels*> AvailableKernelSets() {
  const kernels::GemmKernels* sets[kernels::kMaxGemmKernelSets];
  const int count = kernels::AvailableGemmKernels(sets, kernels::kMaxGemmKernelSets);
  return std::vector<const kernels::GemmKernels*>(sets, sets + count);
}

}  // namespace testing
}  // namespace kite
