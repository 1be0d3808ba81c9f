// kite-convert: a Hugging Face checkpoint folder -> a .kite artifact.
// Exit codes: 0 converted, 1 bad input or a conversion error, 2 usage error.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include "converter/convert.h"
#include "converter/progress_printer.h"
#include "runtime/artifact/artifact_writer.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

const char kUsage[] =
    "usage: kite-convert HF_DIR -o OUT.kite [options]\n"
    "\n"
    "Converts a Hugging Face checkpoint (config.json, *.safetensors, tokenizer files) into one\n"
    ".kite file. Architectures: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM,\n"
    "MistralForCausalLM, MixtralForCausalLM, Qwen3MoeForCausalLM, GPT2LMHeadModel,\n"
    "Gemma3ForCausalLM, DeepseekV2ForCausalLM, DeepseekV3ForCausalLM, Qwen2MoeForCausalLM.\n"
    "\n"
    "options:\n"
    "  -o, --output PATH        the artifact to write (required)\n"
    "  --quant SCHEME           f32 | f16 | q8 | q4 | mixed (default mixed: embeddings and\n"
    "                           lm_head q8, other matrices q4; norms and biases stay f32)\n"
    "  --group-size N           columns per q4 scale: 32 (default), 64 or 128\n"
    "  --override REGEX=SCHEME  matrices whose names contain a match of REGEX get SCHEME\n"
    "                           (f32, f16, q8 or q4); repeatable, the last match wins\n"
    "  --no-tokenizer           do not store a tokenizer (weights, config and template only)\n"
    "  --quiet                  print nothing but warnings and errors\n"
    "  -h, --help               show this help\n";

// The temporary file to remove if the user interrupts (signal handlers may only unlink).
char g_temp_path[4096];

void OnSignal(int signal_number) {
  if (g_temp_path[0] != '\0') unlink(g_temp_path);
  _exit(128 + signal_number);
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "kite-convert: error: %s\n(run kite-convert --help for usage)\n", message.c_str());
  return kExitUsage;
}

// "--name VALUE" or "--name=VALUE"; advances i past the value.
bool TakeValue(int argc, char** argv, int* i, const std::string& name, std::string* value, std::string* error) {
  const std::string arg = argv[*i];
  if (arg.size() > name.size() && arg.compare(0, name.size() + 1, name + "=") == 0) {
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

void PrintSummary(const kite::ConversionReport& r) {
  std::map<std::string, int> counts;
  for (const kite::TensorReport& t : r.tensors) {
    std::string dtype = kite::DTypeName(t.dtype);
    if (t.group_size > 0) dtype += "/g" + std::to_string(t.group_size);
    ++counts[dtype];
  }
  std::string mix;
  for (const auto& c : counts) mix += (mix.empty() ? "" : ", ") + std::to_string(c.second) + " " + c.first;
  std::printf("wrote %s: %s (checkpoint tensors %s), %zu tensors: %s\n", r.output_path.c_str(),
              kite::FormatBytes(r.output_bytes).c_str(), kite::FormatBytes(r.source_bytes).c_str(), r.tensors.size(),
              mix.c_str());
  std::printf("model: %s, %u layers, hidden %u, vocab %u; tokenizer: %s; chat template: %s\n",
              r.config.architecture.c_str(), r.config.num_layers, r.config.hidden_size, r.config.vocab_size,
              r.has_tokenizer ? "yes" : "no", r.has_chat_template ? "yes" : "no");
  std::printf("quantization %s: relative RMS error %.3e over all weights\n", kite::QuantSchemeName(r.scheme),
              r.total_error.relative_rms());
}

}  // namespace

int main(int argc, char** argv) {
  kite::ConvertOptions options;
  bool quiet = false;
  std::string error;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string value;
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (arg == "-o" || Matches(arg, "--output")) {
      if (!TakeValue(argc, argv, &i, arg == "-o" ? "-o" : "--output", &options.output_path, &error)) {
        return UsageError(error);
      }
    } else if (Matches(arg, "--quant")) {
      if (!TakeValue(argc, argv, &i, "--quant", &value, &error)) return UsageError(error);
      auto scheme = kite::ParseQuantScheme(value);
      if (!scheme.ok()) return UsageError(scheme.status().message());
      options.scheme = scheme.value();
    } else if (Matches(arg, "--group-size")) {
      if (!TakeValue(argc, argv, &i, "--group-size", &value, &error)) return UsageError(error);
      if (value != "32" && value != "64" && value != "128") {
        return UsageError("--group-size must be 32, 64 or 128 (got '" + value + "')");
      }
      options.group_size = std::atoi(value.c_str());
    } else if (Matches(arg, "--override")) {
      if (!TakeValue(argc, argv, &i, "--override", &value, &error)) return UsageError(error);
      options.overrides.push_back(value);
    } else if (arg == "--no-tokenizer") {
      options.include_tokenizer = false;
    } else if (arg == "--quiet") {
      quiet = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return UsageError("unknown option '" + arg + "'");
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 1) return UsageError("expected one checkpoint folder (HF_DIR), got " + std::to_string(positional.size()));
  if (options.output_path.empty()) return UsageError("missing -o OUT.kite");
  options.input_dir = positional[0];
  // Option values that ConvertCheckpoint would reject are usage errors, reported before any work.
  auto policy = kite::QuantPolicy::Create(options.scheme, options.group_size, options.overrides);
  if (!policy.ok()) return UsageError(policy.status().message());

  const std::string temp = kite::ArtifactTempPath(options.output_path);
  if (temp.size() < sizeof(g_temp_path)) std::memcpy(g_temp_path, temp.c_str(), temp.size() + 1);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGHUP, OnSignal);

  kite::ProgressPrinter printer(stderr, kite::ProgressPrinter::ChooseMode(stderr, quiet));
  auto report = kite::ConvertCheckpoint(options, [&](const kite::ConvertEvent& e) { printer(e); });
  printer.Finish();
  if (!report.ok()) {
    std::fprintf(stderr, "kite-convert: error: %s\n", report.status().message().c_str());
    return kExitError;
  }
  if (!quiet) PrintSummary(report.value());
  return kExitOk;
}
