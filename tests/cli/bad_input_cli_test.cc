// Bad input to `kite` and `kite-convert`: every case must end with exit code 1 (bad input)
// or 2 (usage), a clear "error:" line that names the problem, and never a signal or a hang.
// The converter must not leave OUT or OUT.tmp-* behind when it fails.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <csignal>
#include <filesystem>
#include <functional>

#include <gtest/gtest.h>

#include "tests/cli/cli_test_util.h"
#include "tests/test_paths.h"

namespace kite {
namespace cli_test {
namespace {

using testing::SharedPath;
using testing::TempPath;

const char kLongPrompt[] = "Once upon a time there was a little girl named Lily who loved to play outside";

// Writes bytes to a fresh temp file called name (a damaged copy of a model, or not a model at all).
std::string BadCopy(const std::string& name, const std::string& bytes) {
  const std::string path = TempPath(name);
  WriteFile(path, bytes);
  return path;
}

// `kite inspect`, `kite verify` and `kite tokenize` must each reject path with exit 1 and an error line
// containing every needle.
void ExpectRejected(const std::string& path, const std::vector<std::string>& needles) {
  for (const char* command : {"inspect", "verify", "tokenize"}) {
    SCOPED_TRACE(std::string("kite ") + command + " " + path);
    std::vector<std::string> args = {command, path};
    if (std::strcmp(command, "tokenize") == 0) args.push_back("hello");
    ProcessResult r = Kite(args);
    EXPECT_TRUE(ExitedWith(r, 1)) << r.Describe();
    EXPECT_TRUE(HasErrorLine(r, needles)) << r.Describe();
    EXPECT_TRUE(r.out.empty() || std::strcmp(command, "verify") == 0) << r.out;
  }
}

// The harness itself: a crash or a hang must show up as such, never as an exit code.
TEST(CliHarness, ReportsSignalsTimeoutsAndStdin) {
  ProcessResult crash = RunProcess({"/bin/sh", "-c", "kill -SEGV $$"});
  EXPECT_EQ(crash.signal_number, SIGSEGV) << crash.Describe();
  EXPECT_FALSE(ExitedWith(crash, 0));
  EXPECT_FALSE(ExitedWith(crash, 1));
  RunOptions quick;
  quick.timeout_s = 0.5;
  ProcessResult hang = RunProcess({"/bin/sleep", "30"}, quick);
  EXPECT_TRUE(hang.timed_out);
  EXPECT_FALSE(ExitedWith(hang, 0));
  RunOptions input;
  input.stdin_text = std::string(1 << 20, 'x');  // more than a pipe buffer
  ProcessResult echo = RunProcess({"/bin/sh", "-c", "wc -c; echo oops >&2; exit 3"}, input);
  EXPECT_TRUE(ExitedWith(echo, 3)) << echo.Describe();
  EXPECT_EQ(echo.out, "1048576\n");
  EXPECT_EQ(echo.err, "oops\n");
}

TEST(BadModelFile, Missing) {
  const std::string path = TempPath("no_such_model.kite");
  ExpectRejected(path, {path, "no such file"});
}

TEST(BadModelFile, Directory) {
  const std::string dir = TempPath("a_directory.kite");
  std::filesystem::create_directories(dir);
  ExpectRejected(dir, {dir, "not a regular file"});
}

TEST(BadModelFile, Empty) {
  ExpectRejected(BadCopy("empty.kite", ""), {"empty.kite", "0 bytes"});
}

TEST(BadModelFile, TruncatedToHalf) {
  const std::string& model = StoriesKite("f32");
  ASSERT_FALSE(model.empty());
  const std::string bytes = ReadFile(model);
  ExpectRejected(BadCopy("half.kite", bytes.substr(0, bytes.size() / 2)), {"half.kite", "truncated"});
}

TEST(BadModelFile, WrongMagic) {
  const std::string& model = StoriesKite("f32");
  ASSERT_FALSE(model.empty());
  std::string bytes = ReadFile(model);
  bytes.replace(0, 4, "GGUF");
  ExpectRejected(BadCopy("magic.kite", bytes), {"magic.kite", "not a .kite file"});
}

TEST(BadModelFile, TextFileRenamed) {
  // A few KB of Markdown, past any fixed-size preamble.
  const std::string text = ReadFile(SharedPath("models/README.md")).substr(0, 4096);
  ASSERT_EQ(text.size(), 4096u);
  ExpectRejected(BadCopy("readme.kite", text), {"readme.kite", "not a .kite file"});
}

TEST(BadModelFile, FlippedWeightByteFailsVerifyNamingTheTensor) {
  const std::string& model = StoriesKite("f32");
  ASSERT_FALSE(model.empty());
  // Find one tensor's bytes: f32 weights are stored verbatim, so the tensor's data from
  // model.safetensors appears as-is in the artifact.
  const std::string st = ReadFile(SharedPath("models/stories260K/hf/model.safetensors"));
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, st.data(), 8);
  const nlohmann::json header = nlohmann::json::parse(st.substr(8, header_bytes));
  const std::string tensor = "model.layers.2.mlp.down_proj.weight";
  const uint64_t begin = header[tensor]["data_offsets"][0].get<uint64_t>() + 8 + header_bytes;
  const uint64_t end = header[tensor]["data_offsets"][1].get<uint64_t>() + 8 + header_bytes;
  const std::string tensor_bytes = st.substr(begin, end - begin);
  std::string bytes = ReadFile(model);
  const size_t at = bytes.find(tensor_bytes);
  ASSERT_NE(at, std::string::npos) << "the f32 artifact does not hold " << tensor << " verbatim";
  bytes[at + tensor_bytes.size() / 2] ^= 0x10;
  const std::string flipped = BadCopy("flipped.kite", bytes);
  ProcessResult r = Kite({"verify", flipped});
  EXPECT_TRUE(ExitedWith(r, 1)) << r.Describe();
  EXPECT_TRUE(HasErrorLine(r, {tensor})) << r.Describe();
  // The untouched artifact still verifies: the failure is the flipped byte.
  EXPECT_TRUE(ExitedWith(Kite({"verify", model}), 0));
}

// ---- kite-convert ----

// Runs a conversion that must fail; OUT must not appear, nor any OUT.tmp-* next to it.
ProcessResult ExpectConvertFails(const std::vector<std::string>& args, const std::string& out,
                                  const std::vector<std::string>& needles) {
  std::vector<std::string> full = args;
  full.insert(full.end(), {"-o", out});
  ProcessResult r = KiteConvert(full);
  EXPECT_TRUE(ExitedWith(r, 1)) << r.Describe();
  // What the message says, whatever its prefix...
  EXPECT_TRUE(HasLine(r, {"error:", "kite-convert:"}, needles)) << r.Describe();
  // ...and the CLI contract: failures are reported on an "error:" line, like `kite` does.
  EXPECT_TRUE(HasErrorLine(r, {})) << "no \"error:\" line\n" << r.Describe();
  EXPECT_FALSE(FileExists(out));
  const std::filesystem::path out_path(out);
  EXPECT_TRUE(ListWithPrefix(out_path.parent_path().string(), out_path.filename().string()).empty());
  return r;
}

TEST(KiteConvertBadInput, MissingDirectory) {
  const std::string dir = TempPath("no_such_checkpoint");
  ExpectConvertFails({dir}, TempPath("missing_dir.kite"), {dir});
}

TEST(KiteConvertBadInput, DirectoryWithoutConfig) {
  const std::string dir = TempPath("no_config");
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(SharedPath("models/stories260K/hf/model.safetensors"), dir + "/model.safetensors");
  ExpectConvertFails({dir}, TempPath("no_config.kite"), {"config.json"});
}

// random/llama with its config.json edited: an architecture Kite does not convert (the shared
// random/gpt2 checkpoint became convertible when GPT-2 support landed), or none at all.
std::string LlamaCheckpointWithConfig(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  const std::string dir = TempPath(name);
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(SharedPath("models/random/llama/model.safetensors"), dir + "/model.safetensors");
  nlohmann::json config = ReadJson(SharedPath("models/random/llama/config.json"));
  edit(config);
  WriteFile(dir + "/config.json", config.dump(2));
  return dir;
}

TEST(KiteConvertBadInput, UnsupportedArchitecture) {
  const std::string mamba = LlamaCheckpointWithConfig("mamba_checkpoint", [](nlohmann::json& c) {
    c["architectures"] = {"MambaForCausalLM"};
    c["model_type"] = "mamba";
  });
  ExpectConvertFails({mamba, "--no-tokenizer"}, TempPath("mamba.kite"), {"MambaForCausalLM"});
  // The architecture is reported before the missing tokenizer: it is the bigger problem.
  ExpectConvertFails({mamba}, TempPath("mamba_tok.kite"), {"MambaForCausalLM"});
  const std::string none = LlamaCheckpointWithConfig("no_arch_checkpoint", [](nlohmann::json& c) { c.erase("architectures"); });
  ExpectConvertFails({none, "--no-tokenizer"}, TempPath("no_arch.kite"), {"architectures"});
}

TEST(KiteConvertBadInput, NoTokenizerSuggestsFlag) {
  ExpectConvertFails({SharedPath("models/random/llama")}, TempPath("llama.kite"), {"tokenizer", "--no-tokenizer"});
  // With the flag the same folder converts.
  const std::string out = TempPath("llama_no_tok.kite");
  ProcessResult r = KiteConvert({SharedPath("models/random/llama"), "-o", out, "--no-tokenizer", "--quiet"});
  EXPECT_TRUE(ExitedWith(r, 0)) << r.Describe();
  EXPECT_TRUE(FileExists(out));
}

// A copy of stories260K/hf whose model.safetensors is replaced by weights.
std::string StoriesCheckpointWith(const std::string& name, const std::string& weights) {
  const std::string dir = TempPath(name);
  std::filesystem::create_directories(dir);
  for (const char* file : {"config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
    std::filesystem::copy_file(SharedPath(std::string("models/stories260K/hf/") + file), dir + "/" + file);
  }
  WriteFile(dir + "/model.safetensors", weights);
  return dir;
}

TEST(KiteConvertBadInput, TruncatedWeights) {
  const std::string weights = ReadFile(SharedPath("models/stories260K/hf/model.safetensors"));
  const std::string dir = StoriesCheckpointWith("truncated_checkpoint", weights.substr(0, weights.size() * 6 / 10));
  ExpectConvertFails({dir}, TempPath("truncated.kite"), {"model.safetensors"});
}

TEST(KiteConvertBadInput, FailureWhileWritingKeepsAnExistingOutput) {
  // A NaN in the last layer's down_proj is found while that tensor is encoded, after the
  // earlier tensors were already written to the temporary file.
  std::string weights = ReadFile(SharedPath("models/stories260K/hf/model.safetensors"));
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, weights.data(), 8);
  const nlohmann::json header = nlohmann::json::parse(weights.substr(8, header_bytes));
  const std::string tensor = "model.layers.4.mlp.down_proj.weight";
  const uint64_t at = 8 + header_bytes + header[tensor]["data_offsets"][0].get<uint64_t>() + 4 * 100;
  const float nan = std::nanf("");
  std::memcpy(&weights[at], &nan, 4);
  const std::string dir = StoriesCheckpointWith("nan_checkpoint", weights);
  ExpectConvertFails({dir}, TempPath("nan.kite"), {tensor, "nan"});
  // A failed conversion leaves an existing OUT exactly as it was, and no temporary file.
  const std::string out = TempPath("existing.kite");
  WriteFile(out, "previous contents");
  ProcessResult r = KiteConvert({dir, "-o", out});
  EXPECT_TRUE(ExitedWith(r, 1)) << r.Describe();
  EXPECT_EQ(ReadFile(out), "previous contents");
  EXPECT_EQ(ListWithPrefix(TempPath(""), "existing.kite").size(), 1u);
}

TEST(KiteConvertBadInput, UsageErrors) {
  const std::string hf = SharedPath("models/stories260K/hf");
  const std::string out = TempPath("usage.kite");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {}, {hf}, {hf, "-o"}, {hf, "-o", out, "--quant", "q5"}, {hf, "-o", out, "--group-size", "48"},
           {hf, "-o", out, "--frobnicate"}}) {
    ProcessResult r = KiteConvert(args);
    EXPECT_TRUE(ExitedWith(r, 2)) << r.Describe();
    EXPECT_FALSE(r.err.empty()) << r.Describe();
  }
  EXPECT_FALSE(FileExists(out));
}

