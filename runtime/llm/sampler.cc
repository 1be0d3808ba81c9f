#include "runtime/llm/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kite {

int32_t ArgMax(const float* values, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (values[i] > values[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

Sampler::Sampler(int64_t vocab_size, const SamplingParams& params) : vocab_(vocab_size) {
  candidates_.reserve(vocab_size);
  probs_.reserve(vocab_size);
  Reset(params);
}

void Sampler::Reset(const SamplingParams& params) {
  params_ = params;
  rng_state_ = params.seed ^ 0x9E3779B97F4A7C15ull;
}

double Sampler::NextUniform() {
  // splitmix64: tiny, and the same sequence everywhere (std distributions are not portable).
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

int32_t Sampler::Sample(float* logits, const std::vector<int32_t>& history) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (params_.repetition_penalty != 1.0f && params_.repetition_penalty > 0.0f) {
    const size_t window = static_cast<size_t>(std::max(0, params_.repetition_window));
    const size_t start = history.size() > window ? history.size() - window : 0;
    // A token seen twice is penalised once, as in Hugging Face's processor.
    for (size_t i = start; i < history.size(); ++i) {
      const int32_t id = history[i];
      if (id < 0 || id >= vocab_) continue;
      bool seen_before = false;
      for (size_t j = start; j < i && !seen_before; ++j) seen_before = history[j] == id;
      if (seen_before) continue;
      float& x = logits[id];
      x = x > 0 ? x / params_.repetition_penalty : x * params_.repetition_penalty;
    }
  }
  if (mask_) mask_(logits, vocab_, history);
  const int32_t best = ArgMax(logits, vocab_);
  if (logits[best] == neg_inf || std::isnan(logits[best])) return -1;
  if (params_.greedy()) return best;

  // Candidates sorted by logit (descending), cut by top-k.
  candidates_.clear();
  for (int32_t i = 0; i < vocab_; ++i) {
    if (logits[i] != neg_inf) candidates_.push_back(i);
  }
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  size_t keep = candidates_.size();
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < keep) keep = params_.top_k;
  std::partial_sort(candidates_.begin(), candidates_.begin() + keep, candidates_.end(), by_logit);
  candidates_.resize(keep);

  // Softmax with temperature over the candidates.
  probs_.resize(keep);
  const float max_logit = logits[candidates_[0]];
  double sum = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    probs_[i] = std::exp((logits[candidates_[i]] - max_logit) / params_.temperature);
    sum += probs_[i];
  }
  for (float& p : probs_) p = static_cast<float>(p / sum);
  // min-p: drop tokens less likely than min_p times the top token.
  if (params_.min_p > 0.0f) {
    const float floor = params_.min_p * probs_[0];
    size_t n = 1;
    while (n < keep && probs_[n] >= floor) ++n;
    keep = n;
  }
  // top-p: the smallest prefix whose mass reaches top_p.
  if (params_.top_p < 1.0f) {
    double cumulative = 0.0;
    size_t n = 0;
    while (n < keep) {
      cumulative += probs_[n++];
      if (cumulative >= params_.top_p) break;
    }
    keep = std::max<size_t>(1, n);
  }
  double mass = 0.0;
  for (size_t i = 0; i < keep; ++i) mass += probs_[i];
  double r = NextUniform() * mass;
  for (size_t i = 0; i < keep; ++i) {
    r -= probs_[i];
    if (r < 0) return candidates_[i];
  }
  return candidates_[keep - 1];
}

}  // namespace kite
