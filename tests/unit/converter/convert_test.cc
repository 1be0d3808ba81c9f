// ConvertCheckpoint on the shared checkpoints: f32 is bit-exact, f16 is exact
// round-to-nearest, q8/q4 stay within their rounding bounds and the reported
// error equals a recomputation from the artifact; all errors are clear and
// leave no file behind.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <gtest/gtest.h>

#include "converter/convert.h"
#include "converter/model_tensors.h"
#include "kernels/quant_formats.h"
#include "kernels/quantize.h"
#include "runtime/artifact/artifact.h"
#include "runtime/artifact/artifact_writer.h"
#include "tests/unit/converter/converter_test_util.h"

namespace kite {
namespace {

using testing::SharedPath;
using testing::TempPath;

struct Model {
  const char* dir;
  bool tokenizer;
};
const Model kModels[] = {{"models/stories260K/hf", true},
                         {"models/random/llama", false},
                         {"models/random/llama_tied_linear", false},
                         {"models/random/qwen2", false},
                         {"models/random/qwen3", false}};

std::string OutName(const std::string& dir, const char* scheme) {
  std::string name = dir;
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return TempPath(name + "_" + scheme + ".kite");
}

Result<ConversionReport> Convert(const std::string& dir, const std::string& out, QuantScheme scheme,
                                 bool tokenizer, int64_t group = 32, std::vector<std::string> overrides = {}) {
  ConvertOptions o;
  o.input_dir = dir;
  o.output_path = out;
  o.scheme = scheme;
  o.group_size = group;
  o.overrides = std::move(overrides);
  o.include_tokenizer = tokenizer;
  return ConvertCheckpoint(o);
}

// The artifact tensor dequantized (or widened) to f32.
std::vector<float> Dequantize(const TensorView& t) {
  const int64_t n = t.elements();
  std::vector<float> out(static_cast<size_t>(n));
  switch (t.dtype) {
    case DType::kF32:
      std::memcpy(out.data(), t.data, static_cast<size_t>(n) * 4);
      break;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        out[i] = kernels::HalfToFloat(h);
      }
      break;
    case DType::kQ8:
      kernels::DequantizeRowsQ8(reinterpret_cast<const int8_t*>(t.data), reinterpret_cast<const float*>(t.scales),
                                t.shape[0], t.shape[1], out.data());
      break;
    case DType::kQ4:
      kernels::DequantizeRowsQ4(t.data, reinterpret_cast<const uint16_t*>(t.scales), t.shape[0], t.shape[1],
                                t.group_size, out.data());
      break;
    default:
      ADD_FAILURE() << "unexpected dtype " << DTypeName(t.dtype);
  }
  return out;
}

// The bound on |w - dequantized| for element (row, col) of a tensor.
double ElementBound(const TensorView& t, int64_t row, int64_t col, float w) {
  switch (t.dtype) {
    case DType::kF32:
      return 0.0;
    case DType::kF16:
      // Round to nearest: half an ulp, 2^-11 relative for normals, 2^-25 absolute for subnormals.
      return std::max(std::fabs(static_cast<double>(w)) * std::ldexp(1.0, -11), std::ldexp(1.0, -25));
    case DType::kQ8: {
      // Round to nearest with scale = max|w| / 127: half a step, plus the f32 rounding of w / scale
      // (which can tip a tie) and of q * scale, each below 127 * 2^-24 of a step.
      const double scale = reinterpret_cast<const float*>(t.scales)[row];
      return 0.5 * scale * (1.0 + 1e-4) + 1e-30;
    }
    case DType::kQ4: {
      // llama.cpp-style Q4: the signed extreme maps to -8, so a value of the opposite sign and the
      // same magnitude clamps at +7: at most one whole step; plus f16 rounding of the scale.
      const int64_t groups = Q4GroupsPerRow(t.shape[1], t.group_size);
      const double scale =
          std::fabs(kernels::HalfToFloat(reinterpret_cast<const uint16_t*>(t.scales)[row * groups + col / t.group_size]));
      return scale * (1.0 + std::ldexp(1.0, -9)) + 1e-30;
    }
    default:
      return 0.0;
  }
}

// Checks every tensor of `out` against the checkpoint and the report; returns the recomputed total.
void CheckArtifact(const std::string& dir, const std::string& out, const ConversionReport& report,
                   QuantScheme scheme) {
  auto artifact = Artifact::Open(out);
  ASSERT_TRUE(artifact.ok()) << artifact.status().ToString();
  const Artifact& a = **artifact;
  ASSERT_TRUE(a.VerifyChecksums().ok());
  EXPECT_EQ(a.file_bytes(), report.output_bytes);
  EXPECT_EQ(a.producer(), kConverterProducer);
  EXPECT_EQ(a.quantization().scheme, QuantSchemeName(scheme));
  auto checkpoint = SafetensorsCheckpoint::OpenDir(dir);
  ASSERT_TRUE(checkpoint.ok());
  const std::vector<ExpectedTensor> expected = ExpectedTensors(a.config());
  ASSERT_EQ(a.tensors().size(), expected.size());
  ASSERT_EQ(report.tensors.size(), expected.size());
  if (a.config().tie_word_embeddings) {
    EXPECT_EQ(a.Find("lm_head.weight"), nullptr);
  }

  ErrorStats total;
  for (size_t i = 0; i < expected.size(); ++i) {
    const TensorView& t = a.tensors()[i];
    SCOPED_TRACE(t.name);
    ASSERT_EQ(t.name, expected[i].name);
    ASSERT_EQ(t.shape, expected[i].shape);
    const SourceTensor* src = (*checkpoint)->Find(t.name);
    ASSERT_NE(src, nullptr);
    if (t.shape.size() == 1) {
      EXPECT_EQ(t.dtype, DType::kF32);  // norms and biases always f32
    }
    if (t.dtype == DType::kF32 && src->dtype == SourceDType::kF32) {
      ASSERT_EQ(t.data_bytes, src->bytes);
      EXPECT_EQ(0, std::memcmp(t.data, src->data, src->bytes)) << "f32 must be bit-exact";
    }
    std::vector<float> w(static_cast<size_t>(t.elements()));
    ReadAsF32(*src, 0, t.elements(), w.data());
    const std::vector<float> deq = Dequantize(t);
    ErrorStats stats;
    const int64_t cols = t.shape.back();
    int violations = 0;
    for (int64_t e = 0; e < t.elements(); ++e) {
      const double diff = static_cast<double>(w[e]) - deq[e];
      stats.sum_sq_error += diff * diff;
      stats.sum_sq_weight += static_cast<double>(w[e]) * w[e];
      if (t.dtype == DType::kF16) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * e, 2);
        if (h != kernels::FloatToHalf(w[e])) ++violations;  // f16 is exactly round-to-nearest-even
      }
      if (std::fabs(diff) > ElementBound(t, e / cols, e % cols, w[e])) ++violations;
    }
    EXPECT_EQ(violations, 0) << DTypeName(t.dtype);
    // The report's error is this very computation (same order, in double).
    const TensorReport& r = report.tensors[i];
    EXPECT_EQ(r.dtype, t.dtype);
    EXPECT_EQ(r.bytes, t.data_bytes + t.scales_bytes);
    EXPECT_NEAR(r.error.sum_sq_error, stats.sum_sq_error, 1e-12 * (1.0 + stats.sum_sq_error));
    EXPECT_NEAR(r.error.sum_sq_weight, stats.sum_sq_weight, 1e-12 * stats.sum_sq_weight);
    total.Add(stats);
  }
  EXPECT_NEAR(report.total_error.relative_rms(), total.relative_rms(), 1e-9);
  EXPECT_FLOAT_EQ(a.quantization().relative_rms_error, static_cast<float>(total.relative_rms()));
  // Sanity of the error magnitudes (rounding of Gaussian-like weights): q8 ~0.5%, q4 ~8%.
  const double rel = total.relative_rms();
  switch (scheme) {
    case QuantScheme::kF32: EXPECT_EQ(rel, 0.0); break;
    case QuantScheme::kF16: EXPECT_LT(rel, 5e-4); break;
    case QuantScheme::kQ8: EXPECT_LT(rel, 0.01); break;
    case QuantScheme::kQ4: EXPECT_LT(rel, 0.15); break;
    case QuantScheme::kMixed: EXPECT_LT(rel, 0.15); break;
  }
}

