#include "runtime/model/forward_util.h"

#include <algorithm>
#include <string>

namespace kite {

Status CheckForwardInputs(const ModelConfig& config, const int32_t* tokens, int64_t n, int64_t pos,
                          int64_t capacity_tokens) {
  if (n <= 0) return InvalidArgument("no tokens to evaluate");
  if (pos < 0 || pos + n > capacity_tokens) {
    return Status(StatusCode::kContextFull, "evaluating " + std::to_string(n) + " tokens at position " +
                                                std::to_string(pos) + " exceeds the context of " +
                                                std::to_string(capacity_tokens) + " tokens");
  }
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= static_cast<int32_t>(config.vocab_size)) {
      return OutOfRange("token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                        " is outside the vocabulary [0, " + std::to_string(config.vocab_size) + ")");
    }
  }
  return Status::Ok();
}

}  // namespace kite
