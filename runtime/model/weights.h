// The model's weights as views into the mapped artifact, grouped the way the
// forward pass uses them, plus the checks that bind tensor names and shapes
// to the architecture before a single multiply runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/artifact/artifact.h"
#include "runtime/core/status.h"
#include "runtime/model/model_config.h"

namespace kite {

class XnnpackMatrix;  // runtime/backend/xnnpack/xnnpack_matmul.h

// A weight matrix [rows = out, cols = in] in any stored dtype.
struct Matrix {
  DType dtype = DType::kF32;
  const void* data = nullptr;
  const void* scales = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t group_size = 0;
  uint64_t bytes = 0;  // data + scales, as read by one full product
  // f32/f16 only: the same matrix packed by XNNPACK for prefill (owned by the Engine, output row
  // stride = rows), or null. MatMul takes it when the shape rule says so.
  const XnnpackMatrix* xnnpack = nullptr;
  // Q4 only: rearranged into transposed groups (quant_formats.h) for the kernel set's
  // gemm_q4_transposed (Engine::RearrangeWeightsForKernels).
  bool q4_transposed = false;
  bool present() const { return data != nullptr; }
};

// Rows [first_row, first_row + rows) of a weight matrix, any dtype, as a Matrix of its own
// (MLA's per-head blocks of kv_b_proj). first_row + rows must not exceed m.rows.
Matrix RowSlice(const Matrix& m, int64_t first_row, int64_t rows);

// A SwiGLU/GeGLU MLP: down(act(gate x) * up x). Also one expert of a mixture.
struct MlpWeights {
  Matrix gate, up, down;             // [inter, hidden] x2, [hidden, inter]
  uint64_t bytes() const { return gate.bytes + up.bytes + down.bytes; }
};

// A sparse (mixture-of-experts) MLP layer.
struct MoeWeights {
  Matrix router;                       // [num_experts, hidden]
  const float* score_bias = nullptr;   // [num_experts] DeepSeek-V3 e_score_correction_bias (selection only)
  std::vector<MlpWeights> experts;     // [num_experts], each moe_intermediate_size wide
  MlpWeights shared;                   // shared experts (one MLP); absent when !shared.gate.present()
  Matrix shared_gate;                  // [1, hidden] Qwen2-MoE: shared output x sigmoid(shared_gate . x); or absent
  uint64_t experts_bytes = 0;          // all routed experts together
};

struct LayerWeights {
  const float* attn_norm = nullptr;  // [hidden]
  const float* ffn_norm = nullptr;   // [hidden]
  Matrix wq, wk, wv, wo;             // [heads*hd, hidden], [kv*hd, hidden] x2, [hidden, heads*hd]
  const float* bq = nullptr;         // optional biases
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* bo = nullptr;
  const float* q_norm = nullptr;     // [head_dim], Qwen3
  const float* k_norm = nullptr;
  Matrix gate, up, down;             // [inter, hidden] x2, [hidden, inter]
  const float* b_gate = nullptr;     // optional MLP biases
  const float* b_up = nullptr;
  const float* b_down = nullptr;
  bool sparse = false;               // the MLP is `moe`, not gate/up/down
  MoeWeights moe;
};

struct ModelWeights {
  Matrix embed;      // [vocab, hidden]
  Matrix lm_head;    // [vocab, hidden]; the embedding when tied
  const float* final_norm = nullptr;
  std::vector<LayerWeights> layers;
  // Bytes read from weights for one decoded token: every matrix once, one embedding row.
  uint64_t weight_bytes_per_token = 0;
};

// Looks tensors up by name and checks them against the shapes the config implies. Every
// error names the artifact, the tensor and both shapes. Shared by every family's binder.
class WeightBinder {
 public:
  explicit WeightBinder(const Artifact& a) : artifact_(a) {}
  // A 2-D weight [rows = out, cols = in], any weight dtype.
  Result<Matrix> MatrixNamed(const std::string& name, int64_t rows, int64_t cols) const;
  // A 1-D f32 tensor [length]; nullptr when absent and !required.
  Result<const float*> VectorNamed(const std::string& name, int64_t length, bool required = true) const;
  const Artifact& artifact() const { return artifact_; }

 private:
  const Artifact& artifact_;
};

// Every layer has tensors of its own: a header claiming more layers than the file has tensors is
// corrupt, and is refused before any per-layer memory is sized from it.
Status CheckLayerCount(const Artifact& artifact);

// Binds `prefix`{gate,up,down}_proj.weight of an MLP `inter` wide.
Result<MlpWeights> BindMlp(const WeightBinder& b, const std::string& prefix, int64_t hidden, int64_t inter);
// Binds a sparse MLP at `prefix` ("model.layers.3.mlp."): gate.weight (router),
// experts.{e}.{gate,up,down}_proj.weight, and the shared expert when the config has one:
// DeepSeek's shared_experts.*, or Qwen2-MoE's shared_expert.* with shared_expert_gate.weight.
Result<MoeWeights> BindMoe(const WeightBinder& b, const ModelConfig& config, const std::string& prefix);
// Bytes one token reads from a sparse layer: router, k routed experts (the average expert), shared
// experts and their gate.
uint64_t MoeBytesPerToken(const ModelConfig& config, const MoeWeights& moe);

// Finds every tensor the architecture needs, checks its shape against the config,
// and returns views. Errors name the tensor and both shapes.
Result<ModelWeights> BindLlamaFamilyWeights(const Artifact& artifact);

// The architectures BindLlamaFamilyWeights and LlamaModel run: Llama, Mistral, Qwen2, Qwen3,
// and the sparse Qwen3-MoE, Qwen2-MoE and Mixtral (same attention; converter maps Mixtral's names).
bool IsLlamaFamily(const std::string& architecture);

}  // namespace kite
