// The JS-facing functions of the wasm module (kite_wasm_api.h): thin glue over the C API and, for the
// token-by-token generation stepper the C API does not have (kite_session_generate runs a whole
// reply in one call, which a worker could not stream, abort between tokens or feed WebGPU logits
// into), over Engine, Session, Sampler and StreamingDecoder directly. The stop-string hold-back
// follows Session::Generate's rules.
#include "platforms/wasm/kite_wasm_api.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/quant_formats.h"
#include "runtime/c_api/kite_handles.h"
#include "runtime/llm/sampler.h"
#include "runtime/llm/session.h"
#include "runtime/llm/tokenizer/tokenizer.h"
#include "runtime/model/model_config_json.h"

namespace {

thread_local std::string g_error;

void SetError(const std::string& message) { g_error = message; }
void SetErrorFromC() { g_error = kite_last_error_message(); }

char* CopyString(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out == nullptr) {
    SetError("out of memory");
    return nullptr;
  }
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

char* TakeKiteString(kite_string* s) {
  char* out = s->data;  // kite_string's buffer is malloc'd: hand it over as is
  s->data = nullptr;
  s->size = 0;
  return out;
}

// Runs fn, turning anything thrown into an error result (nothing may unwind into JS).
template <typename T, typename Fn>
T Guarded(T on_error, Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    SetError("out of memory");
  } catch (const std::exception& e) {
    SetError(std::string("internal error: ") + e.what());
  } catch (...) {
    SetError("internal error");
  }
  return on_error;
}

// The per-reply settings of a generation (sampling, length, stops), from its params JSON.
struct ReplyParams {
  kite::SamplingParams sampling;
  int64_t max_tokens = 256;
  std::vector<std::string> stops;
  bool stop_on_eos = true;
};

bool ParseReplyParams(const nlohmann::json& params, ReplyParams* out) {
  kite::SamplingParams sampling;
  sampling.temperature = params.value("temperature", sampling.temperature);
  sampling.top_k = params.value("top_k", sampling.top_k);
  sampling.top_p = params.value("top_p", sampling.top_p);
  sampling.min_p = params.value("min_p", sampling.min_p);
  sampling.repetition_penalty = params.value("repetition_penalty", sampling.repetition_penalty);
  sampling.seed = params.value("seed", sampling.seed);
  const int64_t max_tokens = params.value("max_tokens", int64_t{256});
  if (max_tokens <= 0) {
    SetError("max_tokens must be > 0");
    return false;
  }
  std::vector<std::string> stops;
  const char* stop_key = params.contains("stop") ? "stop" : "stop_strings";
  if (params.contains(stop_key)) {
    const nlohmann::json& list = params[stop_key];
    if (!list.is_array()) {
      SetError(std::string(stop_key) + " must be an array of strings");
      return false;
    }
    for (const auto& s : list) {
      if (!s.is_string() || s.get<std::string>().empty()) {
        SetError(std::string(stop_key) + " must hold non-empty strings");
        return false;
      }
      stops.push_back(s.get<std::string>());
    }
  }
  out->sampling = sampling;
  out->max_tokens = max_tokens;
  out->stops = std::move(stops);
  out->stop_on_eos = !params.value("ignore_eos", false);
  return true;
}

class Generation {
 public:
  static Generation* Create(const kite::Engine& engine, const nlohmann::json& params) {
    ReplyParams reply;
    if (!ParseReplyParams(params, &reply)) return nullptr;
    kite::SessionOptions options;
    options.context_tokens = params.value("context", int64_t{0});
    int threads = params.value("threads", 0);
#if !defined(__EMSCRIPTEN_PTHREADS__) && defined(__EMSCRIPTEN__)
    threads = 1;  // the single-threaded build cannot start threads
#endif
    if (threads < 0 || threads > 64) {
      SetError("threads must be in [0, 64]");
      return nullptr;
    }
    options.n_threads = threads;
    options.max_batch = params.value("max_batch", int64_t{64});
    const std::string kv = params.value("kv_format", std::string("f16"));
    if (kv == "f32") {
      options.kv_format = kite::kernels::KvFormat::kF32;
    } else if (kv == "f16") {
      options.kv_format = kite::kernels::KvFormat::kF16;
    } else if (kv == "q8") {
      options.kv_format = kite::kernels::KvFormat::kQ8;
    } else {
      SetError("kv_format must be \"f32\", \"f16\" or \"q8\", not \"" + kv + "\"");
      return nullptr;
    }
    auto session = kite::Session::Create(engine, options);
    if (!session.ok()) {
      SetError(session.status().message());
      return nullptr;
    }
    std::unique_ptr<Generation> g(new Generation(engine));
    g->session_ = std::move(session).value();
    g->SetReplyParams(std::move(reply));
    g->sampler_.reset(new kite::Sampler(engine.config().vocab_size, g->sampling_));
    g->logits_.assign(engine.config().vocab_size, 0.0f);
    g->work_.assign(engine.config().vocab_size, 0.0f);
    return g.release();
  }