class ConvertEveryModel : public ::testing::TestWithParam<Model> {};

TEST_P(ConvertEveryModel, EverySchemeMatchesTheCheckpoint) {
  const Model& m = GetParam();
  const std::string dir = SharedPath(m.dir);
  for (QuantScheme scheme :
       {QuantScheme::kF32, QuantScheme::kF16, QuantScheme::kQ8, QuantScheme::kQ4, QuantScheme::kMixed}) {
    SCOPED_TRACE(QuantSchemeName(scheme));
    const std::string out = OutName(m.dir, QuantSchemeName(scheme));
    auto report = Convert(dir, out, scheme, m.tokenizer);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->warnings.empty());
    EXPECT_EQ(report->has_tokenizer, m.tokenizer);
    CheckArtifact(dir, out, report.value(), scheme);
    auto a = Artifact::Open(out);
    ASSERT_TRUE(a.ok());
    if (scheme == QuantScheme::kMixed) {
      EXPECT_EQ((*a)->Find("model.embed_tokens.weight")->dtype, DType::kQ8);
      EXPECT_EQ((*a)->Find("model.layers.0.mlp.up_proj.weight")->dtype, DType::kQ4);
      if (const TensorView* head = (*a)->Find("lm_head.weight")) {
        EXPECT_EQ(head->dtype, DType::kQ8);
      }
    }
    EXPECT_FALSE(testing::PathExists(ArtifactTempPath(out)));
    std::remove(out.c_str());
  }
}

