// ArtifactWriter -> Artifact::Open: every dtype, every header field, the
// streaming protocol, the no-half-written-file guarantee and >2 GB offsets.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include <gtest/gtest.h>
#include <xxhash.h>

#include "runtime/artifact/artifact.h"
#include "runtime/artifact/artifact_header.h"
#include "runtime/artifact/artifact_writer.h"
#include "tests/test_paths.h"
#include "tests/unit/artifact/artifact_test_util.h"

namespace kite {
namespace {

using testing::MakeTestMetadata;
using testing::RandomBytes;
using testing::TempPath;

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void ExpectConfigEq(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_scaling.type, b.rope_scaling.type);
  EXPECT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
  EXPECT_EQ(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor);
  EXPECT_EQ(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor);
  EXPECT_EQ(a.rope_scaling.original_max_position_embeddings, b.rope_scaling.original_max_position_embeddings);
  EXPECT_EQ(a.rope_scaling.beta_fast, b.rope_scaling.beta_fast);
  EXPECT_EQ(a.rope_scaling.beta_slow, b.rope_scaling.beta_slow);
  EXPECT_EQ(a.rope_scaling.mscale, b.rope_scaling.mscale);
  EXPECT_EQ(a.rope_scaling.mscale_all_dim, b.rope_scaling.mscale_all_dim);
  EXPECT_EQ(a.rope_scaling.attention_factor, b.rope_scaling.attention_factor);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.attention_bias, b.attention_bias);
  EXPECT_EQ(a.attention_out_bias, b.attention_out_bias);
  EXPECT_EQ(a.mlp_bias, b.mlp_bias);
  EXPECT_EQ(a.qk_norm, b.qk_norm);
  EXPECT_EQ(a.hidden_act, b.hidden_act);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
  EXPECT_EQ(a.pad_token_id, b.pad_token_id);
}

void ExpectTokenizerEq(const TokenizerSpec& a, const TokenizerSpec& b) {
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.vocab, b.vocab);
  EXPECT_EQ(a.merges, b.merges);
  EXPECT_EQ(a.scores, b.scores);
  EXPECT_EQ(a.unk_id, b.unk_id);
  EXPECT_EQ(a.byte_fallback, b.byte_fallback);
  EXPECT_EQ(a.fuse_unk, b.fuse_unk);
  EXPECT_EQ(a.ignore_merges, b.ignore_merges);
  EXPECT_EQ(a.continuing_subword_prefix, b.continuing_subword_prefix);
  EXPECT_EQ(a.end_of_word_suffix, b.end_of_word_suffix);
  EXPECT_EQ(a.normalizer_json, b.normalizer_json);
  EXPECT_EQ(a.pre_tokenizer_json, b.pre_tokenizer_json);
  EXPECT_EQ(a.post_processor_json, b.post_processor_json);
  EXPECT_EQ(a.decoder_json, b.decoder_json);
  ASSERT_EQ(a.added_tokens.size(), b.added_tokens.size());
  for (size_t i = 0; i < a.added_tokens.size(); ++i) {
    const AddedTokenSpec &x = a.added_tokens[i], &y = b.added_tokens[i];
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.content, y.content);
    EXPECT_EQ(x.special, y.special);
    EXPECT_EQ(x.lstrip, y.lstrip);
    EXPECT_EQ(x.rstrip, y.rstrip);
    EXPECT_EQ(x.single_word, y.single_word);
    EXPECT_EQ(x.normalized, y.normalized);
  }
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
  EXPECT_EQ(a.add_bos, b.add_bos);
  EXPECT_EQ(a.add_eos, b.add_eos);
  EXPECT_EQ(a.clean_up_tokenization_spaces, b.clean_up_tokenization_spaces);
}

