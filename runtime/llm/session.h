// Session: one conversation with an Engine — its KV cache, position, token
// history, sampler and scratch memory, all sized when the session starts so
// that decoding allocates nothing per token.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/status.h"
#include "runtime/core/thread_pool.h"
#include "runtime/llm/engine.h"
#include "runtime/llm/sampler.h"
#include "runtime/model/model.h"

namespace kite {

class StreamingDecoder;

struct SessionOptions {
  int64_t context_tokens = 0;  // 0: DefaultContextTokens(the engine's config)
  int n_threads = 0;           // 0: one per core, at most 8
  int64_t max_batch = 64;      // prompt tokens evaluated per forward pass
  // How the K/V cache stores rows: f16 halves the cache and the attention traffic of f32 for an
  // error far below the weights' quantization (tests/golden/kv_format_test.cc measures it).
  kernels::KvFormat kv_format = kernels::KvFormat::kF16;
};

struct GenerateOptions {
  SamplingParams sampling;
  int64_t max_tokens = 256;
  std::vector<std::string> stop_strings;
  bool stop_on_eos = true;
};

// The context a session gets when SessionOptions::context_tokens is 0: the model's
// max_position_embeddings (4096 when the config has none), capped at 4096 so a long-context model
// does not reserve a KV cache for 128K tokens by default. The wasm API reports it as
// `default_context_tokens` so the web package's GPU cache takes the same length.
int64_t DefaultContextTokens(const ModelConfig& config);

// Length of the longest suffix of `text` that is a proper prefix of some stop string: streaming
// holds those bytes back until it knows they do not start a stop string (also the wasm stepper's).
size_t HeldBackBytes(const std::string& text, const std::vector<std::string>& stops);

struct GenerateResult {
  std::vector<int32_t> ids;   // generated ids (stop token excluded)
  std::string text;           // decoded text, cut before a stop string
  std::string stop_reason;    // "eos", "stop_string", "max_tokens", "context_full", "cancelled", "masked"
  double prefill_ms = 0;
  double decode_ms = 0;
  int64_t prompt_tokens = 0;
};

// Called with each piece of text as it becomes final (valid UTF-8, never part of a stop
// string) and the id that produced it; return false to stop.
using TokenCallback = std::function<bool(int32_t id, const std::string& text_piece)>;

class Session {
 public:
  static Result<std::unique_ptr<Session>> Create(const Engine& engine, const SessionOptions& options);
  ~Session();

  const Engine& engine() const { return engine_; }
  int64_t position() const { return static_cast<int64_t>(history_.size()); }
  int64_t context_tokens() const { return state_->capacity_tokens(); }
  const std::vector<int32_t>& tokens() const { return history_; }
  int n_threads() const { return pool_.size(); }
  uint64_t kv_cache_bytes() const { return state_->kv_cache_bytes(); }
  void Reset() { history_.clear(); }
  // Forgets every token from position n on (their cache rows are overwritten later).
  void Truncate(int64_t n) {
    if (n >= 0 && n < position()) history_.resize(static_cast<size_t>(n));
  }

  // Appends ids to the conversation. logits: null, or [n][vocab] (all_rows) / [vocab] (last).
  Status Eval(const int32_t* ids, int64_t n, float* logits, bool all_rows);
  // Evaluates the prompt, then samples until a stop condition.
  Result<GenerateResult> Generate(const std::vector<int32_t>& prompt, const GenerateOptions& options,
                                  const TokenCallback& on_token);
  void SetLogitsMask(LogitsMask mask) { sampler_.SetMask(std::move(mask)); }

 private:
  Session(const Engine& engine, int n_threads);
  const Engine& engine_;
  ThreadPool pool_;
  std::unique_ptr<ForwardState> state_;
  Sampler sampler_;
  std::vector<int32_t> history_;
  std::vector<float> logits_;
};

}  // namespace kite
