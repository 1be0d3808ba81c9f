// kite tokenize, template, logits, inspect and verify: the small commands that
// expose one runtime capability each, in a form scripts and tests can check.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "platforms/cli/cli_args.h"
#include "platforms/cli/commands.h"

namespace kite_cli {
namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

int Usage(const char* text, const Args& args) {
  if (!args.error().empty()) std::fprintf(stderr, "error: %s\n", args.error().c_str());
  std::fprintf(stderr, "%s", text);
  return 2;
}

}  // namespace

int RunTokenize(int argc, char** argv) {
  const char* help =
      "usage: kite tokenize MODEL.kite TEXT [--add-special] [--no-parse-special]\n"
      "Prints the ids of TEXT as a JSON list. Special tokens written in TEXT are parsed;\n"
      "BOS/EOS are added only with --add-special.\n";
  Args args;
  if (!args.Parse(argc, argv, {}, {"--add-special", "--no-parse-special", "--help"}) || args.positionals().size() != 2) {
    if (args.Has("--help")) {
      std::printf("%s", help);
      return 0;
    }
    return Usage(help, args);
  }
  EngineHandle engine;
  if (!OpenEngine(args.positionals()[0], &engine)) return 1;
  std::vector<int32_t> ids;
  kite_status status =
      Tokenize(engine.engine, args.positionals()[1], !args.Has("--no-parse-special"), args.Has("--add-special"), &ids);
  if (status != KITE_OK) return ReportError("tokenize", status);
  std::printf("%s\n", nlohmann::json(ids).dump().c_str());
  return 0;
}

int RunTemplate(int argc, char** argv) {
  const char* help =
      "usage: kite template MODEL.kite --messages FILE.json [--tools FILE.json] [--add-generation-prompt]\n"
      "Prints the prompt the model's chat template renders, byte for byte, with no trailing newline.\n";
  Args args;
  if (!args.Parse(argc, argv, {"--messages", "--tools"}, {"--add-generation-prompt", "--help"}) ||
      args.positionals().size() != 1 || !args.Has("--messages")) {
    if (args.Has("--help")) {
      std::printf("%s", help);
      return 0;
    }
    return Usage(help, args);
  }
  std::string messages, tools;
  if (!ReadFile(args.Get("--messages"), &messages)) {
    std::fprintf(stderr, "error: cannot read messages file '%s'\n", args.Get("--messages").c_str());
    return 1;
  }
  if (args.Has("--tools") && !ReadFile(args.Get("--tools"), &tools)) {
    std::fprintf(stderr, "error: cannot read tools file '%s'\n", args.Get("--tools").c_str());
    return 1;
  }
  EngineHandle engine;
  if (!OpenEngine(args.positionals()[0], &engine)) return 1;
  kite_string out{nullptr, 0};
  kite_status status = kite_apply_chat_template(engine.engine, messages.c_str(), args.Has("--tools") ? tools.c_str() : nullptr,
                                                args.Has("--add-generation-prompt") ? 1 : 0, &out);
  if (status != KITE_OK) return ReportError("chat template", status);
  std::fwrite(out.data, 1, out.size, stdout);
  kite_string_free(&out);
  return 0;
}

