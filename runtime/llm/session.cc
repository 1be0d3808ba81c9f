#include "runtime/llm/session.h"

#include <algorithm>
#include <chrono>

#include "runtime/llm/tokenizer/tokenizer.h"

namespace kite {
namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int64_t DefaultContextTokens(const ModelConfig& config) {
  constexpr int64_t kDefaultCap = 4096;
  return config.max_position_embeddings > 0 ? std::min<int64_t>(config.max_position_embeddings, kDefaultCap)
                                            : kDefaultCap;
}

Session::Session(const Engine& engine, int n_threads)
    : engine_(engine), pool_(n_threads), sampler_(engine.config().vocab_size, SamplingParams()) {}

Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::Create(const Engine& engine, const SessionOptions& options) {
  int threads = options.n_threads > 0 ? options.n_threads : ThreadPool::DefaultThreadCount();
  if (threads > 256) return InvalidArgument("at most 256 threads");
  int64_t context = options.context_tokens;
  const int64_t model_max = engine.config().max_position_embeddings > 0 ? engine.config().max_position_embeddings : 4096;
  if (context <= 0) context = DefaultContextTokens(engine.config());
  if (context > model_max) {
    return InvalidArgument("context of " + std::to_string(context) + " tokens exceeds the model's maximum of " +
                           std::to_string(model_max));
  }
  std::unique_ptr<Session> session(new Session(engine, threads));
  KITE_ASSIGN_OR_RETURN(session->state_, engine.model().NewState(context, std::max<int64_t>(1, options.max_batch), threads,
                                                                        options.kv_format));
  session->logits_.assign(engine.config().vocab_size, 0.0f);
  session->history_.reserve(context);
  return session;
}

Status Session::Eval(const int32_t* ids, int64_t n, float* logits, bool all_rows) {
  if (n <= 0) return InvalidArgument("no tokens to evaluate");
  if (position() + n > context_tokens()) {
    return Status(StatusCode::kContextFull, "the conversation would reach " + std::to_string(position() + n) +
                                                " tokens but the context holds " + std::to_string(context_tokens()));
  }
  KITE_RETURN_IF_ERROR(engine_.model().Forward(*state_, pool_, ids, n, position(), logits, all_rows));
  history_.insert(history_.end(), ids, ids + n);
  return Status::Ok();
}

Result<GenerateResult> Session::Generate(const std::vector<int32_t>& prompt, const GenerateOptions& options,
                                         const TokenCallback& on_token) {
  GenerateResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  if (prompt.empty()) return InvalidArgument("generation needs at least one new prompt token");
  if (position() + static_cast<int64_t>(prompt.size()) >= context_tokens()) {
    return Status(StatusCode::kContextFull, "the prompt has " + std::to_string(prompt.size()) +
                                                " tokens but the context holds " + std::to_string(context_tokens()) +
                                                " (with " + std::to_string(position()) + " already used); " +
                                                "shorten the prompt or raise the context size");
  }
  for (const std::string& stop : options.stop_strings) {
    if (stop.empty()) return InvalidArgument("stop strings must not be empty");
  }
  sampler_.Reset(options.sampling);
  auto start = std::chrono::steady_clock::now();
  KITE_RETURN_IF_ERROR(Eval(prompt.data(), static_cast<int64_t>(prompt.size()), logits_.data(), false));
  result.prefill_ms = MsSince(start);
  start = std::chrono::steady_clock::now();

  const Tokenizer* tokenizer = engine_.tokenizer();
  std::unique_ptr<StreamingDecoder> decoder;
  // Special tokens (end-of-turn markers, BOS) are control, not text.
  if (tokenizer != nullptr) decoder.reset(new StreamingDecoder(*tokenizer, /*skip_special=*/true));
  std::string pending;  // decoded text not yet handed to the callback
  result.stop_reason = "max_tokens";
  for (int64_t step = 0; step < options.max_tokens; ++step) {
    const int32_t id = sampler_.Sample(logits_.data(), history_);
    if (id < 0) {
      result.stop_reason = "masked";
      break;
    }
    if (options.stop_on_eos && std::find(engine_.eos_ids().begin(), engine_.eos_ids().end(), id) != engine_.eos_ids().end()) {
      result.stop_reason = "eos";
      break;
    }
    result.ids.push_back(id);
    bool stop_string_hit = false;
    if (decoder != nullptr) {
      KITE_ASSIGN_OR_RETURN(std::string piece, decoder->Push(id));
      pending += piece;
      for (const std::string& stop : options.stop_strings) {
        const size_t at = pending.find(stop);
        if (at != std::string::npos) {
          pending.resize(at);
          stop_string_hit = true;
        }
      }
      const size_t hold = stop_string_hit ? 0 : HeldBackBytes(pending, options.stop_strings);
      const std::string ready = pending.substr(0, pending.size() - hold);
      pending.erase(0, ready.size());
      result.text += ready;
      if (on_token && !on_token(id, ready)) {
        result.stop_reason = "cancelled";
        break;
      }
    } else if (on_token && !on_token(id, std::string())) {
      result.stop_reason = "cancelled";
      break;
    }
    if (stop_string_hit) {
      result.stop_reason = "stop_string";
      break;
    }
    if (step + 1 == options.max_tokens) break;
    if (position() + 1 > context_tokens()) {
      result.stop_reason = "context_full";
      break;
    }
    KITE_RETURN_IF_ERROR(Eval(&id, 1, logits_.data(), false));
  }
  // A caller that cancelled hears nothing more; a stop string already cut the text.
  if (decoder != nullptr && result.stop_reason != "stop_string" && result.stop_reason != "cancelled") {
    pending += decoder->Flush();
    result.text += pending;
    if (on_token && !pending.empty()) on_token(-1, pending);
  }
  result.decode_ms = MsSince(start);
  return result;
}

size_t HeldBackBytes(const std::string& text, const std::vector<std::string>& stops) {
  size_t held = 0;
  for (const std::string& stop : stops) {
    if (stop.empty()) continue;
    for (size_t len = std::min(stop.size() - 1, text.size()); len > held; --len) {
      if (text.compare(text.size() - len, len, stop, 0, len) == 0) {
        held = len;
        break;
      }
    }
  }
  return held;
}

}  // namespace kite
