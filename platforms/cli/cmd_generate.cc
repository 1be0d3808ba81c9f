// kite run (chat through the model's template, streaming, interactive without -p)
// and kite generate (raw completion, optionally as JSON).
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "platforms/cli/cli_args.h"
#include "platforms/cli/commands.h"

namespace kite_cli {
namespace {

const std::set<std::string> kSamplingFlags = {"--max-tokens", "--temp", "--top-k", "--top-p", "--min-p",
                                              "--repeat-penalty", "--seed", "--threads", "--ctx", "--stop", "--kv",
                                              "--xnnpack"};

// Reads the sampling flags shared by run and generate.
bool ReadSampling(Args& args, bool greedy_default, kite_sampling_params* p, int64_t* threads, int64_t* ctx) {
  kite_sampling_params_init(p);
  int64_t n = 0, top_k = 0, seed = 0;
  double temp = 0, top_p = 0, min_p = 0, penalty = 0;
  if (!args.GetInt("--max-tokens", 256, &n) || !args.GetFloat("--temp", greedy_default ? 0.0 : 0.7, &temp) ||
      !args.GetInt("--top-k", 40, &top_k) || !args.GetFloat("--top-p", 0.95, &top_p) ||
      !args.GetFloat("--min-p", 0.05, &min_p) || !args.GetFloat("--repeat-penalty", 1.1, &penalty) ||
      !args.GetInt("--seed", 0, &seed) || !args.GetInt("--threads", 0, threads) || !args.GetInt("--ctx", 0, ctx)) {
    std::fprintf(stderr, "error: %s\n", args.error().c_str());
    return false;
  }
  // Written so that NaN fails every check.
  if (!(n > 0) || !(top_k >= 0) || !(temp >= 0 && temp <= 100) || !(penalty > 0 && penalty <= 100) ||
      !(top_p > 0 && top_p <= 1) || !(min_p >= 0 && min_p <= 1) || *threads < 0 || *threads > 256 || *ctx < 0) {
    std::fprintf(stderr,
                 "error: sampling options out of range (need --max-tokens > 0, --top-k >= 0, 0 <= --temp <= 100, "
                 "0 < --repeat-penalty <= 100, 0 < --top-p <= 1, 0 <= --min-p <= 1, 0 <= --threads <= 256)\n");
    return false;
  }
  if (args.Has("--greedy")) temp = 0;
  p->max_tokens = static_cast<int32_t>(n);
  p->temperature = static_cast<float>(temp);
  p->top_k = static_cast<int32_t>(top_k);
  p->top_p = static_cast<float>(top_p);
  p->min_p = static_cast<float>(min_p);
  p->repetition_penalty = static_cast<float>(penalty);
  p->seed = static_cast<uint64_t>(seed);
  return true;
}

bool CreateSession(kite_engine* engine, const Args& args, int64_t threads, int64_t ctx, SessionHandle* handle) {
  kite_session_options options;
  kite_session_options_init(&options);
  if (!GetKvCacheType(args, "f16", &options.kv_cache_type)) return false;
  options.n_threads = static_cast<int32_t>(threads);
  options.context_tokens = static_cast<int32_t>(ctx);
  kite_status status = kite_session_create(engine, &options, &handle->session);
  if (status != KITE_OK) {
    ReportError("cannot start a session", status);
    return false;
  }
  return true;
}

int StreamToStdout(int32_t, const char* text, size_t size, void*) {
  std::fwrite(text, 1, size, stdout);
  std::fflush(stdout);
  return 1;
}

struct Collected {
  std::vector<int32_t> ids;
  std::string text;
  bool echo = false;
  std::string echo_first;  // printed before the first piece, so a failed start prints nothing
};

int CollectTokens(int32_t id, const char* text, size_t size, void* user) {
  Collected* c = static_cast<Collected*>(user);
  if (c->echo && !c->echo_first.empty()) {
    std::fwrite(c->echo_first.data(), 1, c->echo_first.size(), stdout);
    c->echo_first.clear();
  }
  if (id >= 0) c->ids.push_back(id);
  c->text.append(text, size);
  if (c->echo) StreamToStdout(id, text, size, nullptr);
  return 1;
}

void PrintStats(const kite_generation_stats& s) {
  std::fflush(stdout);
  const double tps = s.decode_ms > 0 ? s.generated_tokens * 1000.0 / s.decode_ms : 0;
  std::fprintf(stderr, "[prompt %d tokens in %.1f ms | %d tokens at %.1f tok/s | stop: %s]\n", s.prompt_tokens,
               s.prefill_ms, s.generated_tokens, tps, s.stop_reason);
}

// Evaluates only what the session has not seen: the longest common prefix of the
// conversation so far and the new prompt stays in the KV cache.
std::vector<int32_t> ReusePrefix(kite_session* session, const std::vector<int32_t>& prompt) {
  size_t count = 0;
  kite_session_tokens(session, nullptr, 0, &count);
  std::vector<int32_t> seen(count);
  kite_session_tokens(session, seen.data(), seen.size(), &count);
  size_t common = 0;
  while (common < seen.size() && common < prompt.size() && seen[common] == prompt[common]) ++common;
  if (common == prompt.size() && common > 0) --common;  // generation needs at least one new token
  kite_session_truncate(session, static_cast<int32_t>(common));
  return std::vector<int32_t>(prompt.begin() + common, prompt.end());
}

const char kRunHelp[] =
    "usage: kite run MODEL.kite [-p PROMPT] [--system TEXT] [--max-tokens N] [--temp T] [--top-k K]\n"
    "                [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S] [--greedy] [--threads N] [--kv f16|f32|q8]\n"
    "                [--ctx N] [--xnnpack auto|off|on|always] [--stats]\n"
    "Chats through the model's own chat template, streaming the answer. Without -p it reads one\n"
    "message per line from stdin (/reset clears the conversation, /quit or end of input ends).\n"
    "A model without a chat template continues the text instead.\n";

}  // namespace

int RunChat(int argc, char** argv) {
  Args args;
  std::set<std::string> values = kSamplingFlags;
  values.insert({"--prompt", "--system"});
  if (!args.Parse(argc, argv, values, {"--greedy", "--stats", "--help"}, {{"-p", "--prompt"}, {"-n", "--max-tokens"}, {"-h", "--help"}})) {
    std::fprintf(stderr, "error: %s\n%s", args.error().c_str(), kRunHelp);
    return 2;
  }
  if (args.Has("--help")) {
    std::printf("%s", kRunHelp);
    return 0;
  }
  if (args.positionals().size() != 1) {
    std::fprintf(stderr, "%s", kRunHelp);
    return 2;
  }
  kite_sampling_params params;
  int64_t threads = 0, ctx = 0;
  if (!ReadSampling(args, false, &params, &threads, &ctx)) return 2;
  int32_t xnnpack = 0;
  if (!GetXnnpackMode(args, &xnnpack)) return 2;
  EngineHandle engine;
  if (!OpenEngine(args.positionals()[0], &engine, /*reference_kernels=*/false, xnnpack)) return 1;
  kite_model_info info;
  info.struct_size = sizeof(info);
  kite_engine_info(engine.engine, &info);
  if (!info.has_tokenizer) {
    std::fprintf(stderr, "error: %s has no tokenizer (converted with --no-tokenizer); use `kite generate --ids`\n",
                 args.positionals()[0].c_str());
    return 1;
  }
  SessionHandle session;
  if (!CreateSession(engine.engine, args, threads, ctx, &session)) return 1;
  const bool interactive = !args.Has("--prompt");
  const bool chat = info.has_chat_template != 0;
  if (!chat) std::fprintf(stderr, "(this model has no chat template: kite run continues your text)\n");

  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (args.Has("--system")) messages.push_back({{"role", "system"}, {"content", args.Get("--system")}});
  auto turn = [&](const std::string& user_text) -> int {
    std::vector<int32_t> prompt;
    kite_status status;
    if (chat) {
      messages.push_back({{"role", "user"}, {"content", user_text}});
      kite_string rendered{nullptr, 0};
      status = kite_apply_chat_template(engine.engine, messages.dump().c_str(), nullptr, 1, &rendered);
      if (status != KITE_OK) {
        messages.erase(messages.size() - 1);
        return ReportError("chat template", status);
      }
      std::string text(rendered.data, rendered.size);
      kite_string_free(&rendered);
      status = Tokenize(engine.engine, text, true, false, &prompt);
    } else {
      kite_session_reset(session.session);
      status = Tokenize(engine.engine, user_text, true, true, &prompt);
    }
    if (status != KITE_OK) return ReportError("tokenize", status);
    std::vector<int32_t> fresh = chat ? ReusePrefix(session.session, prompt) : prompt;
    Collected reply;
    reply.echo = true;
    if (!chat) reply.echo_first = user_text;  // completion mode shows the text it continues
    kite_generation_stats stats;
    stats.struct_size = sizeof(stats);
    status = kite_session_generate(session.session, fresh.data(), fresh.size(), &params, CollectTokens, &reply, &stats);
    if (status == KITE_OK && !reply.echo_first.empty()) std::fputs(reply.echo_first.c_str(), stdout);
    std::printf("\n");
    std::fflush(stdout);
    if (status != KITE_OK) {
      if (chat) messages.erase(messages.size() - 1);
      return ReportError("generate", status);
    }
    if (chat) messages.push_back({{"role", "assistant"}, {"content", reply.text}});
    if (args.Has("--stats")) PrintStats(stats);
    return 0;
  };
  if (!interactive) return turn(args.Get("--prompt"));
  std::string line;
  for (;;) {
    std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (line == "/quit" || line == "/exit") break;
    if (line == "/reset") {
      messages = nlohmann::ordered_json::array();
      if (args.Has("--system")) messages.push_back({{"role", "system"}, {"content", args.Get("--system")}});
      kite_session_reset(session.session);
      continue;
    }
    if (line.empty()) continue;
    turn(line);  // an error is reported and the conversation goes on
  }
  return 0;
}

namespace {
const char kGenerateHelp[] =
    "usage: kite generate MODEL.kite (-p TEXT | --ids 1,2,3) [-n N] [--greedy] [--seed S] [--temp T]\n"
    "                     [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--stop STR]...\n"
    "                     [--threads N] [--ctx N] [--kv f16|f32|q8] [--xnnpack auto|off|on|always]\n"
    "                     [--ignore-eos] [--json] [--stats]\n"
    "Completes raw text (BOS added as the tokenizer says). --json prints\n"
    "{\"prompt_ids\": [...], \"ids\": [...], \"text\": \"...\"}. The default sampling is greedy\n"
    "when --greedy is given, else temperature 0.7 with top-k 40, top-p 0.95, min-p 0.05.\n";
}  // namespace

int RunGenerate(int argc, char** argv) {
  Args args;
  std::set<std::string> values = kSamplingFlags;
  values.insert({"--prompt", "--ids"});
  if (!args.Parse(argc, argv, values, {"--greedy", "--json", "--stats", "--ignore-eos", "--help"},
                  {{"-p", "--prompt"}, {"-n", "--max-tokens"}, {"-h", "--help"}})) {
    std::fprintf(stderr, "error: %s\n%s", args.error().c_str(), kGenerateHelp);
    return 2;
  }
  if (args.Has("--help")) {
    std::printf("%s", kGenerateHelp);
    return 0;
  }
  if (args.positionals().size() != 1 || args.Has("--prompt") == args.Has("--ids")) {
    std::fprintf(stderr, "%s", kGenerateHelp);
    return 2;
  }
  kite_sampling_params params;
  int64_t threads = 0, ctx = 0;
  if (!ReadSampling(args, false, &params, &threads, &ctx)) return 2;
  if (!args.Has("--repeat-penalty")) params.repetition_penalty = 1.0f;  // raw completion: no penalty unless asked
  params.ignore_eos = args.Has("--ignore-eos") ? 1 : 0;
  std::vector<std::string> stops = args.GetAll("--stop");
  std::vector<const char*> stop_ptrs;
  for (const std::string& s : stops) stop_ptrs.push_back(s.c_str());
  params.stop_strings = stop_ptrs.data();
  params.stop_string_count = stop_ptrs.size();

  int32_t xnnpack = 0;
  if (!GetXnnpackMode(args, &xnnpack)) return 2;
  EngineHandle engine;
  if (!OpenEngine(args.positionals()[0], &engine, /*reference_kernels=*/false, xnnpack)) return 1;
  std::vector<int32_t> prompt;
  if (args.Has("--ids")) {
    if (!ParseIdList(args.Get("--ids"), &prompt)) {
      std::fprintf(stderr, "error: --ids expects comma-separated integers, got '%s'\n", args.Get("--ids").c_str());
      return 2;
    }
  } else {
    kite_status status = Tokenize(engine.engine, args.Get("--prompt"), true, true, &prompt);
    if (status != KITE_OK) return ReportError("tokenize", status);
  }
  SessionHandle session;
  if (!CreateSession(engine.engine, args, threads, ctx, &session)) return 1;
  const bool json = args.Has("--json");
  Collected out;
  out.echo = !json;
  if (!json && args.Has("--prompt")) out.echo_first = args.Get("--prompt");
  kite_generation_stats stats;
  stats.struct_size = sizeof(stats);
  kite_status status =
      kite_session_generate(session.session, prompt.data(), prompt.size(), &params, CollectTokens, &out, &stats);
  if (status != KITE_OK) return ReportError("generate", status);
  if (out.echo && !out.echo_first.empty()) std::fputs(out.echo_first.c_str(), stdout);  // nothing was generated
  if (json) {
    nlohmann::json j = {{"prompt_ids", prompt}, {"ids", out.ids}, {"text", out.text}, {"stop_reason", stats.stop_reason}};
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
  }
  if (args.Has("--stats")) PrintStats(stats);
  return 0;
}

}  // namespace kite_cli
