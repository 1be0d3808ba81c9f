// Turns logits into the next token: repetition penalty, an optional logits
// mask (the hook constrained decoding uses), then greedy or temperature /
// top-k / top-p / min-p sampling from a seeded generator. One Sampler per
// session; it owns its buffers, so sampling allocates nothing per token.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace kite {

struct SamplingParams {
  float temperature = 0.8f;   // <= 0 means greedy
  int32_t top_k = 40;         // <= 0: off
  float top_p = 0.95f;        // >= 1: off
  float min_p = 0.05f;        // <= 0: off
  float repetition_penalty = 1.0f;  // 1: off (HF semantics: divide positive logits, multiply negative)
  int32_t repetition_window = 64;   // how many recent tokens the penalty sees
  uint64_t seed = 0;
  bool greedy() const { return temperature <= 0.0f; }
};

// May set logits of forbidden tokens to -infinity. Receives the tokens generated so far.
using LogitsMask = std::function<void(float* logits, int64_t vocab, const std::vector<int32_t>& history)>;

class Sampler {
 public:
  Sampler(int64_t vocab_size, const SamplingParams& params);
  void Reset(const SamplingParams& params);
  void SetMask(LogitsMask mask) { mask_ = std::move(mask); }
  // logits are modified in place. history: previous tokens (prompt included) for the penalty.
  // Returns -1 when the mask forbade every token.
  int32_t Sample(float* logits, const std::vector<int32_t>& history);

 private:
  double NextUniform();  // [0, 1), identical on every platform for a given seed

  int64_t vocab_;
  SamplingParams params_;
  uint64_t rng_state_ = 0;
  LogitsMask mask_;
  std::vector<int32_t> candidates_;
  std::vector<float> probs_;
};

// The index of the largest value; the first one wins ties (llama2.c's rule).
int32_t ArgMax(const float* values, int64_t n);

}  // namespace kite