TEST(ArtifactRoundTrip, EveryDTypeAndEveryHeaderField) {
  const std::string path = TempPath("roundtrip.kite");
  const ArtifactMetadata metadata = MakeTestMetadata();
  std::vector<TensorSpec> specs = {
      {"model.embed_tokens.weight", {16, 64}, DType::kQ8, 0},
      {"q8.odd", {5, 33}, DType::kQ8, 0},
      {"norm", {64}, DType::kF32, 0},
      {"q4.g32", {96, 64}, DType::kQ4, 32},
      {"q4.g64", {7, 172}, DType::kQ4, 64},
      {"q4.g128", {3, 130}, DType::kQ4, 128},
      {"half", {3, 5}, DType::kF16, 0},
      {"brain", {2, 3, 4}, DType::kBF16, 0},
      {"rank4", {2, 1, 3, 2}, DType::kF32, 0},
      {"ids", {7}, DType::kI32, 0},
  };
  std::vector<std::vector<uint8_t>> data, scales;
  {
    auto writer = ArtifactWriter::Create(path, metadata, specs);
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    for (size_t i = 0; i < specs.size(); ++i) {
      data.push_back(RandomBytes((*writer)->sizes(i).data_bytes, static_cast<uint32_t>(i)));
      scales.push_back(RandomBytes((*writer)->sizes(i).scales_bytes, static_cast<uint32_t>(100 + i)));
      ASSERT_TRUE((*writer)->WriteTensor(data[i].data(), data[i].size(), scales[i].data(), scales[i].size()).ok());
    }
    EXPECT_TRUE(Exists((*writer)->temp_path()));
    EXPECT_FALSE(Exists(path));
    Status finished = (*writer)->Finish();
    ASSERT_TRUE(finished.ok()) << finished.ToString();
    EXPECT_FALSE(Exists((*writer)->temp_path()));
    EXPECT_EQ((*writer)->file_bytes(), ReadAll(path).size());
  }

  auto opened = Artifact::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  const Artifact& a = **opened;
  EXPECT_EQ(a.format_version(), kArtifactFormatVersion);
  EXPECT_EQ(a.producer(), metadata.producer);
  EXPECT_EQ(a.file_bytes() % 64, 0u);
  ExpectConfigEq(a.config(), metadata.config);
  ASSERT_TRUE(a.has_tokenizer());
  ExpectTokenizerEq(a.tokenizer(), metadata.tokenizer);
  EXPECT_EQ(a.chat_template().source, metadata.chat_template.source);
  EXPECT_EQ(a.chat_template().bos_token, "<s>");
  EXPECT_EQ(a.chat_template().eos_token, "</s>");
  EXPECT_EQ(a.generation().temperature, 0.7f);
  EXPECT_EQ(a.generation().top_k, 40);
  EXPECT_EQ(a.generation().top_p, 0.9f);
  EXPECT_EQ(a.generation().min_p, 0.05f);
  EXPECT_EQ(a.generation().repetition_penalty, 1.1f);
  EXPECT_TRUE(a.generation().do_sample);
  EXPECT_EQ(a.generation().max_length, 300u);
  EXPECT_EQ(a.stop_strings(), metadata.stop_strings);
  EXPECT_EQ(a.quantization().scheme, "mixed");
  EXPECT_EQ(a.quantization().group_size, 64u);
  EXPECT_EQ(a.quantization().relative_rms_error, 0.0625f);

  ASSERT_EQ(a.tensors().size(), specs.size());
  const uint8_t* data_section = a.tensors()[0].data;  // the first segment starts the data section
  uint64_t weight_bytes = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorView& t = a.tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, specs[i].name);
    EXPECT_EQ(t.shape, specs[i].shape);
    EXPECT_EQ(t.dtype, specs[i].dtype);
    EXPECT_EQ(t.group_size, specs[i].group_size);
    ASSERT_EQ(t.data_bytes, data[i].size());
    EXPECT_EQ(0, std::memcmp(t.data, data[i].data(), data[i].size()));
    EXPECT_EQ((t.data - data_section) % 64, 0);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u);  // the mapping is page-aligned
    ASSERT_EQ(t.scales_bytes, scales[i].size());
    if (t.scales_bytes > 0) {
      EXPECT_EQ(0, std::memcmp(t.scales, scales[i].data(), scales[i].size()));
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.scales) % 64, 0u);
    } else {
      EXPECT_EQ(t.scales, nullptr);
    }
    XXH3_state_t* state = XXH3_createState();
    XXH3_64bits_reset(state);
    XXH3_64bits_update(state, data[i].data(), data[i].size());
    XXH3_64bits_update(state, scales[i].data(), scales[i].size());
    EXPECT_EQ(t.checksum, XXH3_64bits_digest(state));
    XXH3_freeState(state);
    EXPECT_EQ(a.Find(t.name), &t);
    weight_bytes += t.data_bytes + t.scales_bytes;
  }
  EXPECT_EQ(a.Find("rank4")->elements(), 12);
  EXPECT_EQ(a.Find("q8.odd")->rows(), 5);
  EXPECT_EQ(a.Find("q8.odd")->cols(), 33);
  EXPECT_EQ(a.Find("absent"), nullptr);
  EXPECT_EQ(a.weight_bytes(), weight_bytes);

  uint64_t last = 0, calls = 0;
  Status verified = a.VerifyChecksums([&](uint64_t done, uint64_t total) {
    EXPECT_GE(done, last);
    EXPECT_EQ(total, weight_bytes);
    last = done;
    ++calls;
  });
  EXPECT_TRUE(verified.ok()) << verified.ToString();
  EXPECT_EQ(last, weight_bytes);
  EXPECT_GT(calls, specs.size());
  EXPECT_TRUE(a.VerifyChecksums().ok());
}