INSTANTIATE_TEST_SUITE_P(SharedCheckpoints, ConvertEveryModel, ::testing::ValuesIn(kModels),
                         [](const ::testing::TestParamInfo<Model>& info) {
                           std::string name = std::string(info.param.dir).substr(std::string("models/").size());
                           for (char& c : name) {
                             if (c == '/') c = '_';
                           }
                           return name;
                         });

TEST(Convert, Stories260KMetadata) {
  const std::string out = TempPath("stories_meta.kite");
  auto report = Convert(SharedPath("models/stories260K/hf"), out, QuantScheme::kMixed, true);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  auto a = Artifact::Open(out);
  ASSERT_TRUE(a.ok());
  const ModelConfig& c = (*a)->config();
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.num_layers, 5u);
  EXPECT_EQ(c.num_kv_heads, 4u);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.eos_token_ids, std::vector<int32_t>{2});
  ASSERT_TRUE((*a)->has_tokenizer());
  EXPECT_EQ((*a)->tokenizer().vocab.size(), 512u);
  EXPECT_EQ((*a)->tokenizer().bos_id, 1);
  EXPECT_EQ((*a)->tokenizer().eos_id, 2);
  EXPECT_TRUE((*a)->chat_template().source.empty());  // stories260K has none
  EXPECT_EQ((*a)->chat_template().bos_token, "<s>");
  EXPECT_EQ((*a)->chat_template().eos_token, "</s>");
  EXPECT_FALSE((*a)->generation().do_sample);
  EXPECT_EQ((*a)->generation().max_length, 512u);
  EXPECT_EQ((*a)->quantization().group_size, 32u);
  EXPECT_EQ((*a)->tensors().size(), 47u);
  EXPECT_LT(report->output_bytes, report->source_bytes / 4);
}

TEST(Convert, GroupSizesAndOverrides) {
  const std::string dir = SharedPath("models/random/qwen3");
  for (int64_t group : {64, 128}) {
    const std::string out = TempPath("qwen3_g" + std::to_string(group) + ".kite");
    auto report = Convert(dir, out, QuantScheme::kQ4, false, group);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    CheckArtifact(dir, out, report.value(), QuantScheme::kQ4);
    auto a = Artifact::Open(out);
    EXPECT_EQ((*a)->Find("model.layers.1.mlp.down_proj.weight")->group_size, group);
    EXPECT_EQ((*a)->quantization().group_size, static_cast<uint32_t>(group));
  }
  const std::string out = TempPath("qwen3_overrides.kite");
  auto report = Convert(dir, out, QuantScheme::kMixed, false, 32,
                        {"mlp\\.down_proj=q8", "layers\\.0\\.=f32", "no_such_tensor=f16"});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  CheckArtifact(dir, out, report.value(), QuantScheme::kMixed);
  auto a = Artifact::Open(out);
  EXPECT_EQ((*a)->Find("model.layers.1.mlp.down_proj.weight")->dtype, DType::kQ8);
  EXPECT_EQ((*a)->Find("model.layers.0.mlp.down_proj.weight")->dtype, DType::kF32);
  EXPECT_EQ((*a)->Find("model.layers.0.self_attn.q_proj.weight")->dtype, DType::kF32);
  EXPECT_EQ((*a)->Find("model.layers.2.self_attn.q_proj.weight")->dtype, DType::kQ4);
  ASSERT_EQ(report->warnings.size(), 1u);
  EXPECT_NE(report->warnings[0].find("'no_such_tensor=f16' matches no 2-D tensor"), std::string::npos);
}