// ---- kite commands on a valid model ----

TEST(KiteBadInput, PromptLongerThanContext) {
  const std::string& model = StoriesKite("f32");
  ASSERT_FALSE(model.empty());
  ProcessResult r = Kite({"generate", model, "--ctx", "8", "-p", kLongPrompt, "--json"});
  EXPECT_TRUE(ExitedWith(r, 1)) << r.Describe();
  EXPECT_TRUE(HasErrorLine(r, {"context"})) << r.Describe();
  // A context larger than the model's maximum (512) is refused up front.
  ProcessResult big = Kite({"generate", model, "--ctx", "100000", "-p", "hi"});
  EXPECT_TRUE(ExitedWith(big, 1)) << big.Describe();
  EXPECT_TRUE(HasErrorLine(big, {"100000"})) << big.Describe();
}

TEST(KiteBadInput, OutOfVocabularyIds) {
  const std::string& model = StoriesKite("f32");
  ASSERT_FALSE(model.empty());
  for (const std::string ids : {"99999", "1,-1", "1,512"}) {
    SCOPED_TRACE(ids);
    ProcessResult r = Kite({"generate", model, "--ids", ids, "-n", "4"});
    EXPECT_TRUE(ExitedWith(r, 1)) << r.Describe();
    EXPECT_TRUE(HasErrorLine(r, {"vocabulary"})) << r.Describe();
  }
  const std::string out = TempPath("oov_logits.f32");
  ProcessResult logits = Kite({"logits", model, "--ids", "1,99999", "-o", out});
  EXPECT_TRUE(ExitedWith(logits, 1)) << logits.Describe();
  EXPECT_TRUE(HasErrorLine(logits, {"99999", "vocabulary"})) << logits.Describe();
  EXPECT_FALSE(FileExists(out));
}

