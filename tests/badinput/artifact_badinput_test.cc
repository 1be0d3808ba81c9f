// Broken and hostile .kite files: each must give a clear Status naming the
// file and the problem, never a crash (CI runs this under ASan and UBSan).
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "converter/convert.h"
#include "runtime/artifact/artifact.h"
#include "tests/badinput/hostile_artifact.h"
#include "tests/test_paths.h"
#include "tests/unit/artifact/artifact_test_util.h"

namespace kite {
namespace {

using testing::BuildRawArtifact;
using testing::RawArtifact;
using testing::RawSegment;
using testing::RawTensor;
using testing::RawTokenizer;

constexpr char kName[] = "model.kite";

std::vector<uint8_t> GoodArtifact() {
  static const std::vector<uint8_t> bytes = [] {
    const std::string path = kite::testing::TempPath("badinput_base.kite");
    Status s = kite::testing::WriteSmallArtifact(path);
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();
  return bytes;
}

Result<std::unique_ptr<Artifact>> Load(std::vector<uint8_t> bytes) {
  return Artifact::FromView(ViewOfBuffer(std::move(bytes), kName));
}

// Fails the test unless loading fails with a message that names the file and contains `expected`.
void ExpectRejected(std::vector<uint8_t> bytes, const std::string& expected, const std::string& trace = "") {
  auto result = Load(std::move(bytes));
  ASSERT_FALSE(result.ok()) << "accepted: " << trace;
  const std::string& message = result.status().message();
  EXPECT_EQ(message.rfind(std::string(kName) + ": ", 0), 0u) << trace << ": " << message;
  EXPECT_NE(message.find(expected), std::string::npos) << trace << ": " << message;
}

void ExpectRawRejected(const RawArtifact& raw, const std::string& expected) {
  ExpectRejected(BuildRawArtifact(raw), expected, expected);
}

ArtifactPreamble PreambleOf(const std::vector<uint8_t>& file) {
  auto preamble = DecodePreamble(file.data(), file.size(), kName);
  EXPECT_TRUE(preamble.ok());
  return preamble.ok() ? preamble.value() : ArtifactPreamble();
}

TEST(ArtifactBadInput, TheBaseArtifactLoads) {
  auto a = Load(GoodArtifact());
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE((*a)->VerifyChecksums().ok());
  ASSERT_TRUE(Load(BuildRawArtifact(RawArtifact())).ok());
}

TEST(ArtifactBadInput, EveryTruncationIsRejected) {
  const std::vector<uint8_t> good = GoodArtifact();
  std::vector<size_t> lengths;
  for (size_t n = 0; n < std::min<size_t>(4096, good.size()); ++n) lengths.push_back(n);
  for (size_t n = 4096; n < good.size(); n += std::max<size_t>(1, good.size() / 97)) lengths.push_back(n);
  lengths.push_back(good.size() - 1);
  for (size_t n : lengths) {
    auto result = Load(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)));
    ASSERT_FALSE(result.ok()) << "a " << n << "-byte prefix loaded";
    EXPECT_EQ(result.status().message().rfind("model.kite: ", 0), 0u) << result.status().message();
  }
  ExpectRejected({}, "fewer than the 64-byte preamble");
  ExpectRejected(std::vector<uint8_t>(good.begin(), good.end() - 64), "truncated");
}

// A real converted model (stories260K, mixed q8/q4, with its tokenizer): every length of
// the first 4 KB, then 500 coarse steps through the weights.
TEST(ArtifactBadInput, TruncatedConvertedModel) {
  ConvertOptions options;
  options.input_dir = kite::testing::SharedPath("models/stories260K/hf");
  options.output_path = kite::testing::TempPath("badinput_stories.kite");
  auto report = ConvertCheckpoint(options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::ifstream in(options.output_path, std::ios::binary);
  const std::vector<uint8_t> good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(Load(good).ok());
  std::vector<size_t> lengths;
  for (size_t n = 0; n < 4096; ++n) lengths.push_back(n);
  for (size_t n = 4096; n < good.size(); n += good.size() / 500) lengths.push_back(n);
  for (size_t n : lengths) {
    auto result = Load(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)));
    ASSERT_FALSE(result.ok()) << "a " << n << "-byte prefix loaded";
    EXPECT_EQ(result.status().message().rfind("model.kite: ", 0), 0u) << result.status().message();
  }
}