TEST(ArtifactRoundTrip, NoTokenizerNoTemplateReadsAsAbsent) {
  const std::string path = TempPath("bare.kite");
  ArtifactMetadata metadata = MakeTestMetadata(/*with_tokenizer=*/false);
  metadata.chat_template = ChatTemplateInfo();
  metadata.stop_strings.clear();
  auto writer = ArtifactWriter::Create(path, metadata, {{"w", {4}, DType::kF32, 0}});
  ASSERT_TRUE(writer.ok());
  const float w[4] = {1, 2, 3, 4};
  ASSERT_TRUE((*writer)->WriteTensor(w, sizeof(w)).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  auto a = Artifact::Open(path);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_FALSE((*a)->has_tokenizer());
  EXPECT_TRUE((*a)->chat_template().source.empty());
  EXPECT_TRUE((*a)->stop_strings().empty());
}

TEST(ArtifactWriter, StreamingInPiecesGivesTheSameFile) {
  const std::string whole = TempPath("whole.kite"), pieces = TempPath("pieces.kite");
  ASSERT_TRUE(testing::WriteSmallArtifact(whole, 7).ok());
  auto writer = ArtifactWriter::Create(pieces, MakeTestMetadata(), testing::SmallArtifactSpecs());
  ASSERT_TRUE(writer.ok());
  for (size_t i = 0; i < (*writer)->num_tensors(); ++i) {
    const TensorByteSizes& s = (*writer)->sizes(i);
    std::vector<uint8_t> data = RandomBytes(s.data_bytes, 7 + static_cast<uint32_t>(i));
    std::vector<uint8_t> scales = RandomBytes(s.scales_bytes, 107 + static_cast<uint32_t>(i));
    for (size_t at = 0; at < data.size(); at += 5) {
      ASSERT_TRUE((*writer)->AppendData(data.data() + at, std::min<size_t>(5, data.size() - at)).ok());
    }
    for (size_t at = 0; at < scales.size(); at += 3) {
      ASSERT_TRUE((*writer)->AppendScales(scales.data() + at, std::min<size_t>(3, scales.size() - at)).ok());
    }
    ASSERT_TRUE((*writer)->EndTensor().ok());
  }
  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_EQ(ReadAll(whole), ReadAll(pieces));
}

TEST(ArtifactWriter, HeaderSizeDoesNotDependOnValues) {
  // ForceDefaults: values at and away from the schema defaults take the same bytes.
  ArtifactMetadata a = MakeTestMetadata(), b = MakeTestMetadata();
  b.config.norm_eps = 1e-5f;         // the schema default
  b.config.tie_word_embeddings = false;
  b.generation = GenerationDefaultsInfo();
  b.quantization.relative_rms_error = 0.0f;
  std::vector<HeaderTensor> ta(1), tb(1);
  ta[0].spec = tb[0].spec = {"w", {16, 64}, DType::kQ4, 32};
  ta[0].checksum = 0;
  tb[0].checksum = ~uint64_t{0};
  tb[0].placement = {uint64_t{1} << 40, 512, (uint64_t{1} << 40) + 512, 64};
  EXPECT_EQ(BuildHeader(a, ta).size(), BuildHeader(b, tb).size());
}

TEST(ArtifactWriter, FailuresLeaveNoFileBehind) {
  const std::string path = TempPath("never.kite");
  {  // Wrong byte count: error, temp file removed, no output.
    auto writer = ArtifactWriter::Create(path, MakeTestMetadata(), {{"w", {4}, DType::kF32, 0}});
    ASSERT_TRUE(writer.ok());
    const std::string temp = (*writer)->temp_path();
    EXPECT_EQ(temp, ArtifactTempPath(path));
    const float w[5] = {};
    Status s = (*writer)->WriteTensor(w, sizeof(w));
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("more than 16"), std::string::npos) << s.message();
    EXPECT_FALSE(Exists(temp));
    EXPECT_FALSE((*writer)->Finish().ok());
  }
  EXPECT_FALSE(Exists(path));
  {  // Abandoned half way: the destructor removes the temporary file.
    auto writer = ArtifactWriter::Create(path, MakeTestMetadata(), {{"a", {4}, DType::kF32, 0}, {"b", {4}, DType::kF32, 0}});
    ASSERT_TRUE(writer.ok());
    const float w[4] = {};
    ASSERT_TRUE((*writer)->WriteTensor(w, sizeof(w)).ok());
    EXPECT_TRUE(Exists((*writer)->temp_path()));
  }
  EXPECT_FALSE(Exists(ArtifactTempPath(path)));
  EXPECT_FALSE(Exists(path));
  {  // Finish before every tensor was written.
    auto writer = ArtifactWriter::Create(path, MakeTestMetadata(), {{"a", {4}, DType::kF32, 0}});
    ASSERT_TRUE(writer.ok());
    Status s = (*writer)->Finish();
    EXPECT_NE(s.message().find("only 0 of 1 tensors"), std::string::npos) << s.message();
  }
  EXPECT_FALSE(Exists(path));
  {  // A string changed after Create would change the header's size: refused, nothing written.
    auto writer = ArtifactWriter::Create(path, MakeTestMetadata(), {{"a", {4}, DType::kF32, 0}});
    ASSERT_TRUE(writer.ok());
    const float w[4] = {};
    ASSERT_TRUE((*writer)->WriteTensor(w, sizeof(w)).ok());
    (*writer)->metadata().producer += " and more";
    EXPECT_EQ((*writer)->Finish().code(), StatusCode::kInternal);
  }
  EXPECT_FALSE(Exists(path));
  EXPECT_FALSE(Exists(ArtifactTempPath(path)));
}