TEST(KiteBadInput, UsageErrorsExitTwo) {
  const std::string& model = StoriesKite("f32");
  ASSERT_FALSE(model.empty());
  const std::string out = TempPath("usage_logits.f32");
  ProcessResult ids = Kite({"logits", model, "--ids", "1,x", "-o", out});
  EXPECT_TRUE(ExitedWith(ids, 2)) << ids.Describe();
  EXPECT_TRUE(HasErrorLine(ids, {"--ids", "1,x"})) << ids.Describe();
  EXPECT_FALSE(FileExists(out));
  ProcessResult command = Kite({"frobnicate", model});
  EXPECT_TRUE(ExitedWith(command, 2)) << command.Describe();
  EXPECT_TRUE(HasErrorLine(command, {"unknown command", "frobnicate"})) << command.Describe();
  ProcessResult flag = Kite({"generate", model, "-p", "hi", "--frobnicate"});
  EXPECT_TRUE(ExitedWith(flag, 2)) << flag.Describe();
  EXPECT_TRUE(HasErrorLine(flag, {"unknown option", "--frobnicate"})) << flag.Describe();
  EXPECT_TRUE(flag.out.empty()) << flag.out;
  // Each command with a missing value, a malformed number or no model at all.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"generate", model},
           {"generate", model, "-p"},
           {"generate", model, "-p", "hi", "-n", "many"},
           {"generate", model, "-p", "hi", "-n", "0"},
           {"generate", model, "-p", "hi", "-n", "4", "--temp", "nan"},  // NaN passes a plain `temp < 0` check
           {"generate", model, "-p", "hi", "-n", "4", "--repeat-penalty", "nan"},
           {"generate", model, "-p", "hi", "--ids", "1"},
           {"run", model, "--temp", "hot"},
           {"tokenize", model},
           {"template", model},
           {"logits", model, "--ids", "1,2"},
           {"inspect"},
           {"verify", model, model},
           {"bench", model, "--tests", "pp0"},
           {"bench", model, "--reps", "0"}}) {
    ProcessResult r = Kite(args);
    EXPECT_TRUE(ExitedWith(r, 2)) << r.Describe();
    EXPECT_FALSE(r.err.empty()) << r.Describe();
  }
}

