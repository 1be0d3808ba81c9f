// Model: the interface every architecture family implements (llama_model.cc
// for Llama/Mistral/Qwen2/Qwen3 and their MoE variants, gemma3_model.cc,
// gpt2_model.cc, deepseek_model.cc). A Model is read-only after creation and
// shared by sessions; all mutable state (KV cache, scratch) lives in the
// ForwardState a session owns.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "runtime/artifact/artifact.h"
#include "runtime/core/status.h"
#include "runtime/core/thread_pool.h"
#include "runtime/model/model_config.h"

namespace kite {

struct Matrix;  // weights.h

// Per-session working memory of a model; each family defines what it holds.
class ForwardState {
 public:
  virtual ~ForwardState() = default;
  virtual int64_t capacity_tokens() const = 0;
  virtual uint64_t kv_cache_bytes() const = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const kernels::GemmKernels& kernels() const = 0;
  // Bytes of weights one decoded token reads (every matrix once, one embedding row).
  virtual uint64_t weight_bytes_per_token() const = 0;
  // Bytes the KV cache holds per token of context (layers whose cache grows with the context).
  virtual uint64_t kv_bytes_per_token() const = 0;
  // Bytes of the bounded caches of sliding-window layers (ring buffers of window + max_batch - 1
  // rows), which do not grow with the context; 0 for models without such layers.
  virtual uint64_t kv_window_bytes(int64_t max_batch) const { return 0; }

  // Allocates the cache and scratch for `context_tokens` positions and batches of `max_batch`.
  // kv_format: how the K/V cache stores rows (kv_cache.h); families whose cache is not plain
  // K/V rows (DeepSeek's latent cache) keep f32 whatever it says.
  virtual Result<std::unique_ptr<ForwardState>> NewState(int64_t context_tokens, int64_t max_batch, int n_threads,
                                                         kernels::KvFormat kv_format = kernels::KvFormat::kF32) const = 0;
  // The dense linear matrices (not the embedding or the output head) the Engine may attach a packed
  // copy to (Matrix::xnnpack, packed for output row stride = rows) while it loads, before any session
  // shares the model. A family lists only matrices whose MatMul input buffers have
  // kMatMulInputPadFloats of padding (cpu_matmul.h) and whose outputs have row stride = rows;
  // families that have not checked that list none.
  virtual std::vector<Matrix*> PackableMatrices() { return {}; }
  // The matrices read only through MatMul and DequantizeRow (cpu_matmul.h; whole rows, so RowSlice
  // views too), which follow a kernel set's own layout: the Engine may rearrange their bytes into it
  // (Engine::RearrangeWeightsForKernels, kernel_layout.h) before any session shares the model. A tied
  // matrix is listed under each name; a matrix read any other way must not be listed. Every family
  // lists its matrices (tests/unit/model/kernel_layout_test.cc checks each); the default, none, keeps
  // the stored layout.
  virtual std::vector<Matrix*> KernelLayoutMatrices() { return {}; }
  // Runs tokens[0..n) at positions [pos, pos + n), writing their K/V into the cache.
  // logits: null, or [n][vocab] when all_rows, else [vocab] for the last token.
  virtual Status Forward(ForwardState& state, ThreadPool& pool, const int32_t* tokens, int64_t n, int64_t pos,
                         float* logits, bool all_rows) const = 0;
};

// Picks the implementation for the artifact's architecture.
Result<std::unique_ptr<Model>> CreateModel(const Artifact& artifact, const kernels::GemmKernels& kernels);

}  // namespace kite
