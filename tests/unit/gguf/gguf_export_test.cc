// kite-export-gguf on ../shared/models/stories260K/hf (a Llama with an
// SPM-style tokenizer), read back with the test's own GGUF reader: metadata
// llama.cpp needs, tensor names/shapes/types, alignment, every weight against
// the safetensors source within the error bound of its type, the Q/K RoPE
// permutation, and the tokenizer scores against the model's original
// SentencePiece scores (stories260K/tok512.bin, llama2.c format).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "converter/gguf/gguf_export.h"
#include "converter/safetensors.h"
#include "runtime/core/file.h"
#include "tests/test_paths.h"
#include "tests/unit/gguf/gguf_test_reader.h"

namespace kite {
namespace {

using testing::GgufFile;
using testing::GgufTensor;

const std::string& StoriesDir() {
  static const std::string dir = testing::SharedPath("models/stories260K/hf");
  return dir;
}

// stories260K: hidden 64, 5 layers, 8 heads, 4 kv heads, head_dim 8, ffn 172, vocab 512, tied.
constexpr int kLayers = 5, kHidden = 64, kHeads = 8, kKvHeads = 4, kHeadDim = 8, kFfn = 172, kVocab = 512;

// The Hugging Face tensor a GGUF tensor comes from (written here independently of the exporter).
std::string SourceName(const std::string& gguf) {
  if (gguf == "token_embd.weight") return "model.embed_tokens.weight";
  if (gguf == "output_norm.weight") return "model.norm.weight";
  const std::map<std::string, std::string> parts = {
      {"attn_norm", "input_layernorm"}, {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"}, {"attn_output", "self_attn.o_proj"}, {"ffn_norm", "post_attention_layernorm"},
      {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"}, {"ffn_down", "mlp.down_proj"}};
  // "blk.3.attn_q.weight"
  const size_t a = gguf.find('.'), b = gguf.find('.', a + 1), c = gguf.rfind('.');
  return "model.layers." + gguf.substr(a + 1, b - a - 1) + "." + parts.at(gguf.substr(b + 1, c - b - 1)) + gguf.substr(c);
}

struct Exported {
  GgufFile file;
  std::string path;
};

Exported Export(gguf::ExportType type) {
  Exported e;
  e.path = testing::TempPath(std::string("stories260K-") + gguf::ExportTypeName(type) + ".gguf");
  gguf::ExportOptions options;
  options.hf_dir = StoriesDir();
  options.output = e.path;
  options.type = type;
  auto report = gguf::ExportGguf(options);
  EXPECT_TRUE(report.ok()) << report.status().ToString();
  if (!report.ok()) return e;
  EXPECT_EQ(report.value().architecture, "llama");
  EXPECT_EQ(report.value().tokenizer_model, "llama");
  const std::string error = testing::ReadGguf(e.path, &e.file);
  EXPECT_EQ(error, "");
  return e;
}

uint64_t U(const GgufFile& f, const std::string& key, uint32_t type = 4) {
  auto it = f.kv.find(key);
  if (it == f.kv.end()) {
    ADD_FAILURE() << "missing key " << key;
    return 0;
  }
  EXPECT_EQ(it->second.type, type) << key;
  return it->second.u;
}

class GgufExportTest : public ::testing::TestWithParam<gguf::ExportType> {};

TEST_P(GgufExportTest, MetadataLlamaCppNeeds) {
  const gguf::ExportType type = GetParam();
  Exported e = Export(type);
  const GgufFile& f = e.file;
  ASSERT_FALSE(f.bytes.empty());
  EXPECT_EQ(f.version, 3u);
  EXPECT_EQ(f.alignment, 32u);
  EXPECT_EQ(f.kv.at("general.architecture").s, "llama");
  EXPECT_EQ(U(f, "llama.block_count"), uint64_t{kLayers});
  EXPECT_EQ(U(f, "llama.embedding_length"), uint64_t{kHidden});
  EXPECT_EQ(U(f, "llama.feed_forward_length"), uint64_t{kFfn});
  EXPECT_EQ(U(f, "llama.attention.head_count"), uint64_t{kHeads});
  EXPECT_EQ(U(f, "llama.attention.head_count_kv"), uint64_t{kKvHeads});
  EXPECT_EQ(U(f, "llama.rope.dimension_count"), uint64_t{kHeadDim});
  EXPECT_EQ(U(f, "llama.context_length"), 512u);
  EXPECT_EQ(U(f, "llama.vocab_size"), uint64_t{kVocab});
  EXPECT_FLOAT_EQ(static_cast<float>(f.kv.at("llama.attention.layer_norm_rms_epsilon").f), 1e-5f);
  EXPECT_FLOAT_EQ(static_cast<float>(f.kv.at("llama.rope.freq_base").f), 10000.0f);
  // llama_ftype: MOSTLY_F16 = 1, MOSTLY_Q4_0 = 2, MOSTLY_Q8_0 = 7.
  const uint64_t ftype = type == gguf::ExportType::kF16 ? 1 : type == gguf::ExportType::kQ8_0 ? 7 : 2;
  EXPECT_EQ(U(f, "general.file_type"), ftype);
  EXPECT_EQ(f.kv.count("general.quantization_version"), type == gguf::ExportType::kF16 ? 0u : 1u);

  EXPECT_EQ(f.kv.at("tokenizer.ggml.model").s, "llama");
  const auto& tokens = f.kv.at("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.array_type, 8u);
  ASSERT_EQ(tokens.array.size(), size_t{kVocab});
  EXPECT_EQ(tokens.array[0].s, "<unk>");
  EXPECT_EQ(tokens.array[1].s, "<s>");
  EXPECT_EQ(tokens.array[3].s, "<0x00>");
  EXPECT_EQ(tokens.array[259].s, "\xE2\x96\x81t");  // SentencePiece pieces keep the U+2581 marker
  const auto& types = f.kv.at("tokenizer.ggml.token_type");
  ASSERT_EQ(types.array_type, 5u);
  ASSERT_EQ(types.array.size(), size_t{kVocab});
  // llama_token_type: NORMAL 1, UNKNOWN 2, CONTROL 3, BYTE 6.
  EXPECT_EQ(types.array[0].i, 2);
  EXPECT_EQ(types.array[1].i, 3);
  EXPECT_EQ(types.array[2].i, 3);
  for (int id = 3; id < 3 + 256; ++id) EXPECT_EQ(types.array[id].i, 6) << id;
  EXPECT_EQ(types.array[259].i, 1);
  EXPECT_EQ(f.kv.at("tokenizer.ggml.scores").array.size(), size_t{kVocab});
  EXPECT_EQ(U(f, "tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(U(f, "tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(U(f, "tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_EQ(U(f, "tokenizer.ggml.add_bos_token", 7), 1u);
  EXPECT_EQ(U(f, "tokenizer.ggml.add_space_prefix", 7), 1u);
  EXPECT_EQ(f.kv.count("tokenizer.ggml.merges"), 0u);  // SPM vocabularies merge by score
  std::remove(e.path.c_str());
}

TEST_P(GgufExportTest, TensorsNamesShapesTypesAndLayout) {
  const gguf::ExportType type = GetParam();
  Exported e = Export(type);
  const GgufFile& f = e.file;
  ASSERT_FALSE(f.bytes.empty());
  std::set<std::string> expected = {"token_embd.weight", "output_norm.weight"};  // tied: no output.weight
  for (int l = 0; l < kLayers; ++l) {
    for (const char* n : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"}) {
      expected.insert("blk." + std::to_string(l) + "." + n + ".weight");
    }
  }
  std::set<std::string> names;
  for (const GgufTensor& t : f.tensors) names.insert(t.name);
  EXPECT_EQ(names, expected);
  const uint32_t matrix_type = type == gguf::ExportType::kF16 ? 1 : type == gguf::ExportType::kQ8_0 ? 8 : 2;
  for (const GgufTensor& t : f.tensors) {
    SCOPED_TRACE(t.name);
    if (t.ne.size() == 1) {
      EXPECT_EQ(t.type, 0u);
      EXPECT_EQ(t.ne[0], uint64_t{kHidden});
    } else if (t.name.find("ffn_down") != std::string::npos) {
      EXPECT_EQ(t.ne, (std::vector<uint64_t>{kFfn, kHidden}));
      EXPECT_EQ(t.type, 1u);  // 172-value rows cannot be cut into 32-value blocks: F16
    } else {
      EXPECT_EQ(t.type, matrix_type);
    }
  }
  EXPECT_EQ(f.Find("token_embd.weight")->ne, (std::vector<uint64_t>{kHidden, kVocab}));
  EXPECT_EQ(f.Find("blk.0.attn_k.weight")->ne, (std::vector<uint64_t>{kHidden, kKvHeads * kHeadDim}));
  EXPECT_EQ(f.Find("blk.0.ffn_gate.weight")->ne, (std::vector<uint64_t>{kHidden, kFfn}));

  // Tensors lie in the data section in order, aligned, without overlap; the file ends padded.
  std::vector<const GgufTensor*> by_offset;
  for (const GgufTensor& t : f.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  EXPECT_EQ(f.data_start % 32, 0u);
  for (size_t i = 0; i + 1 < by_offset.size(); ++i) {
    EXPECT_LE(by_offset[i]->offset + by_offset[i]->bytes, by_offset[i + 1]->offset) << by_offset[i]->name;
    EXPECT_LT(by_offset[i + 1]->offset - (by_offset[i]->offset + by_offset[i]->bytes), 32u);  // only padding between
  }
  const GgufTensor* last = by_offset.back();
  EXPECT_EQ(f.bytes.size(), f.data_start + (last->offset + last->bytes + 31) / 32 * 32);
  std::remove(e.path.c_str());
}

TEST_P(GgufExportTest, WeightsMatchTheCheckpointWithinTheirTypesError) {
  const gguf::ExportType type = GetParam();
  Exported e = Export(type);
  const GgufFile& f = e.file;
  ASSERT_FALSE(f.bytes.empty());
  auto checkpoint = SafetensorsCheckpoint::OpenDir(StoriesDir());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status().ToString();
  for (const GgufTensor& t : f.tensors) {
    SCOPED_TRACE(t.name);
    const SourceTensor* src = checkpoint.value()->Find(SourceName(t.name));
    ASSERT_NE(src, nullptr);
    std::vector<float> want(static_cast<size_t>(src->elements()));
    ReadAsF32(*src, 0, src->elements(), want.data());
    std::vector<float> scales;
    const std::vector<float> got = testing::Dequantize(f, t, &scales);
    ASSERT_EQ(got.size(), want.size());
    const size_t cols = t.ne[0], rows = got.size() / cols;
    // llama.cpp's llama graph rotates adjacent pairs; Hugging Face rotates the two halves of a
    // head. So GGUF row (head h, pair i, member j) is Hugging Face row (h, j * hd/2 + i).
    const bool is_q = t.name.find("attn_q") != std::string::npos, is_k = t.name.find("attn_k") != std::string::npos;
    const size_t heads = is_q ? kHeads : is_k ? kKvHeads : 0;
    double err2 = 0, ref2 = 0;
    for (size_t r = 0; r < rows; ++r) {
      size_t src_row = r;
      if (heads > 0) {
        const size_t hd = rows / heads, h = r / hd, i = (r % hd) / 2, j = r % 2;
        src_row = h * hd + j * (hd / 2) + i;
      }
      for (size_t c = 0; c < cols; ++c) {
        const float x = want[src_row * cols + c], y = got[r * cols + c], d = std::fabs(scales[r * cols + c]);
        float bound = 0;
        switch (t.type) {
          case 0: bound = 0; break;                                           // F32: exact
          case 1: bound = std::fabs(x) / 2048.0f + 6.0e-8f; break;            // F16: half an ulp (11 bits), subnormal step
          case 8: bound = d * (0.5f + 127.0f / 2048.0f) * 1.001f; break;      // Q8_0: half a step + the f16 scale's error
          case 2: bound = d * (1.0f + 8.0f / 2048.0f) * 1.001f; break;        // Q4_0: a step at the clamped end + scale error
        }
        ASSERT_LE(std::fabs(x - y), bound) << "row " << r << " col " << c << ": " << x << " -> " << y;
        err2 += (x - y) * (x - y);
        ref2 += x * x;
      }
    }
    // Whole-tensor error for trained weights: Q8_0 ~0.5%, Q4_0 ~10%.
    if (t.type == 8) {
      EXPECT_LT(std::sqrt(err2 / ref2), 0.02);
    }
    if (t.type == 2) {
      EXPECT_LT(std::sqrt(err2 / ref2), 0.2);
    }
    if (heads > 0 && type == gguf::ExportType::kF16) {
      // The permutation is not the identity: read unpermuted, row 1 would be another row.
      float row1_difference = 0;
      for (size_t c = 0; c < cols; ++c) row1_difference = std::max(row1_difference, std::fabs(got[cols + c] - want[cols + c]));
      EXPECT_GT(row1_difference, 1e-3f);
    }
  }
  std::remove(e.path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Types, GgufExportTest,
                         ::testing::Values(gguf::ExportType::kF16, gguf::ExportType::kQ8_0, gguf::ExportType::kQ4_0),
                         [](const auto& info) { return std::string(gguf::ExportTypeName(info.param)); });

// llama.cpp's SPM tokenizer merges the pair with the highest score. The scores derived from the
// BPE merge ranks must order the merged pieces as the model's SentencePiece scores do.
TEST(GgufExport, TokenizerScoresOrderLikeTheSentencePieceModel) {
  Exported e = Export(gguf::ExportType::kF16);
  ASSERT_FALSE(e.file.bytes.empty());
  std::ifstream in(testing::SharedPath("models/stories260K/tok512.bin"), std::ios::binary);
  ASSERT_TRUE(in);
  int32_t max_len = 0;
  in.read(reinterpret_cast<char*>(&max_len), 4);
  std::vector<float> sp_scores(kVocab);
  for (int i = 0; i < kVocab; ++i) {
    int32_t len = 0;
    in.read(reinterpret_cast<char*>(&sp_scores[i]), 4);
    in.read(reinterpret_cast<char*>(&len), 4);
    in.seekg(len, std::ios::cur);
  }
  ASSERT_TRUE(in);
  const auto& tokens = e.file.kv.at("tokenizer.ggml.tokens").array;
  const auto& scores = e.file.kv.at("tokenizer.ggml.scores").array;
  const auto& types = e.file.kv.at("tokenizer.ggml.token_type").array;
  // Merged pieces: normal tokens longer than one UTF-8 character.
  std::vector<int> merged;
  for (int id = 0; id < kVocab; ++id) {
    const std::string& t = tokens[id].s;
    size_t chars = 0;
    for (unsigned char ch : t) chars += (ch & 0xC0) != 0x80;
    if (types[id].i == 1 && chars > 1) merged.push_back(id);
  }
  ASSERT_GT(merged.size(), 100u);
  int disagreements = 0;
  for (int a : merged) {
    for (int b : merged) {
      if (a != b && (scores[a].f > scores[b].f) != (sp_scores[a] > sp_scores[b])) ++disagreements;
    }
  }
  EXPECT_EQ(disagreements, 0);
  std::remove(e.path.c_str());
}

TEST(GgufExport, UnsupportedInputFailsWithoutOutput) {
  const std::string dir = testing::TempPath("qwen3-config");
  ASSERT_EQ(std::system(("mkdir -p '" + dir + "'").c_str()), 0);
  {
    std::ofstream config(dir + "/config.json");
    config << R"({"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
      "head_dim": 16, "vocab_size": 32, "max_position_embeddings": 64, "tie_word_embeddings": true})";
  }
  const std::string out = testing::TempPath("never.gguf");
  gguf::ExportOptions options;
  options.hf_dir = dir;
  options.output = out;
  auto report = gguf::ExportGguf(options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("Qwen3ForCausalLM"), std::string::npos) << report.status().message();
  options.hf_dir = dir + "/missing";
  EXPECT_FALSE(gguf::ExportGguf(options).ok());
  EXPECT_FALSE(FileExists(out));
  EXPECT_FALSE(FileExists(out + ".tmp"));
}

}  // namespace
}  // namespace kite
