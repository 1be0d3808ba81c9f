// The C API over Engine and Session. Every entry point converts Status to a
// kite_status plus a thread-local message, and catches anything thrown below
// (std::bad_alloc, a library's exception) so nothing crosses into C.
#include "runtime/c_api/kite.h"

#include <cstring>
#include <exception>
#include <new>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/artifact/artifact.h"
#include "runtime/backend/xnnpack/xnnpack_matmul.h"
#include "runtime/llm/engine.h"
#include "runtime/llm/session.h"
#include "runtime/llm/tokenizer/tokenizer.h"
#include "runtime/model/model_config_json.h"

#include "runtime/c_api/kite_handles.h"

namespace {

thread_local std::string g_last_error;

kite_status Fail(kite_status status, const std::string& message) {
  g_last_error = message;
  return status;
}

kite_status FromStatus(const kite::Status& status) {
  if (status.ok()) return KITE_OK;
  return Fail(static_cast<kite_status>(status.code()), status.message());
}

template <typename Fn>
kite_status Guard(Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return Fail(KITE_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return Fail(KITE_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return Fail(KITE_INTERNAL, "internal error");
  }
}

kite_status SetString(const std::string& value, kite_string* out) {
  char* data = static_cast<char*>(std::malloc(value.size() + 1));
  if (data == nullptr) return Fail(KITE_OUT_OF_MEMORY, "out of memory");
  std::memcpy(data, value.data(), value.size());
  data[value.size()] = '\0';
  out->data = data;
  out->size = value.size();
  return KITE_OK;
}

// Options structs may come from older or newer callers: read only the fields both know.
template <typename T>
T ReadOptions(const T* given, const T& defaults) {
  T merged = defaults;
  if (given != nullptr) {
    size_t n = given->struct_size < sizeof(T) ? given->struct_size : sizeof(T);
    std::memcpy(&merged, given, n);
    merged.struct_size = sizeof(T);
  }
  return merged;
}

}  // namespace

extern "C" {

const char* kite_version(void) { return "0.1.0"; }
const char* kite_last_error_message(void) { return g_last_error.c_str(); }

const char* kite_status_name(kite_status status) {
  return kite::StatusCodeName(static_cast<kite::StatusCode>(status));
}

void kite_string_free(kite_string* s) {
  if (s == nullptr) return;
  std::free(s->data);
  s->data = nullptr;
  s->size = 0;
}

void kite_engine_options_init(kite_engine_options* o) {
  if (o == nullptr) return;
  std::memset(o, 0, sizeof(*o));
  o->struct_size = sizeof(*o);
}

kite_status kite_engine_create(const kite_engine_options* options, kite_engine** out_engine) {
  return Guard([&] {
    if (options == nullptr || out_engine == nullptr) return Fail(KITE_INVALID_ARGUMENT, "options and out_engine are required");
    *out_engine = nullptr;
    kite_engine_options defaults;
    kite_engine_options_init(&defaults);
    kite_engine_options o = ReadOptions(options, defaults);
    if (o.model_path == nullptr && o.model_data == nullptr) {
      return Fail(KITE_INVALID_ARGUMENT, "model_path or model_data is required");
    }
    if (o.model_data != nullptr && o.model_size == 0) return Fail(KITE_INVALID_ARGUMENT, "model_data has model_size 0");
    kite::EngineOptions eo;
    if (o.model_data != nullptr) {
      eo.model_data = static_cast<const uint8_t*>(o.model_data);
      eo.model_size = o.model_size;
      if (o.model_path != nullptr) eo.model_name = o.model_path;  // names the bytes in messages
    } else {
      eo.model_path = o.model_path;
    }
    eo.verify_checksums = o.verify_checksums != 0;
    eo.reference_kernels = o.reference_kernels != 0;
    switch (o.xnnpack) {  // 0 (AUTO) for callers built against a struct without the field
      case KITE_XNNPACK_AUTO: eo.xnnpack = kite::XnnpackMode::kAuto; break;
      case KITE_XNNPACK_OFF: eo.xnnpack = kite::XnnpackMode::kOff; break;
      case KITE_XNNPACK_ON: eo.xnnpack = kite::XnnpackMode::kOn; break;
      case KITE_XNNPACK_ALWAYS: eo.xnnpack = kite::XnnpackMode::kAlways; break;
      default: return Fail(KITE_INVALID_ARGUMENT, "xnnpack must be a kite_xnnpack_mode (0..3), not " + std::to_string(o.xnnpack));
    }
    auto engine = kite::Engine::Load(eo);
    if (!engine.ok()) return FromStatus(engine.status());
    *out_engine = new kite_engine{std::move(engine).value()};
    return KITE_OK;
  });
}

void kite_engine_destroy(kite_engine* engine) { delete engine; }

kite_status kite_engine_info(const kite_engine* engine, kite_model_info* out) {
  return Guard([&] {
    if (engine == nullptr || out == nullptr) return Fail(KITE_INVALID_ARGUMENT, "engine and out_info are required");
    const kite::Engine& e = *engine->engine;
    kite_model_info info;
    std::memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    info.vocab_size = static_cast<int32_t>(e.config().vocab_size);
    info.context_max = static_cast<int32_t>(e.config().max_position_embeddings);
    info.bos_id = e.tokenizer() != nullptr ? e.tokenizer()->bos_id() : e.config().bos_token_id;
    info.has_tokenizer = e.tokenizer() != nullptr;
    info.has_chat_template = e.has_chat_template();
    info.weight_bytes = e.artifact().weight_bytes();
    info.weight_bytes_per_token = e.model().weight_bytes_per_token();
    info.kv_bytes_per_token = e.model().kv_bytes_per_token();
    size_t n = out->struct_size < sizeof(info) && out->struct_size > 0 ? out->struct_size : sizeof(info);
    std::memcpy(out, &info, n);
    out->struct_size = n;
    return KITE_OK;
  });
}

kite_status kite_engine_describe(const kite_engine* engine, kite_string* out_json) {
  return Guard([&] {
    if (engine == nullptr || out_json == nullptr) return Fail(KITE_INVALID_ARGUMENT, "engine and out_json are required");
    const kite::Engine& e = *engine->engine;
    const kite::Artifact& a = e.artifact();
    const kite::ModelConfig& c = a.config();
    nlohmann::json j;
    j["path"] = a.path();
    j["file_bytes"] = a.file_bytes();
    j["format_version"] = a.format_version();
    j["producer"] = a.producer();
    j["architecture"] = c.architecture;
    j["config"] = kite::ModelConfigToJson(c);
    j["quantization"] = {{"scheme", a.quantization().scheme},
                         {"group_size", a.quantization().group_size},
                         {"relative_rms_error", a.quantization().relative_rms_error}};
    j["weight_bytes"] = a.weight_bytes();
    j["weight_bytes_per_token"] = e.model().weight_bytes_per_token();
    j["kv_bytes_per_token"] = e.model().kv_bytes_per_token();
    // Fixed ring buffers of sliding-window layers, at the default session batch of 64.
    j["kv_window_bytes"] = e.model().kv_window_bytes(64);
    uint32_t sliding_layers = 0, sparse_layers = 0;
    for (uint32_t l = 0; l < c.num_layers; ++l) {
      sliding_layers += c.layer_is_sliding(l) ? 1 : 0;
      sparse_layers += c.layer_is_moe(l) ? 1 : 0;
    }
    j["features"] = {{"sliding_window", c.sliding_window},
                     {"sliding_layers", sliding_layers},
                     {"num_experts", c.num_experts},
                     {"num_experts_per_tok", c.num_experts_per_tok},
                     {"num_shared_experts", c.num_shared_experts},
                     {"sparse_layers", sparse_layers},
                     {"kv_lora_rank", c.kv_lora_rank},
                     {"qk_rope_head_dim", c.qk_rope_head_dim}};
    j["kernels"] = e.kernel_isa();
    // What the engine packed for XNNPACK prefill at load (all zero when nothing was).
    j["xnnpack"] = {{"available", kite::XnnpackAvailable()},
                    {"matrices", e.xnnpack_stats().matrices},
                    {"packed_bytes", e.xnnpack_stats().packed_bytes},
                    {"pack_ms", e.xnnpack_stats().pack_ms}};
    j["tokenizer"] = e.tokenizer() == nullptr ? nlohmann::json(nullptr)
                                              : nlohmann::json{{"vocab_size", e.tokenizer()->vocab_size()},
                                                               {"bos_id", e.tokenizer()->bos_id()},
                                                               {"eos_id", e.tokenizer()->eos_id()}};
    j["eos_ids"] = e.eos_ids();
    j["chat_template"] = e.has_chat_template();
    nlohmann::json tensors = nlohmann::json::array();
    for (const kite::TensorView& t : a.tensors()) {
      tensors.push_back({{"name", t.name},
                         {"shape", t.shape},
                         {"dtype", kite::DTypeName(t.dtype)},
                         {"group_size", t.group_size},
                         {"bytes", t.data_bytes + t.scales_bytes}});
    }
    j["tensors"] = tensors;
    return SetString(j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace), out_json);
  });
}

kite_status kite_verify_artifact(const char* path, kite_progress_fn progress, void* user) {
  return Guard([&] {
    if (path == nullptr) return Fail(KITE_INVALID_ARGUMENT, "path is required");
    auto artifact = kite::Artifact::Open(path);
    if (!artifact.ok()) return FromStatus(artifact.status());
    std::function<void(uint64_t, uint64_t)> cb;
    if (progress != nullptr) cb = [&](uint64_t d, uint64_t t) { progress(d, t, user); };
    return FromStatus(artifact.value()->VerifyChecksums(cb));
  });
}

kite_status kite_tokenize(const kite_engine* engine, const char* text, size_t text_size, int parse_special,
                          int add_special, int32_t* ids, size_t capacity, size_t* out_count) {
  return Guard([&] {
    if (engine == nullptr || (text == nullptr && text_size > 0) || out_count == nullptr) {
      return Fail(KITE_INVALID_ARGUMENT, "engine, text and out_count are required");
    }
    auto tokens = engine->engine->Tokenize(std::string(text == nullptr ? "" : text, text_size), parse_special != 0,
                                           add_special != 0);
    if (!tokens.ok()) return FromStatus(tokens.status());
    *out_count = tokens->size();
    if (tokens->size() > capacity || (ids == nullptr && !tokens->empty())) {
      return Fail(KITE_OUT_OF_RANGE, "the text has " + std::to_string(tokens->size()) + " tokens but the buffer holds " +
                                         std::to_string(capacity));
    }
    std::copy(tokens->begin(), tokens->end(), ids);
    return KITE_OK;
  });
}

kite_status kite_detokenize(const kite_engine* engine, const int32_t* ids, size_t count, kite_string* out_text) {
  return Guard([&] {
    if (engine == nullptr || (ids == nullptr && count > 0) || out_text == nullptr) {
      return Fail(KITE_INVALID_ARGUMENT, "engine, ids and out_text are required");
    }
    auto text = engine->engine->Detokenize(std::vector<int32_t>(ids, ids + count));
    if (!text.ok()) return FromStatus(text.status());
    return SetString(*text, out_text);
  });
}

kite_status kite_apply_chat_template(const kite_engine* engine, const char* messages_json, const char* tools_json,
                                     int add_generation_prompt, kite_string* out_prompt) {
  return Guard([&] {
    if (engine == nullptr || messages_json == nullptr || out_prompt == nullptr) {
      return Fail(KITE_INVALID_ARGUMENT, "engine, messages_json and out_prompt are required");
    }
    // ordered_json: the template's tojson must print keys in the caller's order.
    nlohmann::ordered_json messages = nlohmann::ordered_json::parse(messages_json, nullptr, false);
    if (messages.is_discarded()) return Fail(KITE_INVALID_ARGUMENT, "messages_json is not valid JSON");
    nlohmann::ordered_json tools;
    if (tools_json != nullptr) {
      tools = nlohmann::ordered_json::parse(tools_json, nullptr, false);
      if (tools.is_discarded()) return Fail(KITE_INVALID_ARGUMENT, "tools_json is not valid JSON");
    }
    auto prompt = engine->engine->RenderChat(messages, tools, add_generation_prompt != 0);
    if (!prompt.ok()) return FromStatus(prompt.status());
    return SetString(*prompt, out_prompt);
  });
}

void kite_session_options_init(kite_session_options* o) {
  if (o == nullptr) return;
  std::memset(o, 0, sizeof(*o));
  o->struct_size = sizeof(*o);
}

kite_status kite_session_create(const kite_engine* engine, const kite_session_options* options,
                                kite_session** out_session) {
  return Guard([&] {
    if (engine == nullptr || out_session == nullptr) return Fail(KITE_INVALID_ARGUMENT, "engine and out_session are required");
    *out_session = nullptr;
    kite_session_options defaults;
    kite_session_options_init(&defaults);
    kite_session_options o = ReadOptions(options, defaults);
    kite::SessionOptions so;
    so.context_tokens = o.context_tokens;
    so.n_threads = o.n_threads;
    if (o.max_batch > 0) so.max_batch = o.max_batch;
    switch (o.kv_cache_type) {
      case KITE_KV_DEFAULT:
      case KITE_KV_F16: so.kv_format = kite::kernels::KvFormat::kF16; break;
      case KITE_KV_F32: so.kv_format = kite::kernels::KvFormat::kF32; break;
      case KITE_KV_Q8: so.kv_format = kite::kernels::KvFormat::kQ8; break;
      default:
        return Fail(KITE_INVALID_ARGUMENT, "kv_cache_type " + std::to_string(o.kv_cache_type) +
                                               " is not a kite_kv_cache_type (0 default, 1 f32, 2 f16, 3 q8)");
    }
    auto session = kite::Session::Create(*engine->engine, so);
    if (!session.ok()) return FromStatus(session.status());
    *out_session = new kite_session{std::move(session).value()};
    return KITE_OK;
  });
}

void kite_session_destroy(kite_session* session) { delete session; }

uint64_t kite_session_kv_cache_bytes(const kite_session* session) {
  return session == nullptr ? 0 : session->session->kv_cache_bytes();
}

int32_t kite_session_position(const kite_session* session) {
  return session == nullptr ? 0 : static_cast<int32_t>(session->session->position());
}

kite_status kite_session_reset(kite_session* session) {
  if (session == nullptr) return Fail(KITE_INVALID_ARGUMENT, "session is required");
  session->session->Reset();
  return KITE_OK;
}

kite_status kite_session_truncate(kite_session* session, int32_t n) {
  if (session == nullptr || n < 0) return Fail(KITE_INVALID_ARGUMENT, "session is required and n must be >= 0");
  session->session->Truncate(n);
  return KITE_OK;
}

kite_status kite_session_tokens(const kite_session* session, int32_t* ids, size_t capacity, size_t* out_count) {
  if (session == nullptr || out_count == nullptr) return Fail(KITE_INVALID_ARGUMENT, "session and out_count are required");
  const std::vector<int32_t>& tokens = session->session->tokens();
  *out_count = tokens.size();
  if (ids != nullptr) std::copy(tokens.begin(), tokens.begin() + std::min(capacity, tokens.size()), ids);
  return KITE_OK;
}

kite_status kite_session_eval(kite_session* session, const int32_t* ids, size_t count, float* logits, int all_rows) {
  return Guard([&] {
    if (session == nullptr || ids == nullptr || count == 0) return Fail(KITE_INVALID_ARGUMENT, "session and at least one id are required");
    return FromStatus(session->session->Eval(ids, static_cast<int64_t>(count), logits, all_rows != 0));
  });
}

void kite_sampling_params_init(kite_sampling_params* p) {
  if (p == nullptr) return;
  std::memset(p, 0, sizeof(*p));
  p->struct_size = sizeof(*p);
  kite::SamplingParams d;
  p->temperature = d.temperature;
  p->top_k = d.top_k;
  p->top_p = d.top_p;
  p->min_p = d.min_p;
  p->repetition_penalty = d.repetition_penalty;
  p->seed = d.seed;
  p->max_tokens = 256;
}

kite_status kite_session_generate(kite_session* session, const int32_t* prompt, size_t prompt_count,
                                  const kite_sampling_params* params, kite_token_fn on_token, void* user,
                                  kite_generation_stats* out_stats) {
  return Guard([&] {
    if (session == nullptr || prompt == nullptr || prompt_count == 0) {
      return Fail(KITE_INVALID_ARGUMENT, "session and at least one prompt id are required");
    }
    kite_sampling_params defaults;
    kite_sampling_params_init(&defaults);
    kite_sampling_params p = ReadOptions(params, defaults);
    kite::GenerateOptions go;
    go.sampling.temperature = p.temperature;
    go.sampling.top_k = p.top_k;
    go.sampling.top_p = p.top_p;
    go.sampling.min_p = p.min_p;
    go.sampling.repetition_penalty = p.repetition_penalty;
    go.sampling.seed = p.seed;
    go.max_tokens = p.max_tokens;
    go.stop_on_eos = p.ignore_eos == 0;
    for (size_t i = 0; i < p.stop_string_count && p.stop_strings != nullptr; ++i) {
      if (p.stop_strings[i] != nullptr) go.stop_strings.emplace_back(p.stop_strings[i]);
    }
    kite::TokenCallback cb;
    if (on_token != nullptr) {
      cb = [&](int32_t id, const std::string& text) { return on_token(id, text.data(), text.size(), user) != 0; };
    }
    auto result = session->session->Generate(std::vector<int32_t>(prompt, prompt + prompt_count), go, cb);
    if (!result.ok()) return FromStatus(result.status());
    if (out_stats != nullptr) {
      kite_generation_stats stats;
      std::memset(&stats, 0, sizeof(stats));
      stats.struct_size = sizeof(stats);
      stats.prompt_tokens = static_cast<int32_t>(result->prompt_tokens);
      stats.generated_tokens = static_cast<int32_t>(result->ids.size());
      stats.prefill_ms = result->prefill_ms;
      stats.decode_ms = result->decode_ms;
      std::strncpy(stats.stop_reason, result->stop_reason.c_str(), sizeof(stats.stop_reason) - 1);
      size_t n = out_stats->struct_size > 0 && out_stats->struct_size < sizeof(stats) ? out_stats->struct_size : sizeof(stats);
      std::memcpy(out_stats, &stats, n);
    }
    return KITE_OK;
  });
}

}  // extern "C"