TEST(ArtifactBadInput, EveryPreambleBitFlipIsRejected) {
  const std::vector<uint8_t> good = GoodArtifact();
  for (size_t byte = 0; byte < kArtifactPreambleBytes; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bad = good;
      bad[byte] ^= static_cast<uint8_t>(1u << bit);
      auto result = Load(std::move(bad));
      EXPECT_FALSE(result.ok()) << "flip of byte " << byte << " bit " << bit << " accepted";
    }
  }
}

TEST(ArtifactBadInput, EveryHeaderByteFlipIsRejected) {
  const std::vector<uint8_t> good = GoodArtifact();
  const ArtifactPreamble preamble = PreambleOf(good);
  for (size_t at = preamble.header_offset; at < preamble.header_offset + preamble.header_bytes; ++at) {
    std::vector<uint8_t> bad = good;
    bad[at] ^= 0x5a;
    auto result = Load(std::move(bad));
    ASSERT_FALSE(result.ok()) << "flip at header byte " << at << " accepted";
    EXPECT_NE(result.status().message().find("hashes to"), std::string::npos) << result.status().message();
  }
}

TEST(ArtifactBadInput, DataFlipsAreCaughtByVerifyChecksums) {
  const std::vector<uint8_t> good = GoodArtifact();
  auto reference = Load(good);
  ASSERT_TRUE(reference.ok());
  const uint8_t* data_section = (*reference)->tensors()[0].data;  // the first segment is at data offset 0
  const uint64_t data_offset = PreambleOf(good).data_offset;
  for (const TensorView& t : (*reference)->tensors()) {
    for (const auto& part : {std::make_pair(t.data, t.data_bytes), std::make_pair(t.scales, t.scales_bytes)}) {
      if (part.second == 0) continue;
      for (uint64_t at : {uint64_t{0}, part.second / 2, part.second - 1}) {
        std::vector<uint8_t> bad = good;
        bad[data_offset + static_cast<uint64_t>(part.first - data_section) + at] ^= 0x01;
        auto loaded = Load(std::move(bad));
        ASSERT_TRUE(loaded.ok()) << "weights are not read at open: " << loaded.status().ToString();
        Status verified = (*loaded)->VerifyChecksums();
        ASSERT_FALSE(verified.ok()) << t.name << ": flip at " << at << " not caught";
        EXPECT_NE(verified.message().find("model.kite: tensor '" + t.name + "'"), std::string::npos)
            << verified.message();
      }
    }
  }
}

TEST(ArtifactBadInput, WrongMagicAndVersion) {
  std::vector<uint8_t> bad = GoodArtifact();
  bad[0] = 'G';
  bad[1] = 'G';
  bad[2] = 'U';
  bad[3] = 'F';
  ExpectRejected(bad, "not a .kite file: bytes 0..7 are \"GGUFART\\x00\"");
  bad = GoodArtifact();
  bad[8] = 2;
  auto result = Load(bad);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(result.status().message().find("format version 2"), std::string::npos);
  bad = GoodArtifact();
  bad[60] = 1;
  ExpectRejected(bad, "reserved");
  RawArtifact raw;
  raw.format_version = 7;  // header and preamble disagree
  ExpectRawRejected(raw, "header says format version 7");
}

TEST(ArtifactBadInput, HeaderThatIsNotAKiteFlatBuffer) {
  RawArtifact raw;
  raw.identifier = "NOPE";
  ExpectRawRejected(raw, "file identifier is \"NOPE\"");
  // Random bytes with a valid checksum and identifier: the Verifier must refuse them.
  std::mt19937 rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<uint8_t> header(8 + rng() % 512);
    for (auto& b : header) b = static_cast<uint8_t>(rng());
    std::memcpy(header.data() + 4, "KITE", 4);
    auto result = Load(testing::AssembleArtifact(header, 64));
    if (result.ok()) continue;  // astronomically unlikely, and still not a crash
    EXPECT_EQ(result.status().message().rfind("model.kite: ", 0), 0u);
  }
}

TEST(ArtifactBadInput, MissingRequiredFields) {
  const std::string verifier = "is not a valid Kite FlatBuffer";
  RawArtifact raw;
  raw.config.reset();
  ExpectRawRejected(raw, verifier);
  raw = RawArtifact();
  raw.tensors.reset();
  ExpectRawRejected(raw, verifier);
  raw = RawArtifact();
  (*raw.tensors)[0].name.reset();
  ExpectRawRejected(raw, verifier);
  raw = RawArtifact();
  (*raw.tensors)[0].data.reset();
  ExpectRawRejected(raw, verifier);
  raw = RawArtifact();
  raw.config->architecture.reset();
  ExpectRawRejected(raw, verifier);
}

