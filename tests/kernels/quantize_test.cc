// Number formats and quantization: f16/bf16 conversion on every bit pattern,
// round-to-nearest-even at every midpoint, and the error bounds of the
// Q8/Q4 weight and Q8 activation round trips.
#include <algorithm>
#include <cmath>
#include <cstring>
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

constexpr double kU = 0x1p-24;  // f32 unit roundoff

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// Independent of the bit manipulation under test: the IEEE binary16 definition in double.
double HalfValue(uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 31, mantissa = h & 1023;
  double v = exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, exponent - 25);
  if (exponent == 31) v = mantissa == 0 ? INFINITY : NAN;
  return sign ? -v : v;
}

TEST(HalfConversion, AllPatternsWidenToTheirValue) {
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float got = HalfToFloat(static_cast<uint16_t>(h));
    const double want = HalfValue(static_cast<uint16_t>(h));
    const bool ok = std::isnan(want) ? std::isnan(got) : (got == want && std::signbit(got) == std::signbit(want));
    if (!ok && bad++ < 5) {
      EXPECT_TRUE(ok) << "pattern " << h << " got " << got << " want " << want;
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST(HalfConversion, AllPatternsRoundTrip) {
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t back = FloatToHalf(HalfToFloat(static_cast<uint16_t>(h)));
    const bool is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    // NaN stays NaN (made quiet) with its sign; everything else comes back bit for bit.
    const bool ok = is_nan ? ((back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0 && (back & 0x8000) == (h & 0x8000))
                           : back == h;
    if (!ok && bad++ < 5) {
      EXPECT_EQ(back, h);
    }
  }
  EXPECT_EQ(bad, 0);
}

// Between each pair of neighbouring halves (either sign): the midpoint goes to the even one, one float
// step either side of it goes to the nearer one. Midpoints are exact in f32 (12 significant bits).
TEST(HalfConversion, RoundsToNearestEvenAtEveryMidpoint) {
  int bad = 0;
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    for (uint32_t sign : {0u, 0x8000u}) {
      const float lo = HalfToFloat(static_cast<uint16_t>(h)), hi = HalfToFloat(static_cast<uint16_t>(h + 1));
      const float mid = static_cast<float>((double(lo) + double(hi)) / 2);
      const float s = sign ? -1.0f : 1.0f;
      const uint16_t even = static_cast<uint16_t>(sign | ((h & 1) ? h + 1 : h));
      const bool ok = FloatToHalf(s * mid) == even &&
                      FloatToHalf(s * std::nextafter(mid, 0.0f)) == (sign | h) &&
                      FloatToHalf(s * std::nextafter(mid, INFINITY)) == (sign | (h + 1));
      if (!ok && bad++ < 5) {
        EXPECT_TRUE(ok) << "between patterns " << h << " and " << h + 1 << " sign " << sign;
      }
    }
  }
  EXPECT_EQ(bad, 0);
  // 65520 is the midpoint between 65504 (0x7bff, odd) and 2^16: it and everything above become inf.
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);
  EXPECT_EQ(FloatToHalf(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(FloatToHalf(-1e10f), 0xfc00);
  EXPECT_EQ(FloatToHalf(INFINITY), 0x7c00);
  // 2^-25 is the midpoint between 0 and the smallest subnormal: ties to 0; just above goes to 1.
  EXPECT_EQ(FloatToHalf(0x1p-25f), 0x0000);
  EXPECT_EQ(FloatToHalf(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(FloatToHalf(-1e-30f), 0x8000);
  EXPECT_EQ(FloatToHalf(std::nanf("")) & 0x7e00, 0x7e00);
}

// FloatToHalfRow (SIMD in wasm builds) gives FloatToHalf's bits for every input: every half's value
// and the midpoints around it (with their neighbours), all exponents with random mantissas, inf, NaN
// payloads and both signs, at lengths that leave a scalar tail.
TEST(HalfConversion, RowMatchesScalar) {
  std::vector<float> x;
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const float v = HalfToFloat(static_cast<uint16_t>(h)), next = HalfToFloat(static_cast<uint16_t>(h + 1));
    const float mid = static_cast<float>((double(v) + double(next)) / 2);
    for (float f : {v, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)}) {
      x.push_back(f);
      x.push_back(-f);
    }
  }
  std::mt19937 rng(11);
  for (uint32_t exponent = 0; exponent < 256; ++exponent) {
    for (int i = 0; i < 64; ++i) x.push_back(FromBits((static_cast<uint32_t>(rng()) & 0x807fffffu) | (exponent << 23)));
  }
  for (uint32_t bits : {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fbfe000u, 0xff9fffffu,
                        0x477ff000u, 0x477fefffu, 0x33000000u, 0x33000001u, 0x387fe000u, 0x387fffffu}) {
    x.push_back(FromBits(bits));
  }
  for (size_t n : {x.size(), size_t{1}, size_t{7}, size_t{9}, size_t{15}}) {
    std::vector<uint16_t> got(n, 0x1234);
    FloatToHalfRow(x.data(), got.data(), static_cast<int64_t>(n));
    int bad = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint16_t want = FloatToHalf(x[i]);
      if (got[i] != want && bad++ < 5) {
        ADD_FAILURE() << "n=" << n << " i=" << i << " bits 0x" << std::hex << Bits(x[i]) << ": got 0x" << got[i]
                      << ", FloatToHalf 0x" << want;
      }
    }
    EXPECT_EQ(bad, 0);
  }
}

TEST(Bf16Conversion, AllPatternsWidenAndRoundTrip) {
  int bad = 0;
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = Bf16ToFloat(static_cast<uint16_t>(b));
    const bool is_nan = (b & 0x7f80) == 0x7f80 && (b & 0x7f) != 0;
    bool ok = Bits(f) == (b << 16);
    const uint16_t back = FloatToBf16(f);
    ok = ok && (is_nan ? std::isnan(Bf16ToFloat(back)) && (back & 0x8000) == (b & 0x8000) : back == b);
    if (!ok && bad++ < 5) {
      EXPECT_TRUE(ok) << "pattern " << b;
    }
  }
  EXPECT_EQ(bad, 0);
}