TEST(ArtifactWriter, AFailedWriteKeepsTheExistingFile) {
  const std::string path = TempPath("keep.kite");
  ASSERT_TRUE(testing::WriteSmallArtifact(path, 3).ok());
  const std::vector<uint8_t> before = ReadAll(path);
  {
    auto writer = ArtifactWriter::Create(path, MakeTestMetadata(), {{"a", {4}, DType::kF32, 0}});
    ASSERT_TRUE(writer.ok());
  }
  EXPECT_EQ(ReadAll(path), before);
  EXPECT_TRUE(Artifact::Open(path).ok());
}

TEST(ArtifactWriter, RejectsBadSpecsUpFront) {
  const std::string path = TempPath("bad_spec.kite");
  auto dup = ArtifactWriter::Create(path, MakeTestMetadata(), {{"a", {4}, DType::kF32, 0}, {"a", {4}, DType::kF32, 0}});
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("'a' is given twice"), std::string::npos);
  auto unnamed = ArtifactWriter::Create(path, MakeTestMetadata(), {{"", {4}, DType::kF32, 0}});
  EXPECT_FALSE(unnamed.ok());
  auto group = ArtifactWriter::Create(path, MakeTestMetadata(), {{"q", {4, 64}, DType::kQ4, 16}});
  ASSERT_FALSE(group.ok());
  EXPECT_NE(group.status().message().find("group_size 16"), std::string::npos);
  auto nodir = ArtifactWriter::Create(TempPath("no/such/dir.kite"), MakeTestMetadata(), {{"a", {4}, DType::kF32, 0}});
  ASSERT_FALSE(nodir.ok());
  EXPECT_EQ(nodir.status().code(), StatusCode::kIoError);
  EXPECT_FALSE(Exists(path));
}