TEST(ArtifactBadInput, HostileTensorEntries) {
  auto with = [](RawTensor t) {
    RawArtifact raw;
    raw.tensors = std::vector<RawTensor>{t};
    return raw;
  };
  RawTensor t;
  t.data = RawSegment{1024, 16};
  ExpectRawRejected(with(t), "tensor 'w' data ends at byte 1040 but the data section has 1024 bytes");
  t.data = RawSegment{~uint64_t{63}, 128};
  ExpectRawRejected(with(t), "ends past 2^64");
  t.data = RawSegment{8, 16};
  ExpectRawRejected(with(t), "tensor 'w' data offset 8 is not a multiple of 64");
  t = RawTensor();
  t.data = RawSegment{0, 12};
  ExpectRawRejected(with(t), "data has 12 bytes but its dtype and shape need 16");
  t = RawTensor();
  t.shape = std::vector<uint64_t>{uint64_t{1} << 31, uint64_t{1} << 31};
  ExpectRawRejected(with(t), "too large for f32");
  t.shape = std::vector<uint64_t>{uint64_t{1} << 40, uint64_t{1} << 40};
  ExpectRawRejected(with(t), "more than 2^62 elements");
  t.shape = std::vector<uint64_t>{uint64_t{1} << 63};
  ExpectRawRejected(with(t), "more than 2^63-1");
  t.shape = std::vector<uint64_t>{4, 0};
  ExpectRawRejected(with(t), "dimension 1 = 0");
  t.shape.reset();
  ExpectRawRejected(with(t), "rank 0");
  t.shape = std::vector<uint64_t>{1, 1, 1, 1, 4};
  ExpectRawRejected(with(t), "rank 5");
  t = RawTensor();
  t.dtype = 9;
  ExpectRawRejected(with(t), "dtype value 9, unknown");
  t.dtype = 255;
  ExpectRawRejected(with(t), "dtype value 255");
  t = RawTensor();
  t.name = std::string();
  ExpectRawRejected(with(t), "tensor #0 has an empty name");
  t = RawTensor();
  t.group_size = 32;
  ExpectRawRejected(with(t), "only q4 tensors have groups");
  t = RawTensor();
  t.scales = RawSegment{64, 4};
  ExpectRawRejected(with(t), "f32 but has a scales segment");

  // Quantized tensors: Q8 [4, 40] = 4 * 64 bytes + 16 bytes of scales.
  RawTensor q8;
  q8.shape = std::vector<uint64_t>{4, 40};
  q8.dtype = 3;
  q8.data = RawSegment{0, 256};
  q8.scales = RawSegment{256, 16};
  ASSERT_TRUE(Load(BuildRawArtifact(with(q8))).ok());
  RawTensor bad = q8;
  bad.scales.reset();
  ExpectRawRejected(with(bad), "q8 but has no scales");
  bad = q8;
  bad.scales = RawSegment{256, 12};
  ExpectRawRejected(with(bad), "scales has 12 bytes but its dtype and shape need 16");
  bad = q8;
  bad.scales = RawSegment{1024, 16};
  ExpectRawRejected(with(bad), "scales ends at byte 1040");
  bad = q8;
  bad.data = RawSegment{0, 160};  // RoundUp(40, 32) is 64 columns, not 40
  ExpectRawRejected(with(bad), "data has 160 bytes but its dtype and shape need 256");
  bad = q8;
  bad.shape = std::vector<uint64_t>{160};
  ExpectRawRejected(with(bad), "quantized tensors must be 2-D");
  // Q4 [4, 40] g32: 4 * 64 / 2 bytes + 4 * 2 groups * 2 bytes of scales.
  RawTensor q4 = q8;
  q4.dtype = 4;
  q4.group_size = 32;
  q4.data = RawSegment{0, 128};
  q4.scales = RawSegment{128, 16};
  ASSERT_TRUE(Load(BuildRawArtifact(with(q4))).ok());
  q4.group_size = 48;
  ExpectRawRejected(with(q4), "q4 with group_size 48");
  q4.group_size = 64;  // one group of 64 per row: the scales are 8 bytes, not 16
  ExpectRawRejected(with(q4), "scales has 16 bytes but its dtype and shape need 8");
}

