// kite-convert as a user runs it: exit codes (0 ok, 1 bad input, 2 usage),
// the per-tensor lines on a non-terminal stderr, --quiet, --help.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include <filesystem>
#include <sys/wait.h>

#include "runtime/artifact/artifact.h"
#include "tests/test_paths.h"

namespace kite {
namespace {

using testing::SharedPath;
using testing::TempPath;

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CliRun Convert(const std::string& args) {
  const std::string out = TempPath("cli.stdout"), err = TempPath("cli.stderr");
  const std::string command = std::string(KITE_CONVERT_EXE) + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(command.c_str());
  CliRun run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = Slurp(out);
  run.err = Slurp(err);
  return run;
}

TEST(KiteConvertCli, ConvertsStoriesAndReports) {
  const std::string out = TempPath("cli_stories.kite");
  CliRun run = Convert(SharedPath("models/stories260K/hf") + " -o " + out + " --quant mixed");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // stderr is a file here: one line per tensor, no progress bar escapes.
  EXPECT_NE(run.err.find("[1/47] model.embed_tokens.weight"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("[47/47] model.norm.weight"), std::string::npos);
  EXPECT_NE(run.err.find("q4/g32"), std::string::npos);
  EXPECT_EQ(run.err.find('\r'), std::string::npos);
  EXPECT_NE(run.out.find("wrote " + out), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("47 tensors: 11 f32, 35 q4/g32, 1 q8"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("quantization mixed: relative RMS error"), std::string::npos);
  EXPECT_TRUE(Artifact::Open(out).ok());
}

TEST(KiteConvertCli, QuietAndOptionForms) {
  const std::string out = TempPath("cli_quiet.kite");
  CliRun run = Convert(SharedPath("models/random/qwen3") + " --output=" + out +
                    " --quant=q4 --group-size=64 --override 'down_proj=q8' --no-tokenizer --quiet");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "");
  auto a = Artifact::Open(out);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->Find("model.layers.0.mlp.down_proj.weight")->dtype, DType::kQ8);
  EXPECT_EQ((*a)->Find("model.layers.0.mlp.up_proj.weight")->group_size, 64);
}

TEST(KiteConvertCli, ExitCodes) {
  EXPECT_EQ(Convert("--help").exit_code, 0);
  EXPECT_NE(Convert("-h").out.find("usage: kite-convert HF_DIR -o OUT.kite"), std::string::npos);
  const std::string out = TempPath("cli_never.kite");
  const std::string llama = SharedPath("models/random/llama");
  // Usage errors: 2.
  EXPECT_EQ(Convert("").exit_code, 2);
  EXPECT_EQ(Convert(llama).exit_code, 2);  // no -o
  EXPECT_EQ(Convert(llama + " -o").exit_code, 2);
  EXPECT_EQ(Convert(llama + " " + llama + " -o " + out).exit_code, 2);
  CliRun bad_quant = Convert(llama + " -o " + out + " --quant q5");
  EXPECT_EQ(bad_quant.exit_code, 2);
  EXPECT_NE(bad_quant.err.find("unknown quantization 'q5'"), std::string::npos) << bad_quant.err;
  EXPECT_EQ(Convert(llama + " -o " + out + " --group-size 48").exit_code, 2);
  EXPECT_EQ(Convert(llama + " -o " + out + " --override '(=q8'").exit_code, 2);
  EXPECT_EQ(Convert(llama + " -o " + out + " --frobnicate").exit_code, 2);
  // Bad input: 1, with the reason on stderr.
  CliRun no_tok = Convert(llama + " -o " + out);
  EXPECT_EQ(no_tok.exit_code, 1);
  EXPECT_NE(no_tok.err.find("pass --no-tokenizer"), std::string::npos) << no_tok.err;
  const std::string mamba = TempPath("mamba_checkpoint");
  std::filesystem::create_directories(mamba);
  std::ofstream(mamba + "/config.json") << R"({"architectures": ["MambaForCausalLM"]})";
  CliRun unsupported = Convert(mamba + " -o " + out + " --no-tokenizer");
  EXPECT_EQ(unsupported.exit_code, 1);
  EXPECT_NE(unsupported.err.find("'MambaForCausalLM' is not supported"), std::string::npos) << unsupported.err;
  EXPECT_EQ(Convert(TempPath("missing_dir") + " -o " + out).exit_code, 1);
  EXPECT_FALSE(std::ifstream(out).good());
}

}  // namespace
}  // namespace kite