TEST(Convert, Bf16AndF16CheckpointsAndShards) {
  // A BF16 copy of random/llama: f32 output is the exact widening; an F16 copy converted at f16
  // passes its bytes through untouched.
  const std::vector<testing::StTensor> original = testing::ReadSafetensors(SharedPath("models/random/llama"));
  ASSERT_FALSE(original.empty());
  for (const char* dtype : {"BF16", "F16"}) {
    const std::string dir = testing::CopyModel("models/random/llama", std::string("llama_") + dtype, false);
    std::vector<testing::StTensor> narrowed;
    for (const testing::StTensor& t : original) {
      testing::StTensor n{t.name, dtype, t.shape, {}};
      for (size_t i = 0; i < t.bytes.size(); i += 4) {
        float f;
        std::memcpy(&f, t.bytes.data() + i, 4);
        const uint16_t h = dtype[0] == 'B' ? kernels::FloatToBf16(f) : kernels::FloatToHalf(f);
        n.bytes.push_back(static_cast<uint8_t>(h));
        n.bytes.push_back(static_cast<uint8_t>(h >> 8));
      }
      narrowed.push_back(std::move(n));
    }
    testing::WriteSafetensors(dir + "/model.safetensors", narrowed);
    const QuantScheme scheme = dtype[0] == 'B' ? QuantScheme::kF32 : QuantScheme::kF16;
    const std::string out = TempPath(std::string("llama_from_") + dtype + ".kite");
    auto report = Convert(dir, out, scheme, false);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->total_error.relative_rms(), 0.0);  // relative to the checkpoint's own values
    CheckArtifact(dir, out, report.value(), scheme);
    auto a = Artifact::Open(out);
    const testing::StTensor& src = narrowed[0];
    const TensorView* t = (*a)->Find(src.name);
    if (dtype[0] == 'F' && t->dtype == DType::kF16) {
      EXPECT_EQ(0, std::memcmp(t->data, src.bytes.data(), src.bytes.size()));
    }
  }

  // The same weights in two shards give the same artifact, byte for byte.
  const std::string sharded = testing::CopyModel("models/random/qwen2", "qwen2_sharded", false);
  std::vector<testing::StTensor> first, second;
  const std::vector<testing::StTensor> qwen2 = testing::ReadSafetensors(SharedPath("models/random/qwen2"));
  nlohmann::json map = nlohmann::json::object();
  for (size_t i = 0; i < qwen2.size(); ++i) {
    (i % 2 ? second : first).push_back(qwen2[i]);
    map[qwen2[i].name] = i % 2 ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
  }
  testing::WriteSafetensors(sharded + "/model-00001-of-00002.safetensors", first);
  testing::WriteSafetensors(sharded + "/model-00002-of-00002.safetensors", second);
  testing::WriteText(sharded + "/model.safetensors.index.json", nlohmann::json{{"weight_map", map}}.dump());
  const std::string a_path = TempPath("qwen2_single.kite"), b_path = TempPath("qwen2_sharded.kite");
  ASSERT_TRUE(Convert(SharedPath("models/random/qwen2"), a_path, QuantScheme::kMixed, false).ok());
  auto sharded_report = Convert(sharded, b_path, QuantScheme::kMixed, false);
  ASSERT_TRUE(sharded_report.ok()) << sharded_report.status().ToString();
  auto bytes = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(bytes(a_path), bytes(b_path));
}

