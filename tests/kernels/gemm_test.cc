// Every kernel set this CPU can run against the scalar reference (the
// reference also runs against itself: that checks the tester). Tolerances
// are derived in gemm_tester.cc; the activation quantizer must match exactly.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

#include "kernels/gemm.h"
#include "kernels/gemm_tiling.h"
#include "kernels/quant_formats.h"
#include "kernels/quantize.h"
#include "tests/kernels/gemm_tester.h"
#include "tests/kernels/test_framework.h"

namespace kite {
namespace testing {
namespace {

const WeightFormat kFormats[] = {WeightFormat::kF32, WeightFormat::kF16, WeightFormat::kBf16, WeightFormat::kQ8,
                                 WeightFormat::kQ4};
const int64_t kGroupSizes[] = {32, 64, 128};

// K around the 32-column block and the 8/16-wide vectors, N around the 2- and 4-column tiles, M around
// the 4-row tile.
void TestEdgeShapes(WeightFormat format) {
  uint32_t seed = 1;
  for (const kernels::GemmKernels* set : AvailableKernelSets()) {
    for (int64_t k : {1, 17, 31, 32, 33, 64, 172, 896}) {
      for (int64_t n : {1, 3, 5, 7, 67}) {
        for (int64_t m : {1, 2, 3, 4, 5, 17}) {
          ++seed;
          GemmTester().m(m).n(n).k(k).group_size(kGroupSizes[seed % 3]).seed(seed).Test(*set, format);
        }
      }
    }
  }
}

TEST(GemmF32, MatchesReferenceOnEdgeShapes) { TestEdgeShapes(WeightFormat::kF32); }
TEST(GemmF16, MatchesReferenceOnEdgeShapes) { TestEdgeShapes(WeightFormat::kF16); }
TEST(GemmBf16, MatchesReferenceOnEdgeShapes) { TestEdgeShapes(WeightFormat::kBf16); }
TEST(GemmQ8, MatchesReferenceOnEdgeShapes) { TestEdgeShapes(WeightFormat::kQ8); }
TEST(GemmQ4, MatchesReferenceOnEdgeShapes) { TestEdgeShapes(WeightFormat::kQ4); }

// Decode (M = 1) over rows longer than the edge shapes': the decode tiles prefetch a distance that
// grows with the row, x86 float, AVX-512 Q8 and wasm Q8/Q4 decode read one row per tile, and wasm
// prepares the activations 2048 columns at a time; over a column sub-range too.
TEST(Gemm, DecodeOverLongRows) {
  uint32_t seed = 7;
  for (const kernels::GemmKernels* set : AvailableKernelSets()) {
    for (WeightFormat format : kFormats) {
      for (int64_t k : {2048, 2049, 2080, 4871}) {
        for (int64_t n : {1, 5, 67}) {
          ++seed;
          GemmTester().m(1).n(n).k(k).group_size(kGroupSizes[seed % 3]).n_range(n / 3, n).seed(seed).Test(*set, format);
        }
      }
    }
  }
}

TEST(GemmQ4, GroupSizesWithKCrossingGroupBoundaries) {
  for (const kernels::GemmKernels* set : AvailableKernelSets()) {
    for (int64_t g : {32, 64, 128, 256}) {  // 256 is outside the format; kernels must still be right
      for (int64_t k : {33, 63, 64, 65, 96, 127, 128, 129, 160, 200, 300}) {
        for (int64_t m : {1, 2, 4, 6}) {
          GemmTester().m(m).n(9).k(k).group_size(g).seed(static_cast<uint32_t>(k * 7 + m)).Test(
              *set, WeightFormat::kQ4);
        }
      }
    }
  }
}

// The Q4 prefill path's loop nest (gemm_q4_prefill of sets that have one; the plain path otherwise):
// K in more than one stack-sized slice (over 14 chunks of 16 blocks), M across row panels (56 rows
// per panel at 14 chunks), column groups of up to 64 with a partial last tile, and a partial last chunk.
TEST(GemmQ4, PrefillSlicesPanelsAndColumnGroups) {
  const int64_t shapes[][5] = {{2, 9, 7300, 0, 9},   {5, 150, 896, 3, 147}, {70, 21, 7000, 1, 21},
                               {7, 70, 7168, 0, 70}, {3, 5, 15000, 2, 5},   {9, 130, 200, 64, 130}};  // M N K n0 n1
  for (const kernels::GemmKernels* set : AvailableKernelSets()) {
    for (const auto& s : shapes) {
      for (int64_t g : {32, 128}) {
        GemmTester().m(s[0]).n(s[1]).k(s[2]).n_range(s[3], s[4]).group_size(g).seed(static_cast<uint32_t>(s[2] + g))
            .Test(*set, WeightFormat::kQ4);
      }
    }
  }
}

TEST(Gemm, ColumnSubRangesAndOutputStride) {
  const int64_t ranges[][2] = {{0, 67}, {5, 61}, {66, 67}, {0, 1}, {13, 14}, {3, 10}, {8, 8}};
  for (const kernels::GemmKernels* set : AvailableKernelSets()) {
    for (WeightFormat format : kFormats) {
      for (const auto& range : ranges) {
        for (int64_t ldy : {67, 80}) {
          for (int64_t m : {1, 5}) {
            GemmTester().m(m).n(67).k(100).group_size(64).n_range(range[0], range[1]).ldy(ldy).Test(*set, format);
          }
        }
      }
    }
  }
}

TEST(Gemm, ExtremeValues) {
  const Values modes[] = {Values::kZeros, Values::kHuge, Values::kTiny, Values::kExtreme};
  const int64_t shapes[][3] = {{1, 7, 33}, {2, 5, 64}, {5, 9, 172}, {17, 67, 896}};  // M, N, K
  for (const kernels::GemmKernels* set : AvailableKernelSets()) {
    for (WeightFormat format : kFormats) {
      for (Values mode : modes) {
        for (const auto& s : shapes) {
          for (int64_t g : kGroupSizes) {
            if (format != WeightFormat::kQ4 && g != 32) continue;
            GemmTester().m(s[0]).n(s[1]).k(s[2]).group_size(g).values(mode).seed(3).Test(*set, format);
          }
        }
      }
    }
  }
}

// Enough columns that the tiling's column blocks (kGemmColumnBlockBytes of weights each) come in
// several pieces, with M past one row tile.
TEST(Gemm, SeveralColumnBlocks) {
  for (const kernels::GemmKernels* set : AvailableKernelSets()) {
    for (WeightFormat format : kFormats) {
      const int64_t k = format == WeightFormat::kQ4 || format == WeightFormat::kQ8 ? 64 : 200;
      const int64_t row_bytes = format == WeightFormat::kQ4 ? k / 2 : format == WeightFormat::kQ8 ? k
                                : format == WeightFormat::kF32 ? 4 * k : 2 * k;
      const int64_t n = 2 * kernels::kGemmColumnBlockBytes / row_bytes + 5;
      GemmTester().m(6).n(n).k(k).n_range(3, n).seed(9).Test(*set, format);
    }
  }
}

TEST(Gemm, RandomShapes) {
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t m = 1 + rng() % 20, n = 1 + rng() % 90, k = 1 + rng() % 700;
    const int64_t n_begin = rng() % n, n_end = n_begin + 1 + rng() % (n - n_begin);
    for (const kernels::GemmKernels* set : AvailableKernelSets()) {
      for (WeightFormat format : kFormats) {
        GemmTester()
            .m(m).n(n).k(k).group_size(kGroupSizes[trial % 3]).n_range(n_begin, n_end).ldy(n + trial % 3)
            .seed(static_cast<uint32_t>(trial)).Test(*set, format);
      }
    }
  }
}

// All 65536 f16 (bf16) bit patterns through the vector conversion of each kernel set: row h holds
// pattern h in column h % 8 and zeros elsewhere, x is all ones, so y[h] is the widened value exactly.
// k = 8 and 16 (one vector of each ISA's conversion, full or partial), M = 1 and 2 (decode and prefill
// tiles, which differ on AVX-512).
void TestAllPatternsWiden(WeightFormat format) {
  const int64_t n = 65536;
  for (int64_t k : {8, 16}) {
    std::vector<uint16_t> w(static_cast<size_t>(n * k), 0);
    for (int64_t h = 0; h < n; ++h) w[h * k + h % k] = static_cast<uint16_t>(h);
    for (int64_t m : {1, 2}) {
      const std::vector<float> x(static_cast<size_t>(m * k), 1.0f);
      for (const kernels::GemmKernels* set : AvailableKernelSets()) {
        SCOPED_TRACE(std::string(set->isa) + " k=" + std::to_string(k) + " m=" + std::to_string(m));
        std::vector<float> y(static_cast<size_t>(m * n));
        kernels::GemmArgs a;
        a.m = m, a.k = k, a.ldy = n, a.n_begin = 0, a.n_end = n, a.y = y.data();
        (format == WeightFormat::kF16 ? set->gemm_f16 : set->gemm_bf16)(a, w.data(), x.data());
        int bad = 0;
        for (int64_t i = 0; i < m * n; ++i) {
          const uint16_t bits = static_cast<uint16_t>(i % n);
          const float want = format == WeightFormat::kF16 ? kernels::HalfToFloat(bits) : kernels::Bf16ToFloat(bits);
          // Adding the zero columns turns -0 into +0, so compare values (and NaN-ness), not bits.
          const bool ok = std::isnan(want) ? std::isnan(y[i]) : y[i] == want;
          if (!ok && bad++ < 5) {
            EXPECT_EQ(y[i], want) << "pattern 0x" << std::hex << i % n << std::dec;
          }
        }
        EXPECT_EQ(bad, 0);
      }
    }
  }
}

TEST(GemmF16, AllHalfPatternsWidenExactly) { TestAllPatternsWiden(WeightFormat::kF16); }
TEST(GemmBf16, AllBf16PatternsWidenExactly) { TestAllPatternsWiden(WeightFormat::kBf16); }

// All 65536 f16 patterns as Q4 group scales: row h has scale h on block h % B of its B = 5 or 6
// blocks (one full 4-block step of the wasm decode loop and a partial one of 1 or 2 blocks, which
// the wasm decode takes for two rows at a time) and scale 0 elsewhere; every weight
// code is +1 and x is code 1 at the first column of each block with scale 1, so y[h] is the
// widened scale exactly for finite scales. An Inf or NaN scale must give Inf or NaN: which one is left
// to the kernel (the weights q * Inf meet x = 0 in the other columns, and 0 * Inf is NaN, so some
// sets give NaN where the reference's integer dot times the scale gives Inf). The wasm decode loop
// converts finite scales only and hands rows with Inf/NaN scales to an exact path. A kernel over
// transposed groups is held to the finite patterns: its whole groups' scales must be finite
// (GemmKernels::gemm_q4_transposed; RearrangeQ4ForKernels leaves other matrices stored), and row h's
// result depends on row h's scales only. M = 1 and 2, groups of 32.
TEST(GemmQ4, AllScalePatternsConvertExactly) {
  for (int64_t k : {160, 192}) {
    const int64_t n = 65536, blocks = k / 32;
    std::vector<uint8_t> w(static_cast<size_t>(n * k / 2), 0x99);  // nibbles 9: code +1
    std::vector<uint16_t> scales(static_cast<size_t>(n * blocks), 0);
    for (int64_t h = 0; h < n; ++h) scales[h * blocks + h % blocks] = static_cast<uint16_t>(h);
    for (int64_t m : {1, 2}) {
      std::vector<int8_t> xq(static_cast<size_t>(m * k), 0);
      for (int64_t i = 0; i < m * k; i += 32) xq[i] = 1;
      const std::vector<float> x_scales(static_cast<size_t>(m * blocks), 1.0f);
      // Each set's Q4 kernels; the weights' bytes are all equal, so they are their own transposed groups.
      struct Q4Kernel {
        std::string name;
        kernels::GemmQ4Fn gemm;
        bool finite_scales_only;
      };
      std::vector<Q4Kernel> q4_kernels;
      for (const kernels::GemmKernels* set : AvailableKernelSets()) {
        q4_kernels.push_back({set->isa, set->gemm_q4, false});
        if (set->gemm_q4_transposed) {
          q4_kernels.push_back({std::string(set->isa) + " transposed", set->gemm_q4_transposed, true});
        }
      }
      for (const auto& [name, gemm, finite_scales_only] : q4_kernels) {
        SCOPED_TRACE(name + " k=" + std::to_string(k) + " m=" + std::to_string(m));
        std::vector<float> y(static_cast<size_t>(m * n));
        kernels::GemmArgs a;
        a.m = m, a.k = k, a.ldy = n, a.n_begin = 0, a.n_end = n, a.y = y.data();
        gemm(a, w.data(), scales.data(), 32, xq.data(), x_scales.data());
        int bad = 0, checked = 0;
        for (int64_t i = 0; i < m * n; ++i) {
          const float want = kernels::HalfToFloat(static_cast<uint16_t>(i % n));
          if (finite_scales_only && !std::isfinite(want)) continue;
          ++checked;
          const bool ok = std::isfinite(want) ? y[i] == want : !std::isfinite(y[i]);  // +-0 compare equal
          if (!ok && bad++ < 5) {
            EXPECT_EQ(y[i], want) << "scale 0x" << std::hex << i % n << std::dec;
          }
        }
        EXPECT_EQ(bad, 0);
        EXPECT_EQ(checked, finite_scales_only ? m * (n - 2048) : m * n);  // 2048 Inf/NaN patterns
      }
    }
  }
}

// The activation quantizer has no tolerance: every ISA must produce the reference's bytes and scales,
// or the integer kernels would see different inputs on different machines.
TEST(QuantizeActivations, SimdMatchesReferenceExactly) {
  const kernels::GemmKernels& ref = kernels::ReferenceGemmKernels();
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  enum Mode { kRandomValues, kZeroValues, kHugeValues, kNearCutoff, kTies, kOneNonzero, kModes };
  for (const kernels::GemmKernels* set : AvailableKernelSets()) {
    for (int64_t k : {1, 17, 31, 32, 33, 64, 172, 896}) {
      for (int mode = 0; mode < kModes; ++mode) {
        const int64_t m = 3, k_pad = RoundUp(k, kQuantBlock), blocks = k_pad / kQuantBlock;
        SCOPED_TRACE(std::string(set->isa) + " K=" + std::to_string(k) + " mode=" + std::to_string(mode));
        std::vector<float> x(static_cast<size_t>(m * k));
        for (int64_t i = 0; i < m * k; ++i) {
          const int64_t c = i % k;
          switch (mode) {
            case kRandomValues: x[i] = unit(rng) * std::pow(10.0f, 3.0f * unit(rng)); break;
            case kZeroValues: x[i] = 0.0f; break;
            case kHugeValues: x[i] = 3e38f * unit(rng); break;
            // Magnitudes straddling kQ8ActivationMinAbsMax: some blocks quantize, some become zero.
            case kNearCutoff: x[i] = kQ8ActivationMinAbsMax * 2.0f * unit(rng); break;
            // max|x| = 127 makes the reciprocal exactly 1, so x = j + 0.5 are exact ties: round to even.
            case kTies: x[i] = c % 32 == 0 ? 127.0f : static_cast<float>(c % 32 - 16) + 0.5f; break;
            case kOneNonzero: x[i] = c == k / 2 ? -3.5f : 0.0f; break;
          }
        }
        std::vector<int8_t> q_ref(static_cast<size_t>(m * k_pad), 99), q_set(q_ref);
        std::vector<float> s_ref(static_cast<size_t>(m * blocks), -1.0f), s_set(s_ref);
        ref.quantize_activations_q8(x.data(), m, k, q_ref.data(), s_ref.data());
        set->quantize_activations_q8(x.data(), m, k, q_set.data(), s_set.data());
        EXPECT_EQ(std::memcmp(q_ref.data(), q_set.data(), q_ref.size()), 0);
        EXPECT_EQ(std::memcmp(s_ref.data(), s_set.data(), s_ref.size() * sizeof(float)), 0);
        for (int64_t r = 0; r < m; ++r) {
          for (int64_t c = k; c < k_pad; ++c) EXPECT_EQ(q_set[r * k_pad + c], 0) << "padding column " << c;
        }
        if (mode == kTies && k > 17) {  // -1.5 -> -2, -0.5 -> 0, 0.5 -> 0, 1.5 -> 2
          EXPECT_EQ(q_ref[14], -2);
          EXPECT_EQ(q_ref[15], 0);
          EXPECT_EQ(q_ref[16], 0);
          EXPECT_EQ(q_ref[17], 2);
        }
      }
    }
  }
}

// Non-finite activations give unspecified codes, but the reference and the wasm sets keep them in
// [-127, 127] and write every block's scale: the relaxed wasm Q8 kernel feeds |code| to an
// instruction whose 7-bit operand must not exceed 127. (The x86 sets emit -128 here, which their
// kernels take as |code| = 128 in an unsigned operand.) Blocks mix NaN, +-inf and finite values.
TEST(QuantizeActivations, NonFiniteInputKeepsCodesInRange) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float specials[] = {nan, -nan, inf, -inf, 1.0f, -1.0f, 3e38f, -3e38f, 0.0f};
  for (const kernels::GemmKernels* set : AvailableKernelSets()) {
    const std::string isa = set->isa;
    if (isa != "scalar" && isa.rfind("wasm", 0) != 0) continue;
    for (int64_t k : {32, 45, 96}) {
      SCOPED_TRACE(std::string(set->isa) + " K=" + std::to_string(k));
      const int64_t m = 3, k_pad = RoundUp(k, kQuantBlock), blocks = k_pad / kQuantBlock;
      std::vector<float> x(static_cast<size_t>(m * k));
      for (size_t i = 0; i < x.size(); ++i) x[i] = specials[(i * 7 + i / 5) % 9];
      std::vector<int8_t> q(static_cast<size_t>(m * k_pad), 99);
      std::vector<float> scales(static_cast<size_t>(m * blocks), -1.0f);
      set->quantize_activations_q8(x.data(), m, k, q.data(), scales.data());
      for (size_t i = 0; i < q.size(); ++i) {
        EXPECT_NE(q[i], -128) << "at " << i;  // int8 is at most 127
      }
      for (float s : scales) EXPECT_NE(s, -1.0f);
    }
  }
}

TEST(GemmDispatch, ReferenceFirstBestLast) {
  const std::vector<const kernels::GemmKernels*> sets = AvailableKernelSets();
  ASSERT_GE(sets.size(), 1u);
  EXPECT_EQ(sets.front(), &kernels::ReferenceGemmKernels());
  EXPECT_EQ(std::string(sets.front()->isa), "scalar");
  EXPECT_EQ(sets.back(), &kernels::BestGemmKernels());
  const kernels::GemmKernels* one[1];
  EXPECT_EQ(kernels::AvailableGemmKernels(one, 1), 1);  // stores no more than capacity
  for (const kernels::GemmKernels* set : sets) {
    EXPECT_TRUE(set->gemm_f32 && set->gemm_f16 && set->gemm_bf16 && set->gemm_q8 && set->gemm_q4 &&
                set->quantize_activations_q8)
        << set->isa;
  }
  std::string names;
  for (const kernels::GemmKernels* set : sets) names += std::string(names.empty() ? "" : " ") + set->isa;
  std::printf("kernel sets on this CPU: %s\n", names.c_str());
#if defined(__x86_64__)
  // Cross-check the cpuid code with the compiler's own detection.
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx_vnni = avx2 && __builtin_cpu_supports("avxvnni");
  const bool avx512_vnni = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  const std::string expected = std::string(avx2 ? "scalar avx2" : "scalar") + (avx_vnni ? " avx-vnni" : "") +
                               (avx512_vnni ? " avx512-vnni" : "");
  EXPECT_EQ(names, expected);
#elif defined(__aarch64__) && defined(__linux__)
  // Cross-check with the kernel's feature bits read here independently (values of asm/hwcap.h).
  const bool dotprod = getauxval(AT_HWCAP) & (1ul << 20), i8mm = getauxval(AT_HWCAP2) & (1ul << 13);
  const std::string expected =
      std::string("scalar neon") + (dotprod ? " neon-dotprod" : "") + (dotprod && i8mm ? " neon-i8mm" : "");
  EXPECT_EQ(names, expected);
#endif
}

}  // namespace
}  // namespace testing
}  // namespace kite
