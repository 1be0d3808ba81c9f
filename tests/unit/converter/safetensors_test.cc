// The safetensors reader: F32/F16/BF16 widening, shards, and bounds-checked
// headers that fail with the file and tensor named.
#include <cstring>

#include <gtest/gtest.h>

#include "converter/safetensors.h"
#include "kernels/quantize.h"
#include "tests/unit/converter/converter_test_util.h"

namespace kite {
namespace {

using testing::StTensor;
using testing::TempPath;
using testing::WriteSafetensors;

std::vector<uint8_t> Bytes16(const std::vector<uint16_t>& v) {
  std::vector<uint8_t> b;
  for (uint16_t x : v) {
    b.push_back(static_cast<uint8_t>(x));
    b.push_back(static_cast<uint8_t>(x >> 8));
  }
  return b;
}

std::vector<uint8_t> BytesF32(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

TEST(Safetensors, WidensEveryFloatType) {
  const std::string path = TempPath("widen.safetensors");
  const std::vector<float> values = {1.0f, -2.5f, 0.0f, 65504.0f, 3.1415926f, -1e-3f};
  std::vector<uint16_t> halves, bf16s;
  for (float v : values) {
    halves.push_back(kernels::FloatToHalf(v));
    bf16s.push_back(kernels::FloatToBf16(v));
  }
  WriteSafetensors(path, {{"f32", "F32", {2, 3}, BytesF32(values)},
                          {"f16", "F16", {6}, Bytes16(halves)},
                          {"bf16", "BF16", {3, 2}, Bytes16(bf16s)},
                          {"step", "I64", {1}, std::vector<uint8_t>(8, 0)}});
  auto ck = SafetensorsCheckpoint::OpenFiles({path});
  ASSERT_TRUE(ck.ok()) << ck.status().ToString();
  ASSERT_EQ((*ck)->tensors().size(), 4u);
  EXPECT_EQ((*ck)->Find("step")->dtype, SourceDType::kOther);
  EXPECT_EQ((*ck)->Find("f32")->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ((*ck)->total_bytes(), 24u + 12 + 12 + 8);
  std::vector<float> out(6);
  ReadAsF32(*(*ck)->Find("f32"), 0, 6, out.data());
  EXPECT_EQ(out, values);
  ReadAsF32(*(*ck)->Find("f16"), 2, 4, out.data());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], kernels::HalfToFloat(halves[2 + i]));
  ReadAsF32(*(*ck)->Find("bf16"), 0, 6, out.data());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], kernels::Bf16ToFloat(bf16s[i]));
}

TEST(Safetensors, ShardsFromTheIndex) {
  const std::string dir = TempPath("sharded");
  std::filesystem::create_directories(dir);
  WriteSafetensors(dir + "/a.safetensors", {{"x", "F32", {1}, BytesF32({1.0f})}});
  WriteSafetensors(dir + "/b.safetensors", {{"y", "F32", {1}, BytesF32({2.0f})}, {"z", "F32", {1}, BytesF32({3.0f})}});
  testing::WriteText(dir + "/model.safetensors.index.json",
                     R"({"metadata": {}, "weight_map": {"x": "a.safetensors", "y": "b.safetensors", "z": "b.safetensors"}})");
  auto ck = SafetensorsCheckpoint::OpenDir(dir);
  ASSERT_TRUE(ck.ok()) << ck.status().ToString();
  EXPECT_EQ((*ck)->files().size(), 2u);
  ASSERT_NE((*ck)->Find("z"), nullptr);
  EXPECT_EQ((*ck)->Find("z")->file, dir + "/b.safetensors");

  testing::WriteText(dir + "/model.safetensors.index.json",
                     R"({"weight_map": {"x": "b.safetensors", "y": "b.safetensors"}})");
  auto wrong = SafetensorsCheckpoint::OpenDir(dir);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("tensor 'x' is not in"), std::string::npos) << wrong.status().message();
  testing::WriteText(dir + "/model.safetensors.index.json", R"({"weight_map": {"x": "../a.safetensors"}})");
  EXPECT_FALSE(SafetensorsCheckpoint::OpenDir(dir).ok());
  testing::WriteText(dir + "/model.safetensors.index.json", R"({"weight_map": {"x": "missing.safetensors"}})");
  auto missing = SafetensorsCheckpoint::OpenDir(dir);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.safetensors"), std::string::npos);
  // The same name in two shards is ambiguous.
  WriteSafetensors(dir + "/a.safetensors", {{"y", "F32", {1}, BytesF32({1.0f})}});
  testing::WriteText(dir + "/model.safetensors.index.json",
                     R"({"weight_map": {"y": "a.safetensors", "q": "b.safetensors"}})");
  auto duplicate = SafetensorsCheckpoint::OpenDir(dir);
  ASSERT_FALSE(duplicate.ok());
  EXPECT_NE(duplicate.status().message().find("also appears in"), std::string::npos);
}

TEST(Safetensors, NoCheckpointFiles) {
  const std::string dir = TempPath("empty_checkpoint");
  std::filesystem::create_directories(dir);
  auto ck = SafetensorsCheckpoint::OpenDir(dir);
  ASSERT_FALSE(ck.ok());
  EXPECT_NE(ck.status().message().find("no model.safetensors or model.safetensors.index.json"), std::string::npos);
}

// Corrupt headers: every one is a clear error naming the file.
TEST(Safetensors, HostileHeaders) {
  const std::string path = TempPath("hostile.safetensors");
  auto error_for = [&](const std::string& header, size_t data_bytes, uint64_t declared = 0) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    const uint64_t n = declared ? declared : header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>(n >> (8 * i)));
    out << header << std::string(data_bytes, '\0');
    out.close();
    auto ck = SafetensorsCheckpoint::OpenFiles({path});
    if (ck.ok()) return std::string("ok");
    EXPECT_EQ(ck.status().message().rfind(path, 0), 0u) << ck.status().message();
    return ck.status().message();
  };
  EXPECT_NE(error_for("{}", 0, 1000).find("the header claims 1000 bytes"), std::string::npos);
  EXPECT_NE(error_for("{}", 0, ~uint64_t{0}).find("the header claims"), std::string::npos);
  EXPECT_NE(error_for("{not json", 0).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_for(R"({"w": 5})", 0).find("tensor 'w' is not a JSON object"), std::string::npos);
  EXPECT_NE(error_for(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4).find("no string 'dtype'"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}})", 4)
                .find("data_offsets [0,8] outside the data section (4 bytes)"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", 4).find("outside"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 4)
                .find("has 4 bytes but F32 [2] needs 8"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4).find("invalid"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", 4)
                .find("too large"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4).find("data_offsets"),
            std::string::npos);
  EXPECT_EQ(error_for(R"({"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}})", 4),
            "ok");  // a scalar
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "abc";
  auto tiny = SafetensorsCheckpoint::OpenFiles({path});
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.status().message().find("too short"), std::string::npos);
}

}  // namespace
}  // namespace kite