// The midpoint between bf16 patterns b and b+1 is the float with bits (b << 16) | 0x8000.
TEST(Bf16Conversion, RoundsToNearestEvenAtEveryMidpoint) {
  int bad = 0;
  for (uint32_t b = 0; b < 0x7f80; ++b) {
    for (uint32_t sign : {0u, 0x8000u}) {
      const uint32_t mid = ((sign | b) << 16) | 0x8000u;
      const uint16_t even = static_cast<uint16_t>(sign | ((b & 1) ? b + 1 : b));  // 0x7f7f rounds up to inf
      const bool ok = FloatToBf16(FromBits(mid)) == even && FloatToBf16(FromBits(mid - 1)) == (sign | b) &&
                      FloatToBf16(FromBits(mid + 1)) == (sign | (b + 1));
      if (!ok && bad++ < 5) {
        EXPECT_TRUE(ok) << "between patterns " << b << " and " << b + 1;
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

// n rows of k values, uniform in [-mag, mag] with mag = 10^e per row, e uniform in [min_exp, 4]; row 1 zero.
std::vector<float> RandomRows(int64_t n, int64_t k, uint32_t seed, float min_exp = -4.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f), exponent(min_exp, 4.0f);
  std::vector<float> w(static_cast<size_t>(n * k));
  for (int64_t r = 0; r < n; ++r) {
    const float mag = std::pow(10.0f, exponent(rng));
    for (int64_t c = 0; c < k; ++c) w[r * k + c] = mag * unit(rng);
  }
  if (n > 1) std::fill(w.begin() + k, w.begin() + 2 * k, 0.0f);
  return w;
}

TEST(QuantizeQ8, RoundTripWithinHalfAStep) {
  for (int64_t k : {1, 17, 32, 33, 172, 896}) {
    const int64_t n = 6, k_pad = Q8RowBytes(k);
    SCOPED_TRACE("K=" + std::to_string(k));
    const std::vector<float> w = RandomRows(n, k, static_cast<uint32_t>(k));
    std::vector<int8_t> q(static_cast<size_t>(n * k_pad), 99);
    std::vector<float> scales(n), back(w.size());
    QuantizeRowsQ8(w.data(), n, k, q.data(), scales.data());
    DequantizeRowsQ8(q.data(), scales.data(), n, k, back.data());
    for (int64_t r = 0; r < n; ++r) {
      float abs_max = 0.0f;
      for (int64_t c = 0; c < k; ++c) abs_max = std::fmax(abs_max, std::fabs(w[r * k + c]));
      EXPECT_EQ(scales[r], abs_max / 127.0f);
      // q = round(x / scale) with one rounding in the division: |x - q * scale| <= scale * (1/2 + 128u).
      const double bound = scales[r] * (0.5 + 128 * kU);
      for (int64_t c = 0; c < k; ++c) {
        const int code = q[r * k_pad + c];
        EXPECT_TRUE(code >= -127 && code <= 127) << code;
        EXPECT_LE(std::fabs(w[r * k + c] - double(code) * scales[r]), bound) << "row " << r << " col " << c;
        EXPECT_EQ(back[r * k + c], static_cast<float>(code) * scales[r]);
      }
      for (int64_t c = k; c < k_pad; ++c) EXPECT_EQ(q[r * k_pad + c], 0) << "padding column " << c;
    }
    EXPECT_EQ(scales[1], 0.0f);  // the all-zero row
  }
}

int Q4Code(const std::vector<uint8_t>& data, int64_t row_bytes, int64_t r, int64_t c) {
  return Q4CodeAt(data.data() + r * row_bytes, c);
}

TEST(QuantizeQ4, RoundTripWithinHalfAStep) {
  for (int64_t g : {32, 64, 128}) {
    for (int64_t k : {1, 31, 33, 64, 100, 129, 300}) {
      const int64_t n = 5, groups = Q4GroupsPerRow(k, g), row_bytes = Q4RowBytes(k, g);
      SCOPED_TRACE("G=" + std::to_string(g) + " K=" + std::to_string(k));
      // Magnitudes from 1e-2 keep every scale (about max/8) a normal f16; subnormal ones are tested below.
      std::vector<float> w = RandomRows(n, k, static_cast<uint32_t>(g + k), -2.0f);
      for (int64_t c = 0; c < k; ++c) w[2 * k + c] = c == k / 2 ? -8.0f : std::fmod(c * 0.37f, 7.0f);  // -8 edge
      std::vector<uint8_t> q(static_cast<size_t>(n * row_bytes), 0x5a);
      std::vector<uint16_t> scales(static_cast<size_t>(n * groups));
      std::vector<float> back(w.size());
      QuantizeRowsQ4(w.data(), n, k, g, q.data(), scales.data());
      DequantizeRowsQ4(q.data(), scales.data(), n, k, g, back.data());
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t gi = 0; gi < groups; ++gi) {
          const int64_t c0 = gi * g, c1 = std::min(k, c0 + g);
          float extreme = 0.0f;
          for (int64_t c = c0; c < c1; ++c) {
            if (std::fabs(w[r * k + c]) > std::fabs(extreme)) extreme = w[r * k + c];
          }
          // The documented choice: the signed extreme / -8, stored as f16 (these rows stay normal in f16);
          // an all-zero group stores +0.
          EXPECT_EQ(scales[r * groups + gi], extreme == 0.0f ? 0 : FloatToHalf(extreme / -8.0f));
          const double s = HalfToFloat(scales[r * groups + gi]);
          for (int64_t c = c0; c < c1; ++c) {
            const int code = Q4Code(q, row_bytes, r, c);
            const double x = w[r * k + c], ratio = s != 0 ? x / s : 0.0;
            // Round-to-nearest gives |x - q s| <= |s|/2 (plus the division's rounding, 8u|s|). The one
            // exception is clamping: a value of the extreme's magnitude and the opposite sign has
            // ratio up to 8(1 + 2^-11) (the f16 rounding of s) and gets code 7: error <= 1.004|s|.
            const double bound = ratio > 7.5 ? 1.004 * std::fabs(s) : std::fabs(s) * (0.5 + 8 * kU);
            EXPECT_LE(std::fabs(x - code * s), bound) << "row " << r << " col " << c << " code " << code;
            EXPECT_EQ(back[r * k + c], static_cast<float>(code * s));
            if (x == extreme && s != 0) {
              EXPECT_EQ(code, -8) << "the extreme maps to -8 exactly";
            }
          }
          // Padding columns of the group hold code 0 (nibble 8).
          for (int64_t c = c1; c < c0 + g; ++c) EXPECT_EQ(Q4Code(q, row_bytes, r, c), 0) << "padding " << c;
        }
      }
    }
  }
}

TEST(QuantizeQ4, ZeroHugeAndTinyGroups) {
  const int64_t k = 64, g = 32, row_bytes = Q4RowBytes(k, g);
  std::vector<float> w(static_cast<size_t>(3 * k));
  for (int64_t c = 0; c < k; ++c) {
    w[c] = 0.0f;                                           // row 0: zeros -> scale 0, codes 0
    w[k + c] = (c % 2 ? 1.0f : -1.0f) * 1e7f * (c + 1);   // row 1: scale would overflow f16
    w[2 * k + c] = (c % 2 ? 1.0f : -1.0f) * 1e-6f * (c + 1);  // row 2: f16-subnormal scales
  }
  std::vector<uint8_t> q(static_cast<size_t>(3 * row_bytes));
  std::vector<uint16_t> scales(6);
  std::vector<float> back(w.size());
  QuantizeRowsQ4(w.data(), 3, k, g, q.data(), scales.data());
  DequantizeRowsQ4(q.data(), scales.data(), 3, k, g, back.data());
  for (int64_t c = 0; c < k; ++c) {
    EXPECT_EQ(back[c], 0.0f);
    EXPECT_TRUE(std::isfinite(back[k + c]));  // saturates at 8 * 65504 rather than turning to inf/NaN
    EXPECT_EQ(std::fabs(HalfToFloat(scales[2 + c / g])), 65504.0f);
    // Subnormal f16 scales lose relative precision; the code is still the rounded and clamped ratio.
    const float ratio = w[2 * k + c] / HalfToFloat(scales[4 + c / g]);  // in f32, as the quantizer does
    const float nearest = std::fmin(7.0f, std::fmax(-8.0f, std::nearbyint(ratio)));
    EXPECT_EQ(Q4Code(q, row_bytes, 2, c), static_cast<int>(nearest));
  }
  EXPECT_EQ(scales[0], 0);
  EXPECT_EQ(scales[1], 0);
}

// Transposed groups in row pairs (quant_formats.h), built here the long way: per pair, each whole
// 4-block group of the first row (word v of block i moved to word 4v + i), then the same group of the
// second row, and so on; then the first row's last ceil(K / 32) % 4 blocks and padding as stored,
// then the second row's. Q4TransposedByteOffset agrees with that, DequantizeRowQ4Transposed reads
// back what DequantizeRowsQ4 read before, UntransposeQ4Groups restores the bytes, and an odd row
// count is refused with the bytes untouched. K = 1 (no whole group), 128 (one), 576 (4 and 2 blocks
// left, SmolLM2's hidden size), 600 with groups of 128 (19 blocks of codes in 20 stored).
TEST(QuantizeQ4, TransposedGroups) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> byte(0, 255);
  for (const auto& shape : {std::pair<int64_t, int64_t>{1, 32}, {128, 32}, {576, 32}, {576, 64}, {600, 128}}) {
    const int64_t k = shape.first, g = shape.second, n = 4, row_bytes = Q4RowBytes(k, g);
    SCOPED_TRACE("k=" + std::to_string(k) + " g=" + std::to_string(g));
    std::vector<uint8_t> stored(static_cast<size_t>(n * row_bytes));
    for (uint8_t& b : stored) b = static_cast<uint8_t>(byte(rng));
    std::vector<uint16_t> scales(static_cast<size_t>(n * Q4GroupsPerRow(k, g)));
    for (uint16_t& s : scales) s = FloatToHalf(0.01f * static_cast<float>(byte(rng) + 1));
    const int64_t whole = Q4TransposedBlocks(k);
    std::vector<uint8_t> want;
    for (int64_t pair = 0; pair < n; pair += 2) {
      for (int64_t b = 0; b < whole; b += 4) {
        for (int64_t r = pair; r < pair + 2; ++r) {
          for (int64_t word = 0; word < 16; ++word) {  // word 4v + i of the group is word v of block b + i
            const uint8_t* from = &stored[r * row_bytes + (b + word % 4) * 16 + 4 * (word / 4)];
            want.insert(want.end(), from, from + 4);
          }
        }
      }
      for (int64_t r = pair; r < pair + 2; ++r) {
        want.insert(want.end(), stored.begin() + r * row_bytes + whole * 16, stored.begin() + (r + 1) * row_bytes);
      }
    }
    std::vector<uint8_t> t = stored;
    ASSERT_TRUE(TransposeQ4Groups(t.data(), n, k, g));
    EXPECT_TRUE(t == want);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t b = 0; b < row_bytes / 16; ++b) {
        for (int64_t j = 0; j < 16; ++j) {
          ASSERT_EQ(t[Q4TransposedByteOffset(r, b, j, whole, row_bytes)], stored[r * row_bytes + b * 16 + j])
              << "row " << r << " block " << b << " byte " << j;
        }
      }
    }
    std::vector<float> want_values(static_cast<size_t>(n * k)), got(want_values.size());
    DequantizeRowsQ4(stored.data(), scales.data(), n, k, g, want_values.data());
    for (int64_t r = 0; r < n; ++r) DequantizeRowQ4Transposed(t.data(), scales.data(), r, k, g, got.data() + r * k);
    EXPECT_TRUE(got == want_values);
    ASSERT_TRUE(UntransposeQ4Groups(t.data(), n, k, g));
    EXPECT_TRUE(t == stored);
    EXPECT_FALSE(TransposeQ4Groups(t.data(), n - 1, k, g));
    EXPECT_FALSE(UntransposeQ4Groups(t.data(), n - 1, k, g));
    EXPECT_TRUE(t == stored);
  }
}