int RunLogits(int argc, char** argv) {
  const char* help =
      "usage: kite logits MODEL.kite --ids 1,2,3 -o OUT.f32 [--threads N] [--reference] [--kv f32|f16|q8]\n"
      "                   [--xnnpack auto|off|on|always]\n"
      "Writes little-endian f32 logits, row-major [n_ids, vocab]: row p follows token p.\n"
      "--reference uses the scalar reference kernels; the K/V cache is f32 unless --kv says otherwise.\n";
  Args args;
  if (!args.Parse(argc, argv, {"--ids", "--output", "--threads", "--kv", "--xnnpack"}, {"--reference", "--help"}, {{"-o", "--output"}}) ||
      args.positionals().size() != 1 || !args.Has("--ids") || !args.Has("--output")) {
    if (args.Has("--help")) {
      std::printf("%s", help);
      return 0;
    }
    return Usage(help, args);
  }
  std::vector<int32_t> ids;
  if (!ParseIdList(args.Get("--ids"), &ids)) {
    std::fprintf(stderr, "error: --ids expects comma-separated integers, got '%s'\n", args.Get("--ids").c_str());
    return 2;
  }
  int64_t threads = 0;
  if (!args.GetInt("--threads", 0, &threads)) return Usage(help, args);
  int32_t xnnpack = 0;
  if (!GetXnnpackMode(args, &xnnpack)) return 2;
  EngineHandle engine;
  if (!OpenEngine(args.positionals()[0], &engine, args.Has("--reference"), xnnpack)) return 1;
  kite_model_info info;
  info.struct_size = sizeof(info);
  kite_engine_info(engine.engine, &info);
  kite_session_options options;
  kite_session_options_init(&options);
  options.n_threads = static_cast<int32_t>(threads);
  options.context_tokens = static_cast<int32_t>(ids.size());
  if (!GetKvCacheType(args, "f32", &options.kv_cache_type)) return 2;
  SessionHandle session;
  kite_status status = kite_session_create(engine.engine, &options, &session.session);
  if (status != KITE_OK) return ReportError("cannot start a session", status);
  std::vector<float> logits(ids.size() * static_cast<size_t>(info.vocab_size));
  status = kite_session_eval(session.session, ids.data(), ids.size(), logits.data(), 1);
  if (status != KITE_OK) return ReportError("evaluate", status);
  const std::string out_path = args.Get("--output");
  const std::string tmp = out_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
    if (!out) {
      std::remove(tmp.c_str());
      std::fprintf(stderr, "error: cannot write '%s'\n", out_path.c_str());
      return 1;
    }
  }
  if (std::rename(tmp.c_str(), out_path.c_str()) != 0) {
    std::remove(tmp.c_str());
    std::fprintf(stderr, "error: cannot write '%s'\n", out_path.c_str());
    return 1;
  }
  return 0;
}

