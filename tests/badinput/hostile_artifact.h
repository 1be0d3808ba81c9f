// Builds .kite files whose header says whatever a test wants: the FlatBuffer
// is assembled field by field with FlatBufferBuilder (no generated Finish(),
// which would assert on missing required fields), then wrapped in a correct
// preamble and header checksum so the reader's deeper checks are reached.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "runtime/artifact/artifact_layout.h"
#include "runtime/artifact/kite_generated.h"

namespace kite {
namespace testing {

struct RawSegment {
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

struct RawTensor {
  std::optional<std::string> name = std::string("w");
  std::optional<std::vector<uint64_t>> shape = std::vector<uint64_t>{4};
  uint8_t dtype = 0;  // F32
  uint32_t group_size = 0;
  std::optional<RawSegment> data = RawSegment{0, 16};
  std::optional<RawSegment> scales;
  uint64_t checksum = 0;
};

struct RawConfig {
  std::optional<std::string> architecture = std::string("LlamaForCausalLM");
  uint32_t vocab_size = 16, hidden_size = 8, intermediate_size = 16, num_layers = 1;
  uint32_t num_heads = 2, num_kv_heads = 1, head_dim = 4;
  float norm_eps = 1e-5f;
  int32_t bos_token_id = 1;
  std::vector<int32_t> eos_token_ids = {2};
};

struct RawTokenizer {
  std::vector<std::string> vocab = {"a", "b", "c", "ab"};
  std::vector<uint32_t> merges = {0, 1};
  int32_t unk_id = -1, bos_id = -1, eos_id = -1;
  std::vector<uint32_t> added_ids;
  // > 0: the vocab is this many offsets to ONE string of `shared_string_bytes` bytes.
  uint32_t shared_string_entries = 0;
  uint32_t shared_string_bytes = 0;
};

struct RawArtifact {
  uint32_t format_version = kArtifactFormatVersion;
  std::optional<RawConfig> config = RawConfig();
  std::optional<RawTokenizer> tokenizer;
  std::optional<std::vector<RawTensor>> tensors = std::vector<RawTensor>{RawTensor()};
  uint64_t data_section_bytes = 1024;
  const char* identifier = "KITE";
};

inline std::vector<uint8_t> BuildRawHeader(const RawArtifact& a) {
  using flatbuffers::Offset;
  flatbuffers::FlatBufferBuilder fbb;
  fbb.ForceDefaults(true);
  auto segment = [&](const RawSegment& s) {
    const auto start = fbb.StartTable();
    fbb.AddElement<uint64_t>(fb::Segment::VT_OFFSET, s.offset, 0);
    fbb.AddElement<uint64_t>(fb::Segment::VT_BYTES, s.bytes, 0);
    return Offset<fb::Segment>(fbb.EndTable(start));
  };
  Offset<fb::ModelConfig> config;
  if (a.config) {
    const RawConfig& c = *a.config;
    Offset<flatbuffers::String> arch;
    if (c.architecture) arch = fbb.CreateString(*c.architecture);
    auto eos = fbb.CreateVector(c.eos_token_ids);
    const auto start = fbb.StartTable();
    if (c.architecture) fbb.AddOffset(fb::ModelConfig::VT_ARCHITECTURE, arch);
    fbb.AddElement<uint32_t>(fb::ModelConfig::VT_VOCAB_SIZE, c.vocab_size, 0);
    fbb.AddElement<uint32_t>(fb::ModelConfig::VT_HIDDEN_SIZE, c.hidden_size, 0);
    fbb.AddElement<uint32_t>(fb::ModelConfig::VT_INTERMEDIATE_SIZE, c.intermediate_size, 0);
    fbb.AddElement<uint32_t>(fb::ModelConfig::VT_NUM_LAYERS, c.num_layers, 0);
    fbb.AddElement<uint32_t>(fb::ModelConfig::VT_NUM_HEADS, c.num_heads, 0);
    fbb.AddElement<uint32_t>(fb::ModelConfig::VT_NUM_KV_HEADS, c.num_kv_heads, 0);
    fbb.AddElement<uint32_t>(fb::ModelConfig::VT_HEAD_DIM, c.head_dim, 0);
    fbb.AddElement<float>(fb::ModelConfig::VT_NORM_EPS, c.norm_eps, 1e-5f);
    fbb.AddElement<int32_t>(fb::ModelConfig::VT_BOS_TOKEN_ID, c.bos_token_id, -1);
    fbb.AddOffset(fb::ModelConfig::VT_EOS_TOKEN_IDS, eos);
    config = Offset<fb::ModelConfig>(fbb.EndTable(start));
  }
  Offset<fb::Tokenizer> tokenizer;
  if (a.tokenizer) {
    const RawTokenizer& t = *a.tokenizer;
    Offset<flatbuffers::Vector<Offset<flatbuffers::String>>> vocab;
    if (t.shared_string_entries > 0) {
      auto shared = fbb.CreateString(std::string(t.shared_string_bytes, 'x'));
      std::vector<Offset<flatbuffers::String>> refs(t.shared_string_entries, shared);
      vocab = fbb.CreateVector(refs);
    } else {
      vocab = fbb.CreateVectorOfStrings(t.vocab);
    }
    auto merges = fbb.CreateVector(t.merges);
    std::vector<Offset<fb::AddedToken>> added;
    for (uint32_t id : t.added_ids) {
      const auto start = fbb.StartTable();
      fbb.AddElement<uint32_t>(fb::AddedToken::VT_ID, id, 0);
      added.push_back(Offset<fb::AddedToken>(fbb.EndTable(start)));
    }
    auto added_vec = fbb.CreateVector(added);
    const auto start = fbb.StartTable();
    fbb.AddOffset(fb::Tokenizer::VT_VOCAB, vocab);
    fbb.AddOffset(fb::Tokenizer::VT_MERGES, merges);
    fbb.AddOffset(fb::Tokenizer::VT_ADDED_TOKENS, added_vec);
    fbb.AddElement<int32_t>(fb::Tokenizer::VT_UNK_ID, t.unk_id, -1);
    fbb.AddElement<int32_t>(fb::Tokenizer::VT_BOS_ID, t.bos_id, -1);
    fbb.AddElement<int32_t>(fb::Tokenizer::VT_EOS_ID, t.eos_id, -1);
    tokenizer = Offset<fb::Tokenizer>(fbb.EndTable(start));
  }
  Offset<flatbuffers::Vector<Offset<fb::Tensor>>> tensors;
  if (a.tensors) {
    std::vector<Offset<fb::Tensor>> list;
    for (const RawTensor& t : *a.tensors) {
      Offset<flatbuffers::String> name;
      Offset<flatbuffers::Vector<uint64_t>> shape;
      Offset<fb::Segment> data, scales;
      if (t.name) name = fbb.CreateString(*t.name);
      if (t.shape) shape = fbb.CreateVector(*t.shape);
      if (t.data) data = segment(*t.data);
      if (t.scales) scales = segment(*t.scales);
      const auto start = fbb.StartTable();
      if (t.name) fbb.AddOffset(fb::Tensor::VT_NAME, name);
      if (t.shape) fbb.AddOffset(fb::Tensor::VT_SHAPE, shape);
      fbb.AddElement<uint8_t>(fb::Tensor::VT_DTYPE, t.dtype, 0);
      fbb.AddElement<uint32_t>(fb::Tensor::VT_GROUP_SIZE, t.group_size, 0);
      if (t.data) fbb.AddOffset(fb::Tensor::VT_DATA, data);
      if (t.scales) fbb.AddOffset(fb::Tensor::VT_SCALES, scales);
      fbb.AddElement<uint64_t>(fb::Tensor::VT_CHECKSUM, t.checksum, 0);
      list.push_back(Offset<fb::Tensor>(fbb.EndTable(start)));
    }
    tensors = fbb.CreateVector(list);
  }
  const auto start = fbb.StartTable();
  fbb.AddElement<uint32_t>(fb::Artifact::VT_FORMAT_VERSION, a.format_version, 0);
  if (a.config) fbb.AddOffset(fb::Artifact::VT_CONFIG, config);
  if (a.tokenizer) fbb.AddOffset(fb::Artifact::VT_TOKENIZER, tokenizer);
  if (a.tensors) fbb.AddOffset(fb::Artifact::VT_TENSORS, tensors);
  fbb.Finish(Offset<fb::Artifact>(fbb.EndTable(start)), a.identifier);
  return std::vector<uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

// Preamble + `header` + `data_section_bytes` zero bytes, with a correct header checksum.
inline std::vector<uint8_t> AssembleArtifact(const std::vector<uint8_t>& header, uint64_t data_section_bytes) {
  ArtifactPreamble p;
  p.header_offset = kArtifactPreambleBytes;
  p.header_bytes = header.size();
  p.data_offset = (kArtifactPreambleBytes + header.size() + 63) / 64 * 64;
  p.data_bytes = data_section_bytes;
  p.header_checksum = HeaderChecksum(header.data(), header.size());
  std::vector<uint8_t> file(p.data_offset + data_section_bytes, 0);
  EncodePreamble(p, file.data());
  std::copy(header.begin(), header.end(), file.begin() + kArtifactPreambleBytes);
  return file;
}

inline std::vector<uint8_t> BuildRawArtifact(const RawArtifact& a) {
  return AssembleArtifact(BuildRawHeader(a), a.data_section_bytes);
}

}  // namespace testing
}  // namespace kite
