// The GGUF container and the Q8_0 / Q4_0 block encoders, checked with the
// test's own reader and dequantizer (gguf_test_reader.*).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "converter/gguf/ggml_blocks.h"
#include "converter/gguf/gguf_writer.h"
#include "runtime/core/file.h"
#include "tests/test_paths.h"
#include "tests/unit/gguf/gguf_test_reader.h"

namespace kite {
namespace {

using testing::GgufFile;
using testing::GgufTensor;

TEST(GgufWriter, RoundTripsMetadataTensorInfosAndAlignedData) {
  gguf::Writer w;
  w.AddString("general.architecture", "llama");
  w.AddUint32("test.u32", 4000000000u);
  w.AddInt32("test.i32", -7);
  w.AddUint64("test.u64", 1ull << 40);
  w.AddFloat32("test.f32", 0.25f);
  w.AddBool("test.bool", true);
  w.AddStringArray("test.strings", {"a", "", "\xE2\x96\x81the"});
  w.AddFloat32Array("test.floats", {1.5f, -2.0f});
  w.AddInt32Array("test.ints", {1, 6, -3});
  ASSERT_TRUE(w.AddTensor("a", {3}, gguf::TensorType::kF32).ok());       // 12 bytes: padding follows
  ASSERT_TRUE(w.AddTensor("b", {5, 2}, gguf::TensorType::kF16).ok());    // 20 bytes
  ASSERT_TRUE(w.AddTensor("c", {32, 2}, gguf::TensorType::kQ8_0).ok());  // 68 bytes
  const std::string path = testing::TempPath("roundtrip.gguf");
  ASSERT_TRUE(w.Open(path).ok());
  const float a[3] = {1.0f, 2.0f, 3.0f};
  std::vector<uint8_t> b(20), c(68);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i + 1);
  for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<uint8_t>(200 - i);
  ASSERT_TRUE(w.WriteTensorData(a, sizeof(a)).ok());
  // b and c in uneven pieces, one of them spanning the boundary between the two tensors.
  ASSERT_TRUE(w.WriteTensorData(b.data(), 7).ok());
  std::vector<uint8_t> rest(b.begin() + 7, b.end());
  rest.insert(rest.end(), c.begin(), c.begin() + 10);
  ASSERT_TRUE(w.WriteTensorData(rest.data(), rest.size()).ok());
  ASSERT_TRUE(w.WriteTensorData(c.data() + 10, c.size() - 10).ok());
  ASSERT_TRUE(w.Commit().ok());
  EXPECT_FALSE(FileExists(path + ".tmp"));

  GgufFile f;
  ASSERT_EQ(testing::ReadGguf(path, &f), "");
  EXPECT_EQ(f.version, 3u);
  ASSERT_EQ(f.kv.size(), 9u);
  EXPECT_EQ(f.key_order.front(), "general.architecture");  // insertion order is kept
  EXPECT_EQ(f.kv["general.architecture"].type, 8u);
  EXPECT_EQ(f.kv["general.architecture"].s, "llama");
  EXPECT_EQ(f.kv["test.u32"].type, 4u);
  EXPECT_EQ(f.kv["test.u32"].u, 4000000000u);
  EXPECT_EQ(f.kv["test.i32"].type, 5u);
  EXPECT_EQ(f.kv["test.i32"].i, -7);
  EXPECT_EQ(f.kv["test.u64"].type, 10u);
  EXPECT_EQ(f.kv["test.u64"].u, 1ull << 40);
  EXPECT_EQ(f.kv["test.f32"].type, 6u);
  EXPECT_EQ(f.kv["test.f32"].f, 0.25);
  EXPECT_EQ(f.kv["test.bool"].type, 7u);
  EXPECT_EQ(f.kv["test.bool"].u, 1u);
  const auto& strings = f.kv["test.strings"];
  ASSERT_EQ(strings.type, 9u);
  EXPECT_EQ(strings.array_type, 8u);
  ASSERT_EQ(strings.array.size(), 3u);
  EXPECT_EQ(strings.array[1].s, "");
  EXPECT_EQ(strings.array[2].s, "\xE2\x96\x81the");
  EXPECT_EQ(f.kv["test.floats"].array_type, 6u);
  EXPECT_EQ(f.kv["test.floats"].array[1].f, -2.0);
  EXPECT_EQ(f.kv["test.ints"].array_type, 5u);
  EXPECT_EQ(f.kv["test.ints"].array[2].i, -3);

  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.data_start % 32, 0u);
  const GgufTensor& ta = f.tensors[0];
  const GgufTensor& tb = f.tensors[1];
  const GgufTensor& tc = f.tensors[2];
  EXPECT_EQ(ta.name, "a");
  EXPECT_EQ(ta.type, 0u);
  EXPECT_EQ(ta.offset, 0u);
  EXPECT_EQ(tb.ne, (std::vector<uint64_t>{5, 2}));
  EXPECT_EQ(tb.type, 1u);
  EXPECT_EQ(tb.offset, 32u);  // 12 bytes rounded up to the alignment
  EXPECT_EQ(tc.type, 8u);
  EXPECT_EQ(tc.offset, 64u);  // 32 + 20 rounded up
  EXPECT_EQ(std::memcmp(f.Data(ta), a, sizeof(a)), 0);
  EXPECT_EQ(std::memcmp(f.Data(tb), b.data(), b.size()), 0);
  EXPECT_EQ(std::memcmp(f.Data(tc), c.data(), c.size()), 0);
  // The last tensor is padded too, so the file ends on the alignment.
  EXPECT_EQ(f.bytes.size(), f.data_start + 64 + 96);
  std::remove(path.c_str());
}

