// Every family's Model::KernelLayoutMatrices, end to end: a model whose listed Q4 matrices were
// rearranged into transposed groups (RearrangeQ4ForKernels, the Engine's own code path) must give
// the same logits, bit for bit, as the same model on the stored bytes, both on the reference kernels
// with a gemm_q4_transposed that undoes the rearrangement (transposed_reference_kernels.h). A listed
// matrix that the forward pass reads any other way than through MatMul / DequantizeRow is read
// scrambled, and the logits differ.
//
// The transposition moves bytes only in rows of 4 blocks or more (K >= 128, quant_formats.h), and
// most matrices of the shared random checkpoints are 64 wide: there it leaves them as they are. So
// each checkpoint also runs widened: the same config with every width x4 and weights resampled from
// the stored ones, where every listed matrix (embeddings, experts, kv_b, ...) really moves.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/quant_formats.h"
#include "runtime/artifact/artifact.h"
#include "runtime/core/file.h"
#include "runtime/core/thread_pool.h"
#include "runtime/model/kernel_layout.h"
#include "runtime/model/model.h"
#include "runtime/model/weights.h"
#include "tests/unit/converter/converter_test_util.h"
#include "tests/unit/model/model_test_util.h"
#include "tests/unit/model/transposed_reference_kernels.h"