int RunInspect(int argc, char** argv) {
  const char* help =
      "usage: kite inspect MODEL.kite [--json] [--tensors] [--xnnpack auto|off|on|always]\n"
      "Describes the artifact: architecture, shapes, quantization, sizes, KV-cache bytes per token and\n"
      "weight bytes read per decoded token.\n";
  Args args;
  if (!args.Parse(argc, argv, {"--xnnpack"}, {"--json", "--tensors", "--help"}) || args.positionals().size() != 1) {
    if (args.Has("--help")) {
      std::printf("%s", help);
      return 0;
    }
    return Usage(help, args);
  }
  int32_t xnnpack = 0;
  if (!GetXnnpackMode(args, &xnnpack)) return 2;
  EngineHandle engine;
  if (!OpenEngine(args.positionals()[0], &engine, /*reference_kernels=*/false, xnnpack)) return 1;
  kite_string described{nullptr, 0};
  kite_status status = kite_engine_describe(engine.engine, &described);
  if (status != KITE_OK) return ReportError("inspect", status);
  nlohmann::json j = nlohmann::json::parse(std::string(described.data, described.size));
  kite_string_free(&described);
  if (args.Has("--json")) {
    if (!args.Has("--tensors")) j.erase("tensors");
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  const nlohmann::json& c = j["config"];
  std::printf("file            %s (%.2f MB, format v%d, %s)\n", j["path"].get<std::string>().c_str(),
              j["file_bytes"].get<double>() / 1e6, j["format_version"].get<int>(), j["producer"].get<std::string>().c_str());
  std::printf("architecture    %s\n", j["architecture"].get<std::string>().c_str());
  std::printf("shape           %d layers, hidden %d, ffn %d, %d heads / %d kv heads x %d, vocab %d\n",
              c["num_layers"].get<int>(), c["hidden_size"].get<int>(), c["intermediate_size"].get<int>(),
              c["num_heads"].get<int>(), c["num_kv_heads"].get<int>(), c["head_dim"].get<int>(), c["vocab_size"].get<int>());
  std::printf("context         %d positions, rope theta %g (%s scaling)\n", c["max_position_embeddings"].get<int>(),
              c["rope_theta"].get<double>(), c["rope_scaling"]["type"].get<std::string>().c_str());
  std::printf("quantization    %s (group %d), relative RMS error %.3g\n",
              j["quantization"]["scheme"].get<std::string>().c_str(), j["quantization"]["group_size"].get<int>(),
              j["quantization"]["relative_rms_error"].get<double>());
  std::printf("weights         %.2f MB; %.2f MB read per decoded token\n", j["weight_bytes"].get<double>() / 1e6,
              j["weight_bytes_per_token"].get<double>() / 1e6);
  PrintXnnpackPacking(engine.engine, "xnnpack         ");
  const nlohmann::json& f = j["features"];
  if (f.is_object() && f.value("kv_lora_rank", 0) > 0) {
    std::printf("kv cache        %.1f KB per token (f32)", j["kv_bytes_per_token"].get<double>() / 1024);
  } else {  // sessions keep K/V rows in f16 unless asked otherwise (--kv)
    std::printf("kv cache        %.1f KB per token in the default f16 cache (%.1f KB as f32)",
                j["kv_bytes_per_token"].get<double>() / 2048, j["kv_bytes_per_token"].get<double>() / 1024);
  }
  if (f.is_object() && f.value("kv_lora_rank", 0) > 0) {
    std::printf(": latent %d + rope key %d floats per layer (multi-head latent attention)",
                f["kv_lora_rank"].get<int>(), f["qk_rope_head_dim"].get<int>());
  }
  if (f.is_object() && f.value("sliding_layers", 0) > 0) {
    std::printf("\n                + %.1f KB fixed: ring buffers of %d sliding-window layers (window %d, batch 64)",
                j["kv_window_bytes"].get<double>() / 1024, f["sliding_layers"].get<int>(), f["sliding_window"].get<int>());
  }
  std::printf("\n");
  if (f.is_object() && f.value("sparse_layers", 0) > 0) {
    std::printf("experts         %d routed, %d per token, %d shared, on %d of %d layers (decode reads only those chosen)\n",
                f["num_experts"].get<int>(), f["num_experts_per_tok"].get<int>(), f["num_shared_experts"].get<int>(),
                f["sparse_layers"].get<int>(), c["num_layers"].get<int>());
  }
  std::printf("tokenizer       %s\n", j["tokenizer"].is_null() ? "none (ids in/out)"
                                                                : (std::to_string(j["tokenizer"]["vocab_size"].get<int>()) + " tokens").c_str());
  std::printf("chat template   %s\n", j["chat_template"].get<bool>() ? "yes" : "no");
  std::printf("kernels         %s\n", j["kernels"].get<std::string>().c_str());
  if (args.Has("--tensors")) {
    for (const auto& t : j["tensors"]) {
      std::printf("  %-48s %-5s %10.1f KB  %s\n", t["name"].get<std::string>().c_str(), t["dtype"].get<std::string>().c_str(),
                  t["bytes"].get<double>() / 1024, t["shape"].dump().c_str());
    }
  }
  return 0;
}

namespace {
void VerifyProgress(uint64_t done, uint64_t total, void*) {
  if (total == 0) return;
  std::fprintf(stderr, "\rverifying %3d%%", static_cast<int>(done * 100 / total));
}
}  // namespace

int RunVerify(int argc, char** argv) {
  const char* help = "usage: kite verify MODEL.kite\nChecks the header and every tensor's checksum.\n";
  Args args;
  if (!args.Parse(argc, argv, {}, {"--help"}) || args.positionals().size() != 1) {
    if (args.Has("--help")) {
      std::printf("%s", help);
      return 0;
    }
    return Usage(help, args);
  }
  kite_status status = kite_verify_artifact(args.positionals()[0].c_str(), VerifyProgress, nullptr);
  std::fprintf(stderr, "\n");
  if (status != KITE_OK) return ReportError("verify " + args.positionals()[0], status);
  std::printf("%s: ok\n", args.positionals()[0].c_str());
  return 0;
}

}  // namespace kite_cli
