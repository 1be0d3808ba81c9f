// The format arithmetic both sides share: preamble coding, segment sizes per
// dtype, and the layout plan (including offsets past 2 and 4 GB).
#include <cstring>

#include <gtest/gtest.h>

#include "runtime/artifact/artifact_layout.h"

namespace kite {
namespace {

TEST(ArtifactPreamble, RoundTripsEveryField) {
  ArtifactPreamble p;
  p.header_offset = 64;
  p.header_bytes = 1000;
  p.data_offset = 1088;
  p.data_bytes = (uint64_t{5} << 32) + 64;  // past 4 GB: all 64 bits survive
  p.header_checksum = 0x0123456789abcdefull;
  uint8_t bytes[kArtifactPreambleBytes];
  EncodePreamble(p, bytes);
  EXPECT_EQ(0, std::memcmp(bytes, "KITEART\0", 8));
  EXPECT_EQ(bytes[8], 1);  // format version, little-endian
  EXPECT_EQ(bytes[48], 0xef);
  auto decoded = DecodePreamble(bytes, p.data_offset + p.data_bytes, "x.kite");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->header_offset, p.header_offset);
  EXPECT_EQ(decoded->header_bytes, p.header_bytes);
  EXPECT_EQ(decoded->data_offset, p.data_offset);
  EXPECT_EQ(decoded->data_bytes, p.data_bytes);
  EXPECT_EQ(decoded->header_checksum, p.header_checksum);
}

TEST(ArtifactPreamble, RejectsInconsistentOffsetsWithMessages) {
  ArtifactPreamble good;
  good.header_offset = 64;
  good.header_bytes = 100;
  good.data_offset = 192;
  good.data_bytes = 128;
  const uint64_t file_bytes = 320;
  struct Case {
    const char* what;
    void (*mutate)(ArtifactPreamble*);
    const char* message;
  };
  const Case cases[] = {
      {"header before preamble end", [](ArtifactPreamble* p) { p->header_offset = 8; }, "header offset 8"},
      {"misaligned header", [](ArtifactPreamble* p) { p->header_offset = 68; }, "header offset 68"},
      {"header past eof", [](ArtifactPreamble* p) { p->header_bytes = 1000; }, "ends past the end of the file"},
      {"header overflow", [](ArtifactPreamble* p) { p->header_offset = ~uint64_t{7}; }, "ends past the end"},
      {"data misaligned", [](ArtifactPreamble* p) { p->data_offset = 200; }, "data offset 200"},
      {"data inside header", [](ArtifactPreamble* p) { p->data_offset = 128; }, "at or after the header"},
      {"data past eof", [](ArtifactPreamble* p) { p->data_bytes = 129; }, "ends past the end of the file"},
      {"data overflow", [](ArtifactPreamble* p) { p->data_bytes = ~uint64_t{0}; }, "ends past the end"},
      {"trailing bytes", [](ArtifactPreamble* p) { p->data_bytes = 64; }, "64 unexpected bytes"},
      {"huge header", [](ArtifactPreamble* p) { p->header_bytes = uint64_t{1} << 31; }, "outside [8, 2^31-2]"},
  };
  for (const Case& c : cases) {
    ArtifactPreamble p = good;
    c.mutate(&p);
    uint8_t bytes[kArtifactPreambleBytes];
    EncodePreamble(p, bytes);
    auto decoded = DecodePreamble(bytes, file_bytes, "m.kite");
    ASSERT_FALSE(decoded.ok()) << c.what;
    EXPECT_NE(decoded.status().message().find(c.message), std::string::npos)
        << c.what << ": " << decoded.status().message();
    EXPECT_EQ(decoded.status().message().rfind("m.kite: ", 0), 0u) << decoded.status().message();
  }
  uint8_t bytes[kArtifactPreambleBytes];
  EncodePreamble(good, bytes);
  EXPECT_TRUE(DecodePreamble(bytes, file_bytes, "m.kite").ok());
}

TEST(TensorByteSizes, MatchTheFormatsOfEveryDType) {
  auto sizes = [](DType d, std::vector<int64_t> shape, int64_t g = 0) {
    auto r = ComputeTensorByteSizes(d, shape, g, "t");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::pair<uint64_t, uint64_t>(r->data_bytes, r->scales_bytes) : std::pair<uint64_t, uint64_t>(~0ull, ~0ull);
  };
  using P = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(sizes(DType::kF32, {3, 5}), P(60, 0));
  EXPECT_EQ(sizes(DType::kI32, {7}), P(28, 0));
  EXPECT_EQ(sizes(DType::kF16, {2, 3, 4, 5}), P(240, 0));
  EXPECT_EQ(sizes(DType::kBF16, {9}), P(18, 0));
  // Q8: rows * RoundUp(K, 32) int8 + rows f32 scales.
  EXPECT_EQ(sizes(DType::kQ8, {10, 64}), P(640, 40));
  EXPECT_EQ(sizes(DType::kQ8, {10, 65}), P(960, 40));
  EXPECT_EQ(sizes(DType::kQ8, {1, 1}), P(32, 4));
  // Q4: rows * RoundUp(K, g) / 2 + rows * groups f16 scales.
  EXPECT_EQ(sizes(DType::kQ4, {172, 64}, 32), P(172 * 32, 172 * 2 * 2));
  EXPECT_EQ(sizes(DType::kQ4, {64, 172}, 32), P(64 * 96, 64 * 6 * 2));
  EXPECT_EQ(sizes(DType::kQ4, {64, 172}, 64), P(64 * 96, 64 * 3 * 2));
  EXPECT_EQ(sizes(DType::kQ4, {64, 172}, 128), P(64 * 128, 64 * 2 * 2));
}

TEST(TensorByteSizes, RejectsBadDescriptions) {
  auto message = [](DType d, std::vector<int64_t> shape, int64_t g) {
    auto r = ComputeTensorByteSizes(d, shape, g, "tensor 'w'");
    return r.ok() ? std::string("ok") : r.status().message();
  };
  EXPECT_NE(message(DType::kF32, {}, 0).find("rank 0"), std::string::npos);
  EXPECT_NE(message(DType::kF32, {1, 1, 1, 1, 1}, 0).find("rank 5"), std::string::npos);
  EXPECT_NE(message(DType::kF32, {4, 0}, 0).find("dimension 1 = 0"), std::string::npos);
  EXPECT_NE(message(DType::kF32, {-3}, 0).find("dimension 0 = -3"), std::string::npos);
  EXPECT_NE(message(DType::kF32, {int64_t{1} << 40, int64_t{1} << 30}, 0).find("2^62"), std::string::npos);
  EXPECT_NE(message(DType::kF32, {int64_t{1} << 62}, 0).find("too large"), std::string::npos);
  EXPECT_NE(message(DType::kQ4, {4, 64}, 48).find("group_size 48"), std::string::npos);
  EXPECT_NE(message(DType::kQ4, {4, 64}, 0).find("group_size 0"), std::string::npos);
  EXPECT_NE(message(DType::kF16, {4, 64}, 32).find("only q4"), std::string::npos);
  EXPECT_NE(message(DType::kQ8, {4, 64, 2}, 0).find("2-D"), std::string::npos);
  EXPECT_NE(message(DType::kQ4, {64}, 32).find("2-D"), std::string::npos);
  EXPECT_NE(message(static_cast<DType>(9), {4}, 0).find("unknown dtype value 9"), std::string::npos);
  EXPECT_EQ(message(DType::kQ8, {int64_t{1} << 31, int64_t{1} << 31}, 0), "ok");  // 2^62 bytes still fits u64
}

TEST(PlanSegments, AlignsEverySegmentAndPassesFourGigabytes) {
  // Three f32 tensors of 1.5 G elements (6 GB each) and a Q4 tensor after them: offsets pass 2^32
  // and 2^34, which a 32-bit int or size computation would wrap.
  const uint64_t big = uint64_t{6} << 30;
  std::vector<TensorByteSizes> sizes = {{big + 4, 0}, {big, 0}, {big + 60, 0}, {100, 10}};
  uint64_t total = 0;
  auto plan = PlanSegments(sizes, &total);
  ASSERT_TRUE(plan.ok());
  const auto& p = plan.value();
  EXPECT_EQ(p[0].data_offset, 0u);
  EXPECT_EQ(p[1].data_offset, big + 64);
  EXPECT_EQ(p[2].data_offset, 2 * big + 64);
  EXPECT_EQ(p[3].data_offset, 3 * big + 128);
  EXPECT_EQ(p[3].scales_offset, 3 * big + 128 + 128);
  EXPECT_EQ(p[3].scales_bytes, 10u);
  EXPECT_EQ(p[0].scales_bytes, 0u);
  EXPECT_EQ(total, 3 * big + 128 + 192);
  for (const auto& s : p) {
    EXPECT_EQ(s.data_offset % 64, 0u);
    EXPECT_EQ(s.scales_offset % 64, 0u);
  }
  EXPECT_GT(p[3].data_offset, uint64_t{1} << 34);

  std::vector<TensorByteSizes> overflowing = {{~uint64_t{0} - 100, 0}, {1000, 0}};
  EXPECT_FALSE(PlanSegments(overflowing, &total).ok());
}

}  // namespace
}  // namespace kite