namespace kite {
namespace testing {
namespace {

constexpr int64_t kWiden = 4;  // 64-wide matrices become 256 wide: 8 blocks, 2 transposed groups

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Tensors whose first dimension counts tokens, positions or experts (kept), not a width (x kWiden).
bool FirstDimIsCount(const std::string& name) {
  for (const char* suffix : {"embed_tokens.weight", "lm_head.weight", "wte.weight", "wpe.weight", ".mlp.gate.weight",
                             ".e_score_correction_bias", "shared_expert_gate.weight"}) {
    if (EndsWith(name, suffix)) return true;
  }
  return false;
}

// models/random/<name> with every width in its config x kWiden (layers, heads, experts, vocabulary and
// positions stay) and each tensor's values drawn from its stored values; "" on failure (reported).
std::string WidenedCheckpoint(const std::string& name) {
  const std::string shared = "models/random/" + name;
  const std::string dir = CopyModel(shared, "widened_" + name, /*with_weights=*/false);
  std::ifstream config_in(dir + "/config.json");
  nlohmann::json config = nlohmann::json::parse(config_in, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) {
    ADD_FAILURE() << shared << ": config.json does not parse";
    return "";
  }
  for (const char* width : {"hidden_size", "n_embd", "intermediate_size", "n_inner", "moe_intermediate_size",
                            "shared_expert_intermediate_size", "head_dim", "q_lora_rank", "kv_lora_rank",
                            "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"}) {
    if (config.contains(width) && config[width].is_number_integer()) {
      config[width] = config[width].get<int64_t>() * kWiden;
    }
  }
  WriteText(dir + "/config.json", config.dump(2));
  std::vector<StTensor> tensors = ReadSafetensors(SharedPath(shared));
  if (tensors.empty()) {
    ADD_FAILURE() << shared << ": no tensors read";
    return "";
  }
  std::mt19937 rng(7);
  for (StTensor& t : tensors) {
    if (t.dtype != "F32") {
      ADD_FAILURE() << shared << ": " << t.name << " is " << t.dtype << ", the widening resamples F32 only";
      return "";
    }
    const std::vector<float> stored(reinterpret_cast<const float*>(t.bytes.data()),
                                    reinterpret_cast<const float*>(t.bytes.data() + t.bytes.size()));
    int64_t count = 1;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (d > 0 || !FirstDimIsCount(t.name)) t.shape[d] *= kWiden;
      count *= t.shape[d];
    }
    std::uniform_int_distribution<size_t> pick(0, stored.size() - 1);
    std::vector<float> values(count);
    for (float& v : values) v = stored[pick(rng)];
    t.bytes.assign(reinterpret_cast<const uint8_t*>(values.data()),
                   reinterpret_cast<const uint8_t*>(values.data() + values.size()));
  }
  WriteSafetensors(dir + "/model.safetensors", tensors);
  return dir;
}

// Converts `dir` to Q4, routers included (they stay f32 by default, and they too are listed); "" on failure.
std::string ConvertQ4(const std::string& dir, const std::string& name, int64_t group_size) {
  ConvertOptions options;
  options.input_dir = dir;
  options.scheme = QuantScheme::kQ4;
  options.group_size = group_size;
  options.overrides = {"\\.mlp\\.gate\\.weight$=q4", "shared_expert_gate\\.weight$=q4"};
  return ConvertToTemp(options, name);
}

// A model bound to its own writable copy of the artifact's bytes (as the wasm heap holds them).
struct ModelInMemory {
  std::vector<uint8_t> bytes;
  std::unique_ptr<Artifact> artifact;
  std::unique_ptr<Model> model;
};

std::unique_ptr<ModelInMemory> LoadInMemory(const std::string& path, const kernels::GemmKernels& kernels) {
  auto loaded = std::make_unique<ModelInMemory>();
  std::ifstream in(path, std::ios::binary);
  loaded->bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  auto artifact = Artifact::FromView(ViewOfExternal(loaded->bytes.data(), loaded->bytes.size(), path));
  EXPECT_TRUE(artifact.ok()) << artifact.status().ToString();
  if (!artifact.ok()) return nullptr;
  loaded->artifact = std::move(artifact).value();
  auto model = CreateModel(*loaded->artifact, kernels);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return nullptr;
  loaded->model = std::move(model).value();
  return loaded;
}

// Logits of a 6-token prefill (every row), then of 2 single-token decode steps, one after the other.
std::vector<float> PrefillAndDecode(const Model& model) {
  const std::vector<int32_t> prompt = {1, 7, 42, 99, 5, 230};
  const std::vector<int32_t> decoded = {77, 150};  // every vocabulary here has at least 288 tokens
  const int64_t vocab = model.config().vocab_size;
  ThreadPool pool(2);
  auto state = model.NewState(/*context_tokens=*/16, /*max_batch=*/8, /*n_threads=*/2);
  EXPECT_TRUE(state.ok()) << state.status().ToString();
  if (!state.ok()) return {};
  std::vector<float> logits = RunAll(model, *state.value(), pool, prompt, static_cast<int64_t>(prompt.size()));
  int64_t pos = static_cast<int64_t>(prompt.size());
  logits.resize((prompt.size() + decoded.size()) * vocab);
  for (int32_t token : decoded) {
    const Status s = model.Forward(*state.value(), pool, &token, 1, pos, logits.data() + pos * vocab,
                                   /*all_rows=*/false);
    EXPECT_TRUE(s.ok()) << s.ToString();
    ++pos;
  }
  return logits;
}

struct LayoutCase {
  std::string checkpoint;  // folder under models/random
  bool widened = false;
};

std::string Label(const LayoutCase& c) { return c.checkpoint + (c.widened ? "_widened" : ""); }
void PrintTo(const LayoutCase& c, std::ostream* os) { *os << Label(c); }  // gtest: not as bytes
std::string CaseName(const ::testing::TestParamInfo<LayoutCase>& info) { return Label(info.param); }

const char* const kCheckpoints[] = {"llama",  "llama_tied_linear", "qwen2", "qwen3",       "qwen3_moe",
                                    "gemma3", "gemma3_softcap",    "gpt2",  "deepseek_v2", "deepseek_v2_lite_yarn"};

class KernelLayout : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(KernelLayout, RearrangedWeightsGiveTheSameLogits) {
  const LayoutCase& c = GetParam();
  const std::string name = "kernel_layout_" + Label(c);
  const std::string dir = c.widened ? WidenedCheckpoint(c.checkpoint) : SharedPath("models/random/" + c.checkpoint);
  ASSERT_FALSE(dir.empty());
  // Widened: groups of 128, so rows are padded past K (q_b: K = 192) as in real q4 models.
  const std::string artifact = ConvertQ4(dir, name, c.widened ? 128 : 32);
  ASSERT_FALSE(artifact.empty());
  const kernels::GemmKernels kernels = ReferenceKernelsWithTransposedQ4();
  std::unique_ptr<ModelInMemory> stored = LoadInMemory(artifact, kernels);
  std::unique_ptr<ModelInMemory> rearranged = LoadInMemory(artifact, kernels);
  ASSERT_NE(stored, nullptr);
  ASSERT_NE(rearranged, nullptr);

  const int tensors = RearrangeQ4ForKernels(*rearranged->model);
  EXPECT_GT(tensors, 0) << "the family lists no Q4 matrix in KernelLayoutMatrices";
  EXPECT_EQ(RearrangeQ4ForKernels(*rearranged->model), 0) << "a second pass finds every matrix marked";

  // Both models list the same matrices in the same order: compare each one's bytes before and after.
  const std::vector<Matrix*> before = stored->model->KernelLayoutMatrices();
  const std::vector<Matrix*> after = rearranged->model->KernelLayoutMatrices();
  ASSERT_EQ(before.size(), after.size());
  std::set<const void*> distinct;
  int not_q4 = 0, moved = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    const Matrix& m = *after[i];
    if (!m.present()) continue;
    if (m.dtype != DType::kQ4) {
      ++not_q4;
      continue;
    }
    EXPECT_TRUE(m.q4_transposed) << "matrix " << i << " of KernelLayoutMatrices";
    if (!distinct.insert(m.data).second) continue;  // tied: counted under its first name
    const size_t bytes = static_cast<size_t>(m.rows * Q4RowBytes(m.cols, m.group_size));
    if (std::memcmp(before[i]->data, m.data, bytes) != 0) ++moved;
  }
  RecordProperty("rearranged_tensors", tensors);
  RecordProperty("tensors_whose_bytes_moved", moved);
  EXPECT_EQ(not_q4, 0) << "every 2-D weight was converted to q4, so every listed matrix should be q4";
  EXPECT_EQ(static_cast<int>(distinct.size()), tensors);
  if (c.widened) {
    EXPECT_EQ(moved, tensors) << "every listed matrix is at least 128 wide, so its bytes move";
  } else {
    EXPECT_GT(moved, 0) << "no listed matrix is 128 wide: the comparison below would test nothing";
  }