TEST(GgufWriter, RejectsBadTensorsAndKeys) {
  gguf::Writer w;
  EXPECT_FALSE(w.AddTensor("q", {48, 2}, gguf::TensorType::kQ4_0).ok());  // 48 is not a multiple of 32
  EXPECT_FALSE(w.AddTensor("", {4}, gguf::TensorType::kF32).ok());
  EXPECT_FALSE(w.AddTensor(std::string(64, 'x'), {4}, gguf::TensorType::kF32).ok());  // llama.cpp names < 64 bytes
  ASSERT_TRUE(w.AddTensor("t", {4}, gguf::TensorType::kF32).ok());
  EXPECT_FALSE(w.AddTensor("t", {4}, gguf::TensorType::kF32).ok());
  w.AddUint32("k", 1);
  w.AddUint32("k", 2);
  const std::string path = testing::TempPath("dup.gguf");
  EXPECT_FALSE(w.Open(path).ok());  // the duplicate key is reported here
  EXPECT_FALSE(FileExists(path + ".tmp"));
}

TEST(GgufWriter, IncompleteDataFailsAndLeavesNothingBehind) {
  const std::string path = testing::TempPath("short.gguf");
  {
    gguf::Writer w;
    ASSERT_TRUE(w.AddTensor("t", {8}, gguf::TensorType::kF32).ok());
    ASSERT_TRUE(w.Open(path).ok());
    const float x[4] = {};
    ASSERT_TRUE(w.WriteTensorData(x, sizeof(x)).ok());
    const Status s = w.Commit();
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("'t' got 16 of its 32 bytes"), std::string::npos) << s.message();
  }  // destroyed after the failed Commit: the temporary file goes
  EXPECT_FALSE(FileExists(path));
  EXPECT_FALSE(FileExists(path + ".tmp"));
  {
    gguf::Writer w;
    ASSERT_TRUE(w.AddTensor("t", {1}, gguf::TensorType::kF32).ok());
    ASSERT_TRUE(w.Open(path).ok());
    const float x[2] = {};
    EXPECT_FALSE(w.WriteTensorData(x, sizeof(x)).ok());  // past the last tensor
  }  // destroyed without Commit: the temporary file goes
  EXPECT_FALSE(FileExists(path + ".tmp"));
}

// Wraps encoded blocks as a one-tensor GgufFile so the test's dequantizer reads them.
std::vector<float> DecodeBlocks(const std::vector<uint8_t>& blocks, uint32_t type, uint64_t n, std::vector<float>* scales) {
  GgufFile f;
  f.bytes = blocks;
  f.data_start = 0;
  GgufTensor t;
  t.ne = {n};
  t.type = type;
  return testing::Dequantize(f, t, scales);
}

// Rows that exercise the encoders: gaussian, all zero, one spike, a negative extreme, huge and
// tiny magnitudes, and constant blocks.
std::vector<std::vector<float>> TestRows() {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> rows;
  for (float scale : {1.0f, 0.02f, 3000.0f, 1e-5f}) {
    std::vector<float> r(256);
    for (float& v : r) v = normal(rng) * scale;
    rows.push_back(r);
  }
  rows.push_back(std::vector<float>(64, 0.0f));
  std::vector<float> spike(64, 0.0f);
  spike[5] = 3.0f;
  spike[40] = -7.0f;
  rows.push_back(spike);
  std::vector<float> extremes(32);
  for (int i = 0; i < 32; ++i) extremes[i] = static_cast<float>(i - 16);  // -16 is the extreme
  rows.push_back(extremes);
  rows.push_back(std::vector<float>(32, 0.5f));
  rows.push_back(std::vector<float>(32, -0.5f));
  return rows;
}