// A tensor past 3 GB in a sparse file: the reader's u64 offsets and the mapping reach it,
// without writing gigabytes (the gap between segments is not checksummed).
TEST(ArtifactReader, ReadsTensorsPastThreeGigabytes) {
  const std::string path = TempPath("sparse.kite");
  const uint64_t far = uint64_t{3} << 30;
  std::vector<HeaderTensor> tensors(2);
  tensors[0].spec = {"near", {16}, DType::kF32, 0};
  tensors[0].placement = {0, 64, 0, 0};
  tensors[1].spec = {"far", {16}, DType::kF32, 0};
  tensors[1].placement = {far, 64, 0, 0};
  std::vector<uint8_t> near_bytes = RandomBytes(64, 5), far_bytes = RandomBytes(64, 6);
  tensors[0].checksum = XXH3_64bits(near_bytes.data(), 64);
  tensors[1].checksum = XXH3_64bits(far_bytes.data(), 64);
  std::vector<uint8_t> header = BuildHeader(MakeTestMetadata(), tensors);
  ArtifactPreamble p;
  p.header_offset = 64;
  p.header_bytes = header.size();
  p.data_offset = (64 + header.size() + 63) / 64 * 64;
  p.data_bytes = far + 64;
  p.header_checksum = HeaderChecksum(header.data(), header.size());
  uint8_t preamble[64];
  EncodePreamble(p, preamble);
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, preamble, 64, 0), 64);
  ASSERT_EQ(pwrite(fd, header.data(), header.size(), 64), static_cast<ssize_t>(header.size()));
  ASSERT_EQ(pwrite(fd, near_bytes.data(), 64, static_cast<off_t>(p.data_offset)), 64);
  ASSERT_EQ(pwrite(fd, far_bytes.data(), 64, static_cast<off_t>(p.data_offset + far)), 64);
  close(fd);

  auto a = Artifact::Open(path);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->file_bytes(), p.data_offset + far + 64);
  const TensorView* t = (*a)->Find("far");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(static_cast<uint64_t>(t->data - (*a)->Find("near")->data), far);
  EXPECT_EQ(0, std::memcmp(t->data, far_bytes.data(), 64));
  EXPECT_TRUE((*a)->VerifyChecksums().ok());
  std::remove(path.c_str());
}

TEST(ArtifactReader, FromViewOfABuffer) {
  const std::string path = TempPath("buffer.kite");
  ASSERT_TRUE(testing::WriteSmallArtifact(path).ok());
  auto a = Artifact::FromView(ViewOfBuffer(ReadAll(path), "in-memory.kite"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->path(), "in-memory.kite");
  EXPECT_TRUE((*a)->VerifyChecksums().ok());
  EXPECT_FALSE(Artifact::FromView(nullptr).ok());
  auto missing = Artifact::Open(TempPath("missing.kite"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.kite"), std::string::npos);
}

}  // namespace
}  // namespace kite