TEST(Convert, ChatTemplateAndGenerationConfig) {
  const std::string dir = testing::CopyModel("models/stories260K/hf", "stories_template");
  testing::WriteText(dir + "/tokenizer_config.json", R"({
      "bos_token": {"content": "<s>", "__type": "AddedToken"}, "eos_token": "</s>",
      "chat_template": [{"name": "tool_use", "template": "TOOLS"}, {"name": "default", "template": "DEFAULT"}]})");
  testing::WriteText(dir + "/generation_config.json", R"({"bos_token_id": 1, "eos_token_id": [2, 0],
      "do_sample": true, "temperature": 0.6, "top_p": 0.9, "top_k": 20, "repetition_penalty": 1.05})");
  const std::string out = TempPath("stories_template.kite");
  auto report = Convert(dir, out, QuantScheme::kQ8, true);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->has_chat_template);
  auto a = Artifact::Open(out);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->chat_template().source, "DEFAULT");
  EXPECT_EQ((*a)->chat_template().bos_token, "<s>");
  EXPECT_EQ((*a)->chat_template().eos_token, "</s>");
  EXPECT_EQ((*a)->config().eos_token_ids, (std::vector<int32_t>{2, 0}));
  EXPECT_TRUE((*a)->generation().do_sample);
  EXPECT_FLOAT_EQ((*a)->generation().temperature, 0.6f);
  EXPECT_FLOAT_EQ((*a)->generation().top_p, 0.9f);
  EXPECT_EQ((*a)->generation().top_k, 20);
  EXPECT_FLOAT_EQ((*a)->generation().repetition_penalty, 1.05f);

  // chat_template.jinja takes precedence; a list without "default" gives a warning.
  testing::WriteText(dir + "/chat_template.jinja", "{{ messages[0].content }}");
  ASSERT_TRUE(Convert(dir, out, QuantScheme::kQ8, true).ok());
  EXPECT_EQ((*Artifact::Open(out))->chat_template().source, "{{ messages[0].content }}");
  std::filesystem::remove(dir + "/chat_template.jinja");
  testing::WriteText(dir + "/tokenizer_config.json", R"({"chat_template": [{"name": "rag", "template": "R"}]})");
  auto warned = Convert(dir, out, QuantScheme::kQ8, true);
  ASSERT_TRUE(warned.ok()) << warned.status().ToString();
  ASSERT_EQ(warned->warnings.size(), 1u);
  EXPECT_NE(warned->warnings[0].find("no \"default\" entry (only rag)"), std::string::npos);
  EXPECT_FALSE(warned->has_chat_template);
  // special_tokens_map.json fills the strings tokenizer_config.json lacks.
  EXPECT_EQ((*Artifact::Open(out))->chat_template().bos_token, "<s>");

  testing::WriteText(dir + "/generation_config.json", R"({"eos_token_id": 999})");
  auto bad = Convert(dir, out, QuantScheme::kQ8, true);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("generation_config.json: field 'eos_token_id' must be a token id below "
                                        "vocab_size 512"),
            std::string::npos)
      << bad.status().message();
}

// Every failure: a message that says what and where, and nothing on disk.
void ExpectFails(const std::string& dir, bool tokenizer, const std::string& expected, StatusCode code) {
  const std::string out = TempPath("must_not_exist.kite");
  auto report = Convert(dir, out, QuantScheme::kMixed, tokenizer);
  ASSERT_FALSE(report.ok()) << dir;
  EXPECT_EQ(report.status().code(), code) << report.status().ToString();
  EXPECT_NE(report.status().message().find(expected), std::string::npos) << report.status().message();
  EXPECT_FALSE(testing::PathExists(out));
  EXPECT_FALSE(testing::PathExists(ArtifactTempPath(out)));
}

