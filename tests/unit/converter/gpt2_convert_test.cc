// GPT-2's checkpoint layout through the converter: Conv1D weights [in, out]
// become Kite's [out, in], the fused c_attn [D, 3D] splits into q/k/v (weight
// columns and bias elements), names lose their "transformer." prefix, and
// GPT-2's mask buffers are ignored with a warning. Checked element by element
// against the safetensors file, for both the prefixed (random/gpt2) and the
// bare (a renamed copy) layout.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "converter/convert.h"
#include "runtime/artifact/artifact.h"
#include "tests/unit/converter/converter_test_util.h"

namespace kite {
namespace {

using testing::SharedPath;
using testing::StTensor;
using testing::TempPath;

float At(const StTensor& t, int64_t i) {
  float v;
  std::memcpy(&v, t.bytes.data() + 4 * i, 4);
  return v;
}

const StTensor* FindSource(const std::vector<StTensor>& tensors, const std::string& name) {
  for (const StTensor& t : tensors) {
    if (t.name == name || t.name == "transformer." + name) return &t;
  }
  return nullptr;
}

void ExpectGpt2Layout(const std::string& dir, const std::string& name) {
  ConvertOptions options;
  options.input_dir = dir;
  options.output_path = TempPath(name + ".kite");
  options.scheme = QuantScheme::kF32;
  options.include_tokenizer = false;
  auto report = ConvertCheckpoint(options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  auto artifact = Artifact::Open(options.output_path);
  ASSERT_TRUE(artifact.ok()) << artifact.status().ToString();
  const std::vector<StTensor> source = testing::ReadSafetensors(dir);
  const int64_t D = 64, F = 256;
  for (int layer : {0, 3}) {
    const std::string p = "h." + std::to_string(layer) + ".";
    const StTensor* c_attn = FindSource(source, p + "attn.c_attn.weight");
    const StTensor* c_attn_b = FindSource(source, p + "attn.c_attn.bias");
    ASSERT_NE(c_attn, nullptr);
    ASSERT_NE(c_attn_b, nullptr);
    const char* parts[] = {"q_proj", "k_proj", "v_proj"};
    for (int part = 0; part < 3; ++part) {
      const TensorView* w = (*artifact)->Find(p + "attn." + parts[part] + ".weight");
      const TensorView* b = (*artifact)->Find(p + "attn." + parts[part] + ".bias");
      ASSERT_NE(w, nullptr);
      ASSERT_NE(b, nullptr);
      ASSERT_EQ(w->shape, (std::vector<int64_t>{D, D}));
      const float* wd = reinterpret_cast<const float*>(w->data);
      const float* bd = reinterpret_cast<const float*>(b->data);
      for (int64_t r = 0; r < D; ++r) {
        for (int64_t c = 0; c < D; ++c) {
          // artifact [out r][in c] = Conv1D [in c][out part*D + r]
          ASSERT_EQ(wd[r * D + c], At(*c_attn, c * 3 * D + part * D + r)) << parts[part] << " " << r << "," << c;
        }
        ASSERT_EQ(bd[r], At(*c_attn_b, part * D + r));
      }
    }
    const StTensor* fc = FindSource(source, p + "mlp.c_fc.weight");  // [D, F]
    const TensorView* fc_out = (*artifact)->Find(p + "mlp.c_fc.weight");
    ASSERT_NE(fc, nullptr);
    ASSERT_NE(fc_out, nullptr);
    ASSERT_EQ(fc_out->shape, (std::vector<int64_t>{F, D}));
    const float* fd = reinterpret_cast<const float*>(fc_out->data);
    for (int64_t r = 0; r < F; r += 7) {
      for (int64_t c = 0; c < D; ++c) ASSERT_EQ(fd[r * D + c], At(*fc, c * F + r));
    }
  }
  EXPECT_EQ((*artifact)->Find("transformer.wte.weight"), nullptr);
  EXPECT_NE((*artifact)->Find("wte.weight"), nullptr);
  // Fused sources are counted once in the report, however many tensors they feed.
  EXPECT_EQ(report->source_bytes, 898560u);
}

TEST(Gpt2Convert, PrefixedNamesTransposedAndSplit) {
  ExpectGpt2Layout(SharedPath("models/random/gpt2"), "gpt2_prefixed");
}

TEST(Gpt2Convert, BareNamesAndMaskBuffers) {
  // GPT2Model-style names ("h.0...") plus the attn.bias mask buffer older checkpoints carry.
  const std::string dir = TempPath("gpt2_bare");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(SharedPath("models/random/gpt2/config.json"), dir + "/config.json");
  std::vector<StTensor> tensors = testing::ReadSafetensors(SharedPath("models/random/gpt2"));
  for (StTensor& t : tensors) {
    if (t.name.rfind("transformer.", 0) == 0) t.name = t.name.substr(12);
  }
  StTensor mask{"h.0.attn.bias", "F32", {1, 1, 4, 4}, std::vector<uint8_t>(64, 0)};
  tensors.push_back(mask);
  testing::WriteSafetensors(dir + "/model.safetensors", tensors);
  ExpectGpt2Layout(dir, "gpt2_bare");
}

}  // namespace
}  // namespace kite