  int Prefill(const int32_t* ids, int n) {
    if (ids == nullptr || n <= 0) return Fail("prefill needs at least one token");
    const int32_t vocab = static_cast<int32_t>(engine_.config().vocab_size);
    for (int i = 0; i < n; ++i) {
      if (ids[i] < 0 || ids[i] >= vocab) return Fail("token id " + std::to_string(ids[i]) + " is outside the vocabulary");
    }
    StartReply();
    // Tokens a finished reply sampled but never fed back (the one that hit max_tokens) go first.
    std::vector<int32_t> pending(history_.begin() + session_->position(), history_.end());
    pending.insert(pending.end(), ids, ids + n);
    kite::Status status = session_->Eval(pending.data(), static_cast<int64_t>(pending.size()), logits_.data(), false);
    if (!status.ok()) return Fail(status.message());
    history_.insert(history_.end(), ids, ids + n);
    have_logits_ = true;
    return 0;
  }

  int Record(const int32_t* ids, int n) {
    if (ids == nullptr || n < 0) return Fail("record needs ids");
    StartReply();
    history_.insert(history_.end(), ids, ids + n);
    return 0;
  }

  // Samples from work_ (a copy of the logits) and handles stops; cpu: feed the token back.
  int Advance(const float* logits, bool cpu) {
    text_.clear();
    if (!stop_reason_.empty()) return -1;
    if (logits == nullptr) return Fail("no logits yet: prefill first");
    std::memcpy(work_.data(), logits, work_.size() * sizeof(float));
    const int32_t id = sampler_->Sample(work_.data(), history_);
    if (id < 0) return Finish("masked");
    const auto& eos = engine_.eos_ids();
    if (stop_on_eos_ && std::find(eos.begin(), eos.end(), id) != eos.end()) return Finish("eos");
    history_.push_back(id);
    ++generated_;
    bool stop_hit = false;
    if (decoder_ != nullptr) {
      auto piece = decoder_->Push(id);
      if (!piece.ok()) return Fail(piece.status().message());
      pending_ += *piece;
      for (const std::string& stop : stops_) {
        const size_t at = pending_.find(stop);
        if (at != std::string::npos) {
          pending_.resize(at);
          stop_hit = true;
        }
      }
      const size_t hold = stop_hit ? 0 : kite::HeldBackBytes(pending_, stops_);
      text_ = pending_.substr(0, pending_.size() - hold);
      pending_.erase(0, text_.size());
    }
    if (stop_hit) {
      stop_reason_ = "stop_string";
      return id;
    }
    if (generated_ >= max_tokens_) {
      FinishText("max_tokens");
      return id;
    }
    // Every id in history_ needs a position when it is fed back, here (cpu) or by the caller's
    // forward (the WebGPU path records the prompt and feeds tokens itself, so the session's own
    // position says nothing there).
    if (static_cast<int64_t>(history_.size()) > session_->context_tokens()) {
      FinishText("context_full");
      return id;
    }
    if (cpu) {
      // The token is in history_ already; Eval appends it (and anything recorded without a forward)
      // to the session's own record.
      const int64_t done = session_->position();
      kite::Status status = session_->Eval(history_.data() + done, static_cast<int64_t>(history_.size()) - done,
                                           logits_.data(), false);
      if (!status.ok()) return Fail(status.message());
    }
    return id;
  }