TEST(ArtifactBadInput, DuplicateAndOverlappingTensors) {
  RawArtifact raw;
  RawTensor a, b;
  b.data = RawSegment{64, 16};
  raw.tensors = std::vector<RawTensor>{a, b};
  ExpectRawRejected(raw, "tensor 'w' appears twice (entries #0 and #1)");
  b.name = std::string("v");
  b.data = RawSegment{0, 16};
  raw.tensors = std::vector<RawTensor>{a, b};
  ExpectRawRejected(raw, "tensors 'w' and 'v' overlap at data byte 0");
  // Many entries that repeat one name stop at the first repeat.
  raw.tensors = std::vector<RawTensor>(20000, a);
  ExpectRawRejected(raw, "appears twice");
}

TEST(ArtifactBadInput, ConfigThatMakesNoSense) {
  auto with = [](void (*mutate)(testing::RawConfig*)) {
    RawArtifact raw;
    mutate(&*raw.config);
    return raw;
  };
  ExpectRawRejected(with([](testing::RawConfig* c) { c->vocab_size = 0; }), "config: vocab_size is 0");
  ExpectRawRejected(with([](testing::RawConfig* c) { c->head_dim = 0; }), "config: head_dim is 0");
  ExpectRawRejected(with([](testing::RawConfig* c) { c->num_kv_heads = 0; }), "num_kv_heads is 0");
  ExpectRawRejected(with([](testing::RawConfig* c) { c->num_heads = 3; c->num_kv_heads = 2; }),
                    "num_heads 3 is not a multiple of num_kv_heads 2");
  ExpectRawRejected(with([](testing::RawConfig* c) { c->eos_token_ids = {2, 16}; }), "eos token id 16 is outside");
  ExpectRawRejected(with([](testing::RawConfig* c) { c->bos_token_id = -5; }), "bos_token_id -5");
  ExpectRawRejected(with([](testing::RawConfig* c) { c->norm_eps = std::nanf(""); }), "norm_eps");
  ExpectRawRejected(with([](testing::RawConfig* c) { c->architecture = std::string(); }), "architecture is empty");
}

TEST(ArtifactBadInput, TokenizerIdsOutOfRange) {
  auto with = [](void (*mutate)(RawTokenizer*)) {
    RawArtifact raw;
    raw.tokenizer = RawTokenizer();
    mutate(&*raw.tokenizer);
    return raw;
  };
  ASSERT_TRUE(Load(BuildRawArtifact(with([](RawTokenizer*) {}))).ok());
  ExpectRawRejected(with([](RawTokenizer* t) { t->merges = {0, 4}; }), "merge #0 (0, 4) refers to a token outside");
  ExpectRawRejected(with([](RawTokenizer* t) { t->merges = {0, 1, 2}; }), "odd number of ids");
  ExpectRawRejected(with([](RawTokenizer* t) { t->unk_id = 4; }), "unk_id 4 is outside");
  ExpectRawRejected(with([](RawTokenizer* t) { t->eos_id = 99; }), "eos_id 99");
  ExpectRawRejected(with([](RawTokenizer* t) { t->added_ids = {1, 7}; }), "added token #1 has id 7");
  ExpectRawRejected(with([](RawTokenizer* t) { t->vocab.assign(17, "x"); }),
                    "the vocabulary has 17 tokens but the model's vocab_size is 16");
  ExpectRawRejected(with([](RawTokenizer* t) { t->vocab.clear(); t->merges.clear(); }), "vocabulary is empty");
  // One 4 KB string referenced 16 times: a few KB of file that would copy to 64 KB (and, scaled
  // up, to gigabytes). The reader caps string copies at the header's size.
  ExpectRawRejected(with([](RawTokenizer* t) {
                      t->shared_string_entries = 16;
                      t->shared_string_bytes = 4096;
                      t->merges.clear();
                    }),
                    "repeats string data");
}

TEST(ArtifactBadInput, MisalignedBufferIsAnErrorNotACrash) {
  std::vector<uint8_t> good = GoodArtifact();
  std::vector<uint8_t> storage(good.size() + 8);
  std::memcpy(storage.data() + 1, good.data(), good.size());
  auto result = Artifact::FromView(ViewOfExternal(storage.data() + 1, good.size(), kName));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("8-byte aligned"), std::string::npos);
}

}  // namespace
}  // namespace kite