  const std::vector<float> expected = PrefillAndDecode(*stored->model);
  const std::vector<float> actual = PrefillAndDecode(*rearranged->model);
  ASSERT_FALSE(expected.empty());
  for (float v : expected) ASSERT_TRUE(std::isfinite(v)) << "the stored model's logits are not finite";
  // Exact: the transposed kernel here is the reference kernel on the restored bytes.
  EXPECT_TRUE(actual == expected) << tensors << " tensors rearranged (" << moved << " moved bytes); max |diff| "
                                  << MaxAbsDiff(actual, expected);
}

std::vector<LayoutCase> AllCases() {
  std::vector<LayoutCase> cases;
  for (const char* checkpoint : kCheckpoints) {
    cases.push_back({checkpoint, false});
    cases.push_back({checkpoint, true});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(EveryRandomCheckpoint, KernelLayout, ::testing::ValuesIn(AllCases()), CaseName);

// gemm_q4_transposed takes row pairs and finite scales only: a matrix with an Inf or NaN group scale,
// or an odd row count (here a matrix's view one row short), stays in the stored layout, unmarked,
// and the others are rearranged as before.
TEST(KernelLayoutLimits, AMatrixTheKernelCannotTakeStaysStored) {
  const std::string artifact = ConvertQ4(SharedPath("models/random/llama"), "kernel_layout_special_scale", 32);
  ASSERT_FALSE(artifact.empty());
  const kernels::GemmKernels kernels = ReferenceKernelsWithTransposedQ4();
  // +Inf, a negative NaN, and 0 for a finite scale with the odd row count.
  for (uint16_t special : {uint16_t{0x7c00}, uint16_t{0xfe00}, uint16_t{0}}) {
    std::unique_ptr<ModelInMemory> all = LoadInMemory(artifact, kernels);
    std::unique_ptr<ModelInMemory> one_special = LoadInMemory(artifact, kernels);
    ASSERT_NE(all, nullptr);
    ASSERT_NE(one_special, nullptr);
    const int tensors = RearrangeQ4ForKernels(*all->model);
    // The last listed matrix that shares its bytes with no other gets the special scale in its last row
    // (or loses that row).
    const std::vector<Matrix*> listed = one_special->model->KernelLayoutMatrices();
    const Matrix* target = nullptr;
    for (const Matrix* m : listed) {
      if (!m->present() || m->dtype != DType::kQ4) continue;
      int sharing = 0;
      for (const Matrix* other : listed) sharing += other->data == m->data;
      if (sharing == 1) target = m;
    }
    ASSERT_NE(target, nullptr);
    if (special == 0) {
      ASSERT_EQ(target->rows % 2, 0);
      const_cast<Matrix*>(target)->rows -= 1;
    } else {
      const int64_t groups = Q4GroupsPerRow(target->cols, target->group_size);
      const_cast<uint16_t*>(static_cast<const uint16_t*>(target->scales))[target->rows * groups - 1] = special;
    }
    const size_t bytes = static_cast<size_t>(target->rows * Q4RowBytes(target->cols, target->group_size));
    const std::vector<uint8_t> before(static_cast<const uint8_t*>(target->data),
                                      static_cast<const uint8_t*>(target->data) + bytes);

    EXPECT_EQ(RearrangeQ4ForKernels(*one_special->model), tensors - 1) << "scale 0x" << std::hex << special;
    EXPECT_FALSE(target->q4_transposed);
    EXPECT_EQ(std::memcmp(before.data(), target->data, bytes), 0) << "the matrix's bytes moved";
    int marked = 0, present = 0;
    for (const Matrix* m : listed) {
      present += m->present();
      marked += m->present() && m->q4_transposed;
    }
    EXPECT_EQ(marked, present - 1);
  }
}

// A checkpoint added to models/random is a family (or variant) this test must cover too.
TEST(KernelLayoutCoverage, EveryRandomCheckpointIsACase) {
  std::set<std::string> folders, listed(std::begin(kCheckpoints), std::end(kCheckpoints));
  for (const auto& entry : std::filesystem::directory_iterator(SharedPath("models/random"))) {
    if (entry.is_directory() && std::filesystem::exists(entry.path() / "config.json")) {
      folders.insert(entry.path().filename().string());
    }
  }
  EXPECT_EQ(folders, listed);
}

}  // namespace
}  // namespace testing
}  // namespace kite