// Half an f16 ulp of x: 11 significant bits, and steps of 2^-24 below 2^-14 (subnormals; a row
// of 1e-5 weights has Q8_0 scales there, and loses precision in llama.cpp just the same).
float HalfUlpOfHalf(float x) { return std::max(std::fabs(x) / 2048.0f, 1.0f / (1 << 25)) * 1.001f; }

TEST(GgmlBlocks, Q8_0WithinHalfAStepOfEveryValue) {
  for (const auto& row : TestRows()) {
    const int64_t k = static_cast<int64_t>(row.size());
    std::vector<uint8_t> blocks(k / 32 * 34);
    gguf::QuantizeRowQ8_0(row.data(), k, blocks.data());
    std::vector<float> scales;
    const std::vector<float> back = DecodeBlocks(blocks, 8, k, &scales);
    for (int64_t b = 0; b < k / 32; ++b) {
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(row[b * 32 + i]));
      const float d = amax / 127.0f;  // the exact step
      const float d16 = scales[b * 32];
      ASSERT_LE(std::fabs(d16 - d), HalfUlpOfHalf(d)) << "block " << b;
      for (int i = 0; i < 32; ++i) {
        const float x = row[b * 32 + i], y = back[b * 32 + i];
        // Rounding to the nearest step costs d/2; the f16 scale costs up to |q| <= 127 times its error.
        // x * (1/d) in float is off by up to ~2^-22 relative, i.e. 3e-5 steps at |q| = 127.
        const float bound = 0.5f * d + 127.0f * std::fabs(d16 - d) + 1e-4f * d + 1e-30f;
        ASSERT_LE(std::fabs(x - y), bound) << "block " << b << " element " << i << ": " << x << " -> " << y;
      }
    }
  }
}

TEST(GgmlBlocks, Q4_0WithinOneStepAndExactAtTheExtreme) {
  for (const auto& row : TestRows()) {
    const int64_t k = static_cast<int64_t>(row.size());
    std::vector<uint8_t> blocks(k / 32 * 18);
    gguf::QuantizeRowQ4_0(row.data(), k, blocks.data());
    std::vector<float> scales;
    const std::vector<float> back = DecodeBlocks(blocks, 2, k, &scales);
    double err2 = 0, x2 = 0;
    for (int64_t b = 0; b < k / 32; ++b) {
      int extreme = 0;
      for (int i = 1; i < 32; ++i) {
        if (std::fabs(row[b * 32 + i]) > std::fabs(row[b * 32 + extreme])) extreme = i;
      }
      const float m = row[b * 32 + extreme];
      const float d = m / -8.0f;  // the exact step, signed so that m maps to q = 0
      const float d16 = scales[b * 32];
      ASSERT_LE(std::fabs(d16 - d), HalfUlpOfHalf(d));
      // The value of largest magnitude comes back up to the scale's own rounding (8 steps of it).
      ASSERT_LE(std::fabs(back[b * 32 + extreme] - m), 8.0f * std::fabs(d16 - d) + 1e-30f);
      for (int i = 0; i < 32; ++i) {
        const float x = row[b * 32 + i], y = back[b * 32 + i];
        // Nearest of 16 levels -8d..7d: half a step inside the range; the far end (+8d) has no
        // level and clamps to 7d, one step away.
        const bool far_end = x / d > 7.5f;
        const float bound = (far_end ? 1.0f : 0.5f) * std::fabs(d) + 8.0f * std::fabs(d16 - d) + 1e-4f * std::fabs(d) + 1e-30f;
        ASSERT_LE(std::fabs(x - y), bound) << "block " << b << " element " << i << ": " << x << " -> " << y;
        err2 += (x - y) * (x - y);
        x2 += x * x;
      }
    }
    // Gaussian rows: 16 uniform levels over about +-2.5 sigma give a relative RMS error near 0.1.
    if (k == 256) {
      EXPECT_LT(std::sqrt(err2 / x2), 0.15);
    }
  }
}

TEST(GgmlBlocks, Q4_0NibbleOrderIsLowHalfThenHighHalf) {
  // Values 0..15 of the block in the low nibbles, 16..31 in the high ones.
  std::vector<float> row(32, 0.0f);
  row[0] = -8.0f;  // the extreme: d = 1, q = 0
  row[16] = 7.0f;  // q = 15, high nibble of byte 0
  row[1] = 1.0f;   // q = 9, low nibble of byte 1
  std::vector<uint8_t> block(18);
  gguf::QuantizeRowQ4_0(row.data(), 32, block.data());
  EXPECT_EQ(testing::HalfBitsToFloat(static_cast<uint16_t>(block[0] | block[1] << 8)), 1.0f);
  EXPECT_EQ(block[2], 0xF0);
  EXPECT_EQ(block[3], 0x89);  // row[17] = 0 -> 8 in the high nibble, row[1] -> 9 in the low
}

}  // namespace
}  // namespace kite