  // Starts the next reply of a conversation from the full prompt `ids`: keeps the cached positions
  // of the longest prefix that `ids` shares with what this generation has seen (at most n - 1, so
  // that a prefill still computes logits), drops the rest, takes the new reply settings, and returns
  // how many leading ids are already in place; the caller prefills (or records) ids[returned..n).
  int Reuse(const nlohmann::json& params, const int32_t* ids, int n) {
    if (ids == nullptr || n <= 0) return Fail("reuse needs the prompt's ids");
    ReplyParams reply;
    if (!ParseReplyParams(params, &reply)) return -2;
    int common = 0;
    const int limit = std::min(n - 1, static_cast<int>(history_.size()));
    while (common < limit && history_[common] == ids[common]) ++common;
    if (Truncate(common) != 0) return -2;
    SetReplyParams(std::move(reply));
    return common;
  }

  int Truncate(int n) {
    if (n < 0 || n > static_cast<int>(history_.size())) return Fail("truncate: n is outside the conversation");
    history_.resize(static_cast<size_t>(n));
    if (session_->position() > n) session_->Truncate(n);
    have_logits_ = false;  // the logits were of a later position
    return 0;
  }

  const float* logits() const { return have_logits_ ? logits_.data() : nullptr; }
  const std::string& text() const { return text_; }
  const std::string& stop_reason() const { return stop_reason_; }
  int position() const { return static_cast<int>(history_.size()); }

 private:
  explicit Generation(const kite::Engine& engine) : engine_(engine) {}

  void SetReplyParams(ReplyParams reply) {
    sampling_ = reply.sampling;
    max_tokens_ = reply.max_tokens;
    stops_ = std::move(reply.stops);
    stop_on_eos_ = reply.stop_on_eos;
  }
  void StartReply() {
    stop_reason_.clear();
    generated_ = 0;
    text_.clear();
    pending_.clear();
    sampler_->Reset(sampling_);
    decoder_.reset();
    // Special tokens (end-of-turn markers, BOS) are control, not text.
    if (engine_.tokenizer() != nullptr) decoder_.reset(new kite::StreamingDecoder(*engine_.tokenizer(), true));
  }
  int Fail(const std::string& message) {
    SetError(message);
    return -2;
  }
  int Finish(const char* reason) {
    FinishText(reason);
    return -1;
  }
  void FinishText(const char* reason) {
    stop_reason_ = reason;
    if (decoder_ != nullptr) {
      pending_ += decoder_->Flush();
      text_ += pending_;
      pending_.clear();
    }
  }

  const kite::Engine& engine_;
  std::unique_ptr<kite::Session> session_;
  std::unique_ptr<kite::Sampler> sampler_;
  std::unique_ptr<kite::StreamingDecoder> decoder_;
  kite::SamplingParams sampling_;
  int64_t max_tokens_ = 256;
  std::vector<std::string> stops_;
  bool stop_on_eos_ = true;
  std::vector<int32_t> history_;  // the conversation: prompts and generated tokens
  std::vector<float> logits_;     // the last CPU forward's last row
  std::vector<float> work_;       // what the sampler modifies
  bool have_logits_ = false;
  int64_t generated_ = 0;
  std::string pending_;           // decoded, not yet released (maybe a stop string's start)
  std::string text_;              // released by the last call
  std::string stop_reason_;
};

nlohmann::json TensorJson(const kite::TensorView& t) {
  nlohmann::json j = {{"name", t.name},
                      {"dtype", kite::DTypeName(t.dtype)},
                      {"shape", t.shape},
                      {"ptr", reinterpret_cast<uintptr_t>(t.data)},
                      {"bytes", t.data_bytes},
                      {"group_size", t.group_size}};
  if (t.dtype == kite::DType::kQ8 || t.dtype == kite::DType::kQ4) {
    const int64_t k = t.cols();
    const int64_t block = t.dtype == kite::DType::kQ8 ? kite::kQuantBlock : t.group_size;
    j["k_pad"] = kite::RoundUp(k, block);  // padded columns per row (padding holds zero weights)
    j["row_bytes"] = t.dtype == kite::DType::kQ8 ? kite::Q8RowBytes(k) : kite::Q4RowBytes(k, t.group_size);
    j["scales_ptr"] = reinterpret_cast<uintptr_t>(t.scales);
    j["scales_bytes"] = t.scales_bytes;
    j["scales_dtype"] = t.dtype == kite::DType::kQ8 ? "f32" : "f16";
    j["scales_per_row"] = t.dtype == kite::DType::kQ8 ? 1 : kite::Q4GroupsPerRow(k, t.group_size);
  }
  return j;
}

}  // namespace

