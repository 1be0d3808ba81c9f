// kite-export-gguf: a Hugging Face checkpoint folder -> a GGUF file llama.cpp
// loads, for measuring Kite against llama.cpp on the same weights
// (benchmarks/peer). Exit codes: 0 written, 1 bad input or an export error,
// 2 usage error.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include "converter/gguf/gguf_export.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

const char kUsage[] =
    "usage: kite-export-gguf HF_DIR -o OUT.gguf [--type f16|q8_0|q4_0] [options]\n"
    "\n"
    "Writes a LlamaForCausalLM or Qwen2ForCausalLM checkpoint (config.json, *.safetensors,\n"
    "tokenizer files) as GGUF v3 for llama.cpp (arch 'llama' or 'qwen2').\n"
    "\n"
    "options:\n"
    "  -o, --output PATH   the GGUF file to write (required)\n"
    "  --type TYPE         f16 (default), q8_0 or q4_0 for the matrices; norms and biases\n"
    "                      stay F32; matrices with rows not a multiple of 32 fall back to F16\n"
    "  --pre NAME          tokenizer.ggml.pre for a byte-level BPE tokenizer (default: guessed,\n"
    "                      'qwen2' for Qwen2 models)\n"
    "  --name NAME         general.name (default: the folder's name)\n"
    "  --quiet             print only warnings and errors\n"
    "  -h, --help          show this help\n";

char g_temp_path[4096];  // removed if the user interrupts (signal handlers may only unlink)

void OnSignal(int signal_number) {
  if (g_temp_path[0] != '\0') unlink(g_temp_path);
  _exit(128 + signal_number);
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "kite-export-gguf: %s\n(run kite-export-gguf --help for usage)\n", message.c_str());
  return kExitUsage;
}

// "--name VALUE" or "--name=VALUE"; advances i past the value.
bool TakeValue(int argc, char** argv, int* i, const std::string& name, std::string* value, std::string* error) {
  const std::string arg = argv[*i];
  if (arg.compare(0, name.size() + 1, name + "=") == 0) {
    *value = arg.substr(name.size() + 1);
    return true;
  }
  if (*i + 1 >= argc) {
    *error = name + " needs a value";
    return false;
  }
  *value = argv[++*i];
  return true;
}

bool Matches(const std::string& arg, const std::string& name) {
  return arg == name || arg.compare(0, name.size() + 1, name + "=") == 0;
}

}  // namespace

int main(int argc, char** argv) {
  kite::gguf::ExportOptions options;
  bool quiet = false;
  std::string error, value;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (arg == "-o" || Matches(arg, "--output")) {
      if (!TakeValue(argc, argv, &i, arg == "-o" ? "-o" : "--output", &options.output, &error)) return UsageError(error);
    } else if (Matches(arg, "--type")) {
      if (!TakeValue(argc, argv, &i, "--type", &value, &error)) return UsageError(error);
      auto type = kite::gguf::ParseExportType(value);
      if (!type.ok()) return UsageError(type.status().message());
      options.type = type.value();
    } else if (Matches(arg, "--pre")) {
      if (!TakeValue(argc, argv, &i, "--pre", &options.pre_tokenizer, &error)) return UsageError(error);
    } else if (Matches(arg, "--name")) {
      if (!TakeValue(argc, argv, &i, "--name", &options.name, &error)) return UsageError(error);
    } else if (arg == "--quiet") {
      quiet = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return UsageError("unknown option '" + arg + "'");
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 1) return UsageError("expected one checkpoint folder (HF_DIR), got " + std::to_string(positional.size()));
  if (options.output.empty()) return UsageError("missing -o OUT.gguf");
  options.hf_dir = positional[0];

  const std::string temp = options.output + ".tmp";  // the name gguf::Writer writes to
  if (temp.size() < sizeof(g_temp_path)) std::memcpy(g_temp_path, temp.c_str(), temp.size() + 1);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGHUP, OnSignal);

  auto report = kite::gguf::ExportGguf(options);
  if (!report.ok()) {
    std::fprintf(stderr, "kite-export-gguf: %s\n", report.status().message().c_str());
    return kExitError;
  }
  const kite::gguf::ExportReport& r = report.value();
  for (const std::string& w : r.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (!quiet) {
    std::map<std::string, int> counts;
    int permuted = 0;
    for (const auto& t : r.tensors) {
      ++counts[kite::gguf::TensorTypeName(t.type)];
      permuted += t.permuted ? 1 : 0;
    }
    std::string mix;
    for (const auto& c : counts) mix += (mix.empty() ? "" : ", ") + std::to_string(c.second) + " " + c.first;
    std::printf("wrote %s: %.1f MB, arch %s, tokenizer %s, %zu tensors (%s)%s\n", options.output.c_str(),
                r.file_bytes / 1e6, r.architecture.c_str(), r.tokenizer_model.c_str(), r.tensors.size(), mix.c_str(),
                permuted > 0 ? (", " + std::to_string(permuted) + " q/k permuted for llama RoPE").c_str() : "");
  }
  return kExitOk;
}