TEST(KiteBadInput, MalformedMessagesJson) {
  const std::string& model = TinyQwenKite();
  ASSERT_FALSE(model.empty());
  const std::string messages = TempPath("malformed_messages.json");
  WriteFile(messages, "[{\"role\": \"user\", \"content\": ");
  ProcessResult r = Kite({"template", model, "--messages", messages});
  EXPECT_TRUE(ExitedWith(r, 1)) << r.Describe();
  EXPECT_TRUE(HasErrorLine(r, {"json"})) << r.Describe();
  EXPECT_TRUE(r.out.empty()) << r.out;
  // Valid JSON of the wrong shape, malformed tools, and a messages file that is not there.
  const std::string object = TempPath("object_messages.json");
  WriteFile(object, "{\"role\": \"user\", \"content\": \"hi\"}");
  ProcessResult shape = Kite({"template", model, "--messages", object});
  EXPECT_TRUE(ExitedWith(shape, 1)) << shape.Describe();
  EXPECT_TRUE(HasErrorLine(shape, {"array"})) << shape.Describe();
  const std::string good = TempPath("good_messages.json");
  WriteFile(good, "[{\"role\": \"user\", \"content\": \"hi\"}]");
  ProcessResult tools = Kite({"template", model, "--messages", good, "--tools", messages});
  EXPECT_TRUE(ExitedWith(tools, 1)) << tools.Describe();
  EXPECT_TRUE(HasErrorLine(tools, {"json"})) << tools.Describe();
  ProcessResult missing = Kite({"template", model, "--messages", TempPath("no_such_messages.json")});
  EXPECT_TRUE(ExitedWith(missing, 1)) << missing.Describe();
  EXPECT_TRUE(HasErrorLine(missing, {"no_such_messages.json"})) << missing.Describe();
  // A model without a chat template says so.
  const std::string& stories = StoriesKite("f32");
  ASSERT_FALSE(stories.empty());
  ProcessResult no_template = Kite({"template", stories, "--messages", good});
  EXPECT_TRUE(ExitedWith(no_template, 1)) << no_template.Describe();
  EXPECT_TRUE(HasErrorLine(no_template, {"chat template"})) << no_template.Describe();
}