extern "C" {

KITE_WASM_EXPORT void* kite_wasm_malloc(size_t size) {
  const size_t rounded = (std::max<size_t>(size, 1) + 63) / 64 * 64;  // aligned_alloc wants a multiple
  return std::aligned_alloc(64, rounded);
}

KITE_WASM_EXPORT void kite_wasm_free(void* p) { std::free(p); }

KITE_WASM_EXPORT const char* kite_wasm_last_error(void) { return g_error.c_str(); }

KITE_WASM_EXPORT kite_engine* kite_wasm_engine_create(const uint8_t* data, size_t size, int verify_checksums) {
  if (data == nullptr || size == 0) {
    SetError("kite_wasm_engine_create: no model bytes");
    return nullptr;
  }
  kite_engine_options options;
  kite_engine_options_init(&options);
  options.model_data = data;
  options.model_size = size;
  options.model_path = "<model in the wasm heap>";
  options.verify_checksums = verify_checksums;
  kite_engine* engine = nullptr;
  if (kite_engine_create(&options, &engine) != KITE_OK) {
    SetErrorFromC();
    return nullptr;
  }
  return engine;
}

KITE_WASM_EXPORT void kite_wasm_engine_destroy(kite_engine* engine) { kite_engine_destroy(engine); }

KITE_WASM_EXPORT int kite_wasm_engine_rearrange_weights(kite_engine* engine) {
  if (engine == nullptr) {
    SetError("engine is NULL");
    return -1;
  }
  return Guarded<int>(-1, [&]() -> int {
    kite::Result<int> n = engine->engine->RearrangeWeightsForKernels();
    if (!n.ok()) {
      SetError(n.status().message());
      return -1;
    }
    return n.value();
  });
}

KITE_WASM_EXPORT char* kite_wasm_engine_info_json(kite_engine* engine) {
  if (engine == nullptr) {
    SetError("engine is NULL");
    return nullptr;
  }
  return Guarded<char*>(nullptr, [&]() -> char* {
    const kite::Engine& e = *engine->engine;
    nlohmann::json j;
    j["architecture"] = e.config().architecture;
    j["config"] = kite::ModelConfigToJson(e.config());
    j["bos_id"] = e.tokenizer() != nullptr ? e.tokenizer()->bos_id() : e.config().bos_token_id;
    j["eos_ids"] = e.eos_ids();
    j["has_tokenizer"] = e.tokenizer() != nullptr;
    j["has_chat_template"] = e.has_chat_template();
    j["stop_strings"] = e.artifact().stop_strings();
    j["kernels"] = e.kernel_isa();
    j["rearranged_tensors"] = e.rearranged_tensors();  // kite_wasm_engine_rearrange_weights
    j["quantization"] = {{"scheme", e.artifact().quantization().scheme},
                         {"group_size", e.artifact().quantization().group_size}};
    j["weight_bytes"] = e.artifact().weight_bytes();
    j["kv_bytes_per_token"] = e.model().kv_bytes_per_token();
    j["default_context_tokens"] = kite::DefaultContextTokens(e.config());  // a generation with context 0 gets this
    nlohmann::json tensors = nlohmann::json::array();
    for (const kite::TensorView& t : e.artifact().tensors()) tensors.push_back(TensorJson(t));
    j["tensors"] = std::move(tensors);
    return CopyString(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  });
}

KITE_WASM_EXPORT char* kite_wasm_apply_template(kite_engine* engine, const char* messages_json,
                                                int add_generation_prompt) {
  kite_string out = {nullptr, 0};
  if (kite_apply_chat_template(engine, messages_json, nullptr, add_generation_prompt, &out) != KITE_OK) {
    SetErrorFromC();
    return nullptr;
  }
  return TakeKiteString(&out);
}

KITE_WASM_EXPORT int kite_wasm_tokenize(kite_engine* engine, const char* text, int parse_special, int32_t* out,
                                        int cap) {
  if (text == nullptr || cap < 0) {
    SetError("tokenize: text is NULL or cap < 0");
    return -1;
  }
  size_t count = 0;
  const kite_status status = kite_tokenize(engine, text, std::strlen(text), parse_special, /*add_special=*/0, out,
                                           static_cast<size_t>(cap), &count);
  if (status == KITE_OUT_OF_RANGE) return static_cast<int>(count);  // the caller retries with a bigger buffer
  if (status != KITE_OK) {
    SetErrorFromC();
    return -1;
  }
  return static_cast<int>(count);
}

KITE_WASM_EXPORT char* kite_wasm_detokenize(kite_engine* engine, const int32_t* ids, int n) {
  if (n < 0) {
    SetError("detokenize: n < 0");
    return nullptr;
  }
  kite_string out = {nullptr, 0};
  if (kite_detokenize(engine, ids, static_cast<size_t>(n), &out) != KITE_OK) {
    SetErrorFromC();
    return nullptr;
  }
  return TakeKiteString(&out);
}

KITE_WASM_EXPORT void* kite_wasm_gen_create(kite_engine* engine, const char* params_json) {
  if (engine == nullptr) {
    SetError("engine is NULL");
    return nullptr;
  }
  return Guarded<void*>(nullptr, [&]() -> void* {
    nlohmann::json params = nlohmann::json::object();
    if (params_json != nullptr && params_json[0] != '\0') {
      params = nlohmann::json::parse(params_json, nullptr, false);
      if (params.is_discarded() || !params.is_object()) {
        SetError("params_json is not a JSON object");
        return nullptr;
      }
    }
    return Generation::Create(*engine->engine, params);  // json type errors throw: Guarded reports them
  });
}

KITE_WASM_EXPORT int kite_wasm_gen_prefill(void* gen, const int32_t* ids, int n) {
  if (gen == nullptr) return SetError("gen is NULL"), -2;
  return Guarded<int>(-2, [&] { return static_cast<Generation*>(gen)->Prefill(ids, n); });
}

KITE_WASM_EXPORT int kite_wasm_gen_step(void* gen) {
  if (gen == nullptr) return SetError("gen is NULL"), -2;
  return Guarded<int>(-2, [&] {
    Generation* g = static_cast<Generation*>(gen);
    return g->Advance(g->logits(), /*cpu=*/true);
  });
}

KITE_WASM_EXPORT int kite_wasm_gen_accept_logits(void* gen, const float* logits) {
  if (gen == nullptr || logits == nullptr) return SetError("gen and logits are required"), -2;
  return Guarded<int>(-2, [&] { return static_cast<Generation*>(gen)->Advance(logits, /*cpu=*/false); });
}

KITE_WASM_EXPORT int kite_wasm_gen_record(void* gen, const int32_t* ids, int n) {
  if (gen == nullptr) return SetError("gen is NULL"), -2;
  return Guarded<int>(-2, [&] { return static_cast<Generation*>(gen)->Record(ids, n); });
}

KITE_WASM_EXPORT const char* kite_wasm_gen_text(void* gen) {
  return gen == nullptr ? "" : static_cast<Generation*>(gen)->text().c_str();
}

KITE_WASM_EXPORT const float* kite_wasm_gen_logits(void* gen) {
  return gen == nullptr ? nullptr : static_cast<Generation*>(gen)->logits();
}

KITE_WASM_EXPORT int kite_wasm_gen_position(void* gen) {
  return gen == nullptr ? 0 : static_cast<Generation*>(gen)->position();
}

KITE_WASM_EXPORT const char* kite_wasm_gen_stop_reason(void* gen) {
  return gen == nullptr ? "" : static_cast<Generation*>(gen)->stop_reason().c_str();
}

KITE_WASM_EXPORT int kite_wasm_gen_reuse(void* gen, const char* params_json, const int32_t* ids, int n) {
  if (gen == nullptr) return SetError("gen is NULL"), -2;
  return Guarded<int>(-2, [&] {
    nlohmann::json params = nlohmann::json::object();
    if (params_json != nullptr && params_json[0] != '\0') params = nlohmann::json::parse(params_json, nullptr, false);
    if (params.is_discarded() || !params.is_object()) return SetError("params_json is not a JSON object"), -2;
    return static_cast<Generation*>(gen)->Reuse(params, ids, n);  // json type errors throw: Guarded reports them
  });
}

KITE_WASM_EXPORT int kite_wasm_gen_truncate(void* gen, int n) {
  if (gen == nullptr) return SetError("gen is NULL"), -2;
  return Guarded<int>(-2, [&] { return static_cast<Generation*>(gen)->Truncate(n); });
}

KITE_WASM_EXPORT void kite_wasm_gen_destroy(void* gen) { delete static_cast<Generation*>(gen); }

}  // extern "C"
