// `kite`: chat with, inspect and benchmark .kite models. Built on kite.h only.
#include <cstdio>
#include <cstring>
#include <string>

#include "platforms/cli/commands.h"
#include "runtime/c_api/kite.h"

namespace {

const char kUsage[] =
    "kite %s — on-device LLM runtime\n"
    "\n"
    "usage: kite COMMAND MODEL.kite [options]\n"
    "\n"
    "commands:\n"
    "  run       chat with the model's template, streaming (no -p: interactive)\n"
    "  generate  raw completion of a prompt (-p TEXT or --ids 1,2,3)\n"
    "  tokenize  print the ids of TEXT as a JSON list (special tokens parsed)\n"
    "  template  render the chat template for --messages FILE.json [--tools FILE.json]\n"
    "  logits    write raw f32 logits [n_ids, vocab] for --ids to -o OUT.f32\n"
    "  inspect   describe the artifact (--json for machine-readable output)\n"
    "  verify    recompute every tensor checksum; exit code 1 on any problem\n"
    "  bench     prefill/decode tokens/s, time to first token, memory, roofline fraction\n"
    "\n"
    "Run `kite COMMAND --help` for the options of a command.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fprintf(argc < 2 ? stderr : stdout, kUsage, kite_version());
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("kite %s\n", kite_version());
    return 0;
  }
  const std::string command = argv[1];
  int sub_argc = argc - 2;
  char** sub_argv = argv + 2;
  if (command == "run" || command == "chat") return kite_cli::RunChat(sub_argc, sub_argv);
  if (command == "generate") return kite_cli::RunGenerate(sub_argc, sub_argv);
  if (command == "tokenize") return kite_cli::RunTokenize(sub_argc, sub_argv);
  if (command == "template") return kite_cli::RunTemplate(sub_argc, sub_argv);
  if (command == "logits") return kite_cli::RunLogits(sub_argc, sub_argv);
  if (command == "inspect") return kite_cli::RunInspect(sub_argc, sub_argv);
  if (command == "verify") return kite_cli::RunVerify(sub_argc, sub_argv);
  if (command == "bench") return kite_cli::RunBench(sub_argc, sub_argv);
  std::fprintf(stderr, "error: unknown command '%s'\n\n", command.c_str());
  std::fprintf(stderr, kUsage, kite_version());
  return 2;
}