TEST(KiteBadInput, NoTokenizerArtifact) {
  const std::string& model = StoriesNoTokenizerKite();
  ASSERT_FALSE(model.empty());
  ProcessResult tokenize = Kite({"tokenize", model, "hello"});
  EXPECT_TRUE(ExitedWith(tokenize, 1)) << tokenize.Describe();
  EXPECT_TRUE(HasErrorLine(tokenize, {"no tokenizer"})) << tokenize.Describe();
  ProcessResult run = Kite({"run", model, "-p", "hello"});
  EXPECT_TRUE(ExitedWith(run, 1)) << run.Describe();
  EXPECT_TRUE(HasErrorLine(run, {"no tokenizer"})) << run.Describe();
  ProcessResult generate = Kite({"generate", model, "-p", "hello"});
  EXPECT_TRUE(ExitedWith(generate, 1)) << generate.Describe();
  EXPECT_TRUE(HasErrorLine(generate, {"no tokenizer"})) << generate.Describe();
  // Ids still work without a tokenizer; the text is empty.
  ProcessResult ids = Kite({"generate", model, "--ids", "1,403,407", "-n", "4", "--greedy", "--json"});
  ASSERT_TRUE(ExitedWith(ids, 0)) << ids.Describe();
  nlohmann::json j = nlohmann::json::parse(ids.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << ids.out;
  EXPECT_EQ(j["ids"].size(), 4u);
}

}  // namespace
}  // namespace cli_test
}  // namespace kite