TEST(Convert, UnsupportedAndMissingInputs) {
  const std::string mamba = testing::CopyModel("models/random/llama", "mamba_config");
  testing::WriteText(mamba + "/config.json", R"({"architectures": ["MambaForCausalLM"]})");
  ExpectFails(mamba, false,
              "config.json: architectures[0] 'MambaForCausalLM' is not supported (supported: LlamaForCausalLM, "
              "Qwen2ForCausalLM, Qwen3ForCausalLM, Qwen3MoeForCausalLM",
              StatusCode::kUnsupported);
  // GPT-2 with a c_attn of the wrong width: the fused source tensor is named with both shapes.
  const std::string gpt2 = testing::CopyModel("models/random/gpt2", "gpt2_bad_width", false);
  std::vector<testing::StTensor> tensors = testing::ReadSafetensors(SharedPath("models/random/gpt2"));
  for (testing::StTensor& t : tensors) {
    if (t.name == "transformer.h.2.attn.c_attn.weight") {
      t.shape = {64, 96};
      t.bytes.resize(64 * 96 * 4);
    }
  }
  testing::WriteSafetensors(gpt2 + "/model.safetensors", tensors);
  ExpectFails(gpt2, false, "tensor 'transformer.h.2.attn.c_attn.weight' has shape [64, 96] but the config implies [64, 192]",
              StatusCode::kInvalidArgument);
  ExpectFails(TempPath("nowhere"), false, "config.json: not found", StatusCode::kNotFound);
  ExpectFails(SharedPath("models/random/llama"), true, "pass --no-tokenizer", StatusCode::kNotFound);
  const std::string no_weights = testing::CopyModel("models/random/llama", "llama_no_weights", false);
  ExpectFails(no_weights, false, "no model.safetensors", StatusCode::kNotFound);
}

TEST(Convert, RefusesToOverwriteItsInput) {
  const std::string dir = testing::CopyModel("models/random/llama", "llama_overwrite");
  const std::string input = dir + "/model.safetensors";
  const uintmax_t before = std::filesystem::file_size(input);
  auto report = Convert(dir, input, QuantScheme::kQ8, false);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("is a file of the checkpoint being converted"), std::string::npos);
  EXPECT_EQ(std::filesystem::file_size(input), before);
}

TEST(Convert, CheckpointThatDoesNotMatchItsConfig) {
  const std::vector<testing::StTensor> original = testing::ReadSafetensors(SharedPath("models/random/llama"));
  const std::string dir = testing::CopyModel("models/random/llama", "llama_edited", false);
  auto write_with = [&](auto edit) {
    std::vector<testing::StTensor> tensors = original;
    edit(&tensors);
    testing::WriteSafetensors(dir + "/model.safetensors", tensors);
  };
  auto find = [](std::vector<testing::StTensor>* ts, const std::string& name) -> testing::StTensor& {
    for (auto& t : *ts) {
      if (t.name == name) return t;
    }
    return ts->front();
  };
  write_with([&](std::vector<testing::StTensor>* ts) {
    ts->erase(std::remove_if(ts->begin(), ts->end(),
                             [](const testing::StTensor& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; }),
              ts->end());
  });
  ExpectFails(dir, false, "missing tensor 'model.layers.1.mlp.up_proj.weight' [160, 64]", StatusCode::kInvalidArgument);
  write_with([&](std::vector<testing::StTensor>* ts) {
    testing::StTensor& t = find(ts, "model.norm.weight");
    t.shape = {32, 2};
  });
  ExpectFails(dir, false, "tensor 'model.norm.weight' has shape [32, 2] but the config implies [64]",
              StatusCode::kInvalidArgument);
  write_with([&](std::vector<testing::StTensor>* ts) {
    ts->push_back({"model.layers.0.self_attn.q_proj.bias", "F32", {64}, std::vector<uint8_t>(256, 0)});
  });
  ExpectFails(dir, false, "unexpected tensor 'model.layers.0.self_attn.q_proj.bias' [64]",
              StatusCode::kInvalidArgument);
  write_with([&](std::vector<testing::StTensor>* ts) {
    testing::StTensor& t = find(ts, "model.layers.2.self_attn.k_proj.weight");
    const float nan = std::nanf("");
    std::memcpy(t.bytes.data() + 4 * 37, &nan, 4);
  });
  ExpectFails(dir, false, "tensor 'model.layers.2.self_attn.k_proj.weight' element 37 (row 0, column 37) is NaN",
              StatusCode::kInvalidArgument);
  write_with([&](std::vector<testing::StTensor>* ts) {
    testing::StTensor& t = find(ts, "model.layers.0.mlp.gate_proj.weight");
    t.dtype = "I32";
  });
  ExpectFails(dir, false, "has dtype I32 (supported: F32, F16, BF16)", StatusCode::kInvalidArgument);

  // Harmless extras are warnings: rotary buffers, and lm_head in a tied model.
  write_with([&](std::vector<testing::StTensor>* ts) {
    ts->push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", "F32", {8}, std::vector<uint8_t>(32, 0)});
  });
  auto report = Convert(dir, TempPath("llama_inv_freq.kite"), QuantScheme::kQ8, false);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->warnings.size(), 1u);
  EXPECT_NE(report->warnings[0].find("ignoring 'model.layers.0.self_attn.rotary_emb.inv_freq'"), std::string::npos);

  const std::vector<testing::StTensor> tied = testing::ReadSafetensors(SharedPath("models/random/qwen2"));
  const std::string tied_dir = testing::CopyModel("models/random/qwen2", "qwen2_with_head", false);
  std::vector<testing::StTensor> with_head = tied;
  testing::StTensor head_copy = find(&with_head, "model.embed_tokens.weight");
  head_copy.name = "lm_head.weight";
  with_head.push_back(head_copy);
  testing::WriteSafetensors(tied_dir + "/model.safetensors", with_head);
  auto head = Convert(tied_dir, TempPath("qwen2_head.kite"), QuantScheme::kQ8, false);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  ASSERT_EQ(head->warnings.size(), 1u);
  EXPECT_NE(head->warnings[0].find("ignoring 'lm_head.weight'"), std::string::npos);
  EXPECT_EQ((*Artifact::Open(TempPath("qwen2_head.kite")))->Find("lm_head.weight"), nullptr);
}

