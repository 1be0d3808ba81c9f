// Helpers shared by the artifact, bad-input and fuzz tests: metadata with every
// field set away from its default, and small files built with the real writer.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "runtime/artifact/artifact_metadata.h"
#include "runtime/artifact/artifact_writer.h"

namespace kite {
namespace testing {

inline ArtifactMetadata MakeTestMetadata(bool with_tokenizer = true) {
  ArtifactMetadata m;
  m.producer = "artifact-test 1.0";
  ModelConfig& c = m.config;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 16;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = 256;
  c.norm_eps = 1e-6f;
  c.rope_theta = 500000.0f;
  c.rope_scaling.type = "llama3";
  c.rope_scaling.factor = 8.0f;
  c.rope_scaling.low_freq_factor = 1.5f;
  c.rope_scaling.high_freq_factor = 4.5f;
  c.rope_scaling.original_max_position_embeddings = 64;
  c.rope_scaling.beta_fast = 31.0f;
  c.rope_scaling.beta_slow = 2.0f;
  c.rope_scaling.mscale = 0.5f;
  c.rope_scaling.mscale_all_dim = 0.25f;
  c.rope_scaling.attention_factor = 1.25f;
  c.tie_word_embeddings = true;
  c.attention_bias = true;
  c.attention_out_bias = true;
  c.mlp_bias = true;
  c.qk_norm = true;
  c.hidden_act = "silu";
  c.bos_token_id = 1;
  c.eos_token_ids = {2, 3};
  c.pad_token_id = 0;
  if (with_tokenizer) {
    m.has_tokenizer = true;
    TokenizerSpec& t = m.tokenizer;
    t.model_type = "BPE";
    for (int i = 0; i < 12; ++i) t.vocab.push_back("tok" + std::to_string(i));
    t.vocab[5] = std::string("nul\0byte", 8);  // strings keep embedded NULs
    t.merges = {{4, 5}, {6, 7}, {8, 9}};
    for (int i = 0; i < 12; ++i) t.scores.push_back(-0.5f * static_cast<float>(i));
    t.unk_id = 0;
    t.byte_fallback = true;
    t.fuse_unk = true;
    t.ignore_merges = true;
    t.continuing_subword_prefix = "##";
    t.end_of_word_suffix = "</w>";
    t.normalizer_json = R"({"type":"NFC"})";
    t.pre_tokenizer_json = R"({"type":"ByteLevel"})";
    t.post_processor_json = R"({"type":"TemplateProcessing"})";
    t.decoder_json = R"({"type":"ByteLevel"})";
    t.added_tokens = {{1, "<s>", true, false, true, false, false}, {2, "</s>", true, true, false, true, true}};
    t.bos_id = 1;
    t.eos_id = 2;
    t.add_bos = true;
    t.add_eos = true;
    t.clean_up_tokenization_spaces = true;
  }
  m.chat_template.source = "{% for m in messages %}{{ m.content }}{% endfor %}";
  m.chat_template.bos_token = "<s>";
  m.chat_template.eos_token = "</s>";
  m.generation = {0.7f, 40, 0.9f, 0.05f, 1.1f, true, 300};
  m.stop_strings = {"</s>", "\nUser:"};
  m.quantization = {"mixed", 64, 0.0625f};
  return m;
}

// Deterministic bytes for tensor contents.
inline std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(n);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  return bytes;
}

// A small artifact with one tensor of each dtype, written by ArtifactWriter to `path`.
// Returns false (with gtest failures) if writing failed.
inline std::vector<TensorSpec> SmallArtifactSpecs() {
  return {
      {"embed", {16, 64}, DType::kQ8, 0},
      {"norm", {64}, DType::kF32, 0},
      {"proj", {96, 64}, DType::kQ4, 32},
      {"half", {3, 5}, DType::kF16, 0},
      {"brain", {2, 3, 4}, DType::kBF16, 0},
      {"ids", {7}, DType::kI32, 0},
  };
}

inline Status WriteSmallArtifact(const std::string& path, uint32_t seed = 1) {
  KITE_ASSIGN_OR_RETURN(auto writer, ArtifactWriter::Create(path, MakeTestMetadata(), SmallArtifactSpecs()));
  for (size_t i = 0; i < writer->num_tensors(); ++i) {
    const TensorByteSizes& s = writer->sizes(i);
    std::vector<uint8_t> data = RandomBytes(s.data_bytes, seed + static_cast<uint32_t>(i));
    std::vector<uint8_t> scales = RandomBytes(s.scales_bytes, seed + 100 + static_cast<uint32_t>(i));
    KITE_RETURN_IF_ERROR(writer->WriteTensor(data.data(), data.size(), scales.data(), scales.size()));
  }
  return writer->Finish();
}

}  // namespace testing
}  // namespace kite
