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

// A weight matrix [rows = out, cols = in] in any stored dtype.
struct Matrix {
  DType dtype = DType::kF32;
  const void* data = nullptr;
  const void* scales = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t group_size = 0;
  uint64_t bytes = 0;  // data + scales, as read by one full product
  bool present() const { return data != nullptr; }
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
};

struct ModelWeights {
  Matrix embed;      // [vocab, hidden]
  Matrix lm_head;    // [vocab, hidden]; the embedding when tied
  const float* final_norm = nullptr;
  std::vector<LayerWeights> layers;
  // Bytes read from weights for one decoded token: every matrix once, one embedding row.
  uint64_t weight_bytes_per_token = 0;
};

// Finds every tensor the architecture needs, checks its shape against the config,
// and returns views. Errors name the tensor and both shapes.
Result<ModelWeights> BindLlamaFamilyWeights(const Artifact& artifact);

// Llama, Qwen2 and Qwen3: the architectures BindLlamaFamilyWeights and LlamaModel run.
bool IsLlamaFamily(const std::string& architecture);

}  // namespace kite