TEST(Convert, F16RangeAndAnExistingOutputSurvivesAFailure) {
  const std::vector<testing::StTensor> original = testing::ReadSafetensors(SharedPath("models/random/qwen3"));
  const std::string dir = testing::CopyModel("models/random/qwen3", "qwen3_big_value", false);
  std::vector<testing::StTensor> tensors = original;
  for (auto& t : tensors) {
    if (t.name == "model.layers.3.mlp.up_proj.weight") {
      const float big = 1e6f;
      std::memcpy(t.bytes.data(), &big, 4);
    }
  }
  testing::WriteSafetensors(dir + "/model.safetensors", tensors);
  const std::string out = TempPath("qwen3_existing.kite");
  ASSERT_TRUE(Convert(dir, out, QuantScheme::kQ8, false).ok());  // q8 copes with any finite value
  std::ifstream before_in(out, std::ios::binary);
  const std::vector<char> before((std::istreambuf_iterator<char>(before_in)), std::istreambuf_iterator<char>());
  auto f16 = Convert(dir, out, QuantScheme::kF16, false);
  ASSERT_FALSE(f16.ok());
  EXPECT_NE(f16.status().message().find("beyond f16's range (65504)"), std::string::npos) << f16.status().message();
  std::ifstream after_in(out, std::ios::binary);
  const std::vector<char> after((std::istreambuf_iterator<char>(after_in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(before, after);
  EXPECT_FALSE(testing::PathExists(ArtifactTempPath(out)));
  // The suggested override fixes it.
  auto fixed = Convert(dir, out, QuantScheme::kF16, false, 32, {"model.layers.3.mlp.up_proj.weight=f32"});
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
}

TEST(Convert, ProgressEvents) {
  ConvertOptions o;
  o.input_dir = SharedPath("models/random/llama_tied_linear");
  o.output_path = TempPath("progress.kite");
  o.include_tokenizer = false;
  size_t done_events = 0;
  uint64_t last_bytes = 0, total = 0;
  auto report = ConvertCheckpoint(o, [&](const ConvertEvent& e) {
    if (e.kind == ConvertEvent::Kind::kWarning) return;
    EXPECT_GE(e.bytes_done, last_bytes);
    last_bytes = e.bytes_done;
    total = e.bytes_total;
    ASSERT_NE(e.tensor, nullptr);
    if (e.kind == ConvertEvent::Kind::kTensorDone) {
      EXPECT_EQ(e.tensor_index, done_events);
      ++done_events;
    }
  });
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(done_events, report->tensors.size());
  EXPECT_EQ(last_bytes, total);
  EXPECT_EQ(total, (*Artifact::Open(o.output_path))->weight_bytes());
}

}  // namespace
}  // namespace kite