// The Q8 activation quantizer of every kernel set (they agree bit for bit, see gemm_test.cc).
TEST(QuantizeActivations, RoundTripWithinHalfAStep) {
  const GemmKernels& ref = ReferenceGemmKernels();
  for (int64_t k : {1, 17, 31, 33, 172, 896}) {
    const int64_t m = 4, k_pad = Q8RowBytes(k), blocks = k_pad / kQuantBlock;
    SCOPED_TRACE("K=" + std::to_string(k));
    std::vector<float> x = RandomRows(m, k, static_cast<uint32_t>(3 * k));
    for (int64_t c = 0; c < k; ++c) x[3 * k + c] = 1e-31f * (c % 3);  // row 3: below the cut-off
    std::vector<int8_t> q(static_cast<size_t>(m * k_pad), 99);
    std::vector<float> scales(static_cast<size_t>(m * blocks), -1.0f);
    ref.quantize_activations_q8(x.data(), m, k, q.data(), scales.data());
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t c = 0; c < k_pad; ++c) {
        const int code = q[r * k_pad + c];
        const float scale = scales[r * blocks + c / 32];
        EXPECT_TRUE(code >= -127 && code <= 127) << code;
        if (c >= k) {
          EXPECT_EQ(code, 0) << "padding column " << c;
          continue;
        }
        // Two roundings make q (reciprocal, product) and one the stored scale: |x - q s| <= s (1/2 + 512u).
        // A block below kQ8ActivationMinAbsMax is stored as zero: its error is |x| < the cut-off.
        const double bound = scale > 0 ? scale * (0.5 + 512 * kU) : kQ8ActivationMinAbsMax;
        EXPECT_LE(std::fabs(x[r * k + c] - double(code) * scale), bound) << "row " << r << " col " << c;
      }
    }
    for (int64_t b = 0; b < blocks; ++b) EXPECT_EQ(scales[3 * blocks + b], 0.0f);
  }
}

}  // namespace
}  // namespace kernels
}  // namespace kite
