// A real artifact past 2 GB written by ArtifactWriter and read back: the
// writer's 64-bit file offsets (lseek, write, the final pwrite of the header)
// and the reader's mapping, end to end. Writes ~2.3 GB, so it has its own
// binary with the "slow" label.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>
#include <sys/statvfs.h>

#include "runtime/artifact/artifact.h"
#include "runtime/artifact/artifact_writer.h"
#include "tests/test_paths.h"
#include "tests/unit/artifact/artifact_test_util.h"

namespace kite {
namespace {

TEST(ArtifactLarge, WritesAndReadsAFilePastTwoGigabytes) {
  const std::string path = testing::TempPath("large.kite");
  // CI machines sometimes have little free disk; the test needs ~2.3 GB and says so when skipped.
  struct statvfs fs;
  const std::string dir = path.substr(0, path.rfind('/'));
  if (statvfs(dir.c_str(), &fs) == 0 && static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize < (uint64_t{4} << 30)) {
    GTEST_SKIP() << "less than 4 GiB free in " << dir << ": cannot write a 2.3 GB artifact";
  }
  struct RemoveAtEnd {  // 2.3 GB must not stay behind when an assertion returns early
    std::string path;
    ~RemoveAtEnd() { std::remove(path.c_str()); }
  } remove_at_end{path};
  // [2^27 + 3, 4] f32 is 2 GiB + 48 bytes, so the second tensor starts past 2^31.
  const int64_t rows = (int64_t{1} << 27) + 3;
  std::vector<TensorSpec> specs = {{"big", {rows, 4}, DType::kF32, 0}, {"after", {4, 40}, DType::kQ8, 0}};
  auto writer = ArtifactWriter::Create(path, testing::MakeTestMetadata(), specs);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_GT((*writer)->placement(1).data_offset, uint64_t{1} << 31);
  std::vector<uint8_t> chunk(size_t{16} << 20);
  for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<uint8_t>(i * 131 + 7);
  uint64_t left = (*writer)->sizes(0).data_bytes;
  while (left > 0) {
    const uint64_t n = std::min<uint64_t>(left, chunk.size());
    ASSERT_TRUE((*writer)->AppendData(chunk.data(), n).ok());
    left -= n;
  }
  ASSERT_TRUE((*writer)->EndTensor().ok());
  const std::vector<uint8_t> q8 = testing::RandomBytes((*writer)->sizes(1).data_bytes, 3);
  const std::vector<uint8_t> scales = testing::RandomBytes((*writer)->sizes(1).scales_bytes, 4);
  ASSERT_TRUE((*writer)->WriteTensor(q8.data(), q8.size(), scales.data(), scales.size()).ok());
  Status finished = (*writer)->Finish();
  ASSERT_TRUE(finished.ok()) << finished.ToString();

  auto a = Artifact::Open(path);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  const TensorView* after = (*a)->Find("after");
  ASSERT_NE(after, nullptr);
  EXPECT_GT(static_cast<uint64_t>(after->data - (*a)->Find("big")->data), uint64_t{1} << 31);
  EXPECT_EQ(0, std::memcmp(after->data, q8.data(), q8.size()));
  EXPECT_EQ(0, std::memcmp(after->scales, scales.data(), scales.size()));
  const TensorView* big = (*a)->Find("big");
  const uint64_t last = big->data_bytes - 1;
  EXPECT_EQ(big->data[last], chunk[last % chunk.size()]);
  EXPECT_TRUE((*a)->VerifyChecksums().ok());
}

}  // namespace
}  // namespace kite
