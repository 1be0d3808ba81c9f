#include "tests/cli/cli_test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/test_paths.h"

namespace kite {
namespace cli_test {
namespace {

using Clock = std::chrono::steady_clock;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Quote(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) s += (s.empty() ? "" : " ") + ("'" + a + "'");
  return s;
}

// Removes this process's temp folder (converted models, checkpoints, bad copies) at the end,
// unless KITE_KEEP_TEST_TMP is set for a post-mortem.
class TempCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    if (std::getenv("KITE_KEEP_TEST_TMP") != nullptr) return;
    const std::filesystem::path dir = std::filesystem::path(testing::TempPath("x")).parent_path();
    if (dir.filename() == "tmp") return;  // TempPath fell back to /tmp: never remove that
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};
::testing::Environment* const g_cleanup = ::testing::AddGlobalTestEnvironment(new TempCleanup);

}  // namespace

std::string ProcessResult::Describe() const {
  std::ostringstream s;
  s << "command: " << command << "\n";
  if (timed_out) s << "TIMED OUT (killed)\n";
  else if (signal_number != 0) s << "KILLED BY SIGNAL " << signal_number << " (" << strsignal(signal_number) << ")\n";
  else s << "exit code " << exit_code << "\n";
  s << "stderr:\n" << err.substr(0, 4000) << "\nstdout (first 2000 bytes):\n" << out.substr(0, 2000);
  return s.str();
}

ProcessResult RunProcess(const std::vector<std::string>& argv, const RunOptions& options) {
  // A child that exits before reading all its stdin must not kill the test with SIGPIPE.
  static const bool sigpipe_ignored = [] {
    signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)sigpipe_ignored;
  ProcessResult r;
  r.command = Quote(argv);
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    r.err = "pipe2 failed";
    return r;
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec (the parent has threads).
    signal(SIGPIPE, SIG_DFL);
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (pid < 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    r.err = "fork failed";
    return r;
  }
  int stdin_fd = in_pipe[1];
  size_t stdin_written = 0;
  if (options.stdin_text.empty()) {
    close(stdin_fd);
    stdin_fd = -1;
  } else {
    fcntl(stdin_fd, F_SETFL, O_NONBLOCK);
  }
  int out_fd = out_pipe[0], err_fd = err_pipe[0];
  const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(options.timeout_s * 1000));
  char buffer[65536];
  while (out_fd >= 0 || err_fd >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd fds[3];
    int n = 0;
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (stdin_fd >= 0) fds[n++] = {stdin_fd, POLLOUT, 0};
    const int ready = poll(fds, static_cast<nfds_t>(n), static_cast<int>(std::min<int64_t>(left, 1000)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < n && ready > 0; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == stdin_fd) {
        const ssize_t w = write(stdin_fd, options.stdin_text.data() + stdin_written, options.stdin_text.size() - stdin_written);
        if (w > 0) stdin_written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) stdin_written = options.stdin_text.size();  // the child closed it
        if (stdin_written >= options.stdin_text.size()) {
          close(stdin_fd);
          stdin_fd = -1;
        }
        continue;
      }
      int& fd = fds[i].fd == out_fd ? out_fd : err_fd;
      std::string& sink = fds[i].fd == out_fd ? r.out : r.err;
      const ssize_t got = read(fd, buffer, sizeof(buffer));
      if (got > 0) {
        sink.append(buffer, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        close(fd);
        fd = -1;
      }
    }
  }
  for (int fd : {stdin_fd, out_fd, err_fd}) {
    if (fd >= 0) close(fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal_number = WTERMSIG(status);
  return r;
}

ProcessResult Kite(const std::vector<std::string>& args, const RunOptions& options) {
  std::vector<std::string> argv = {KITE_EXE};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, options);
}

ProcessResult KiteConvert(const std::vector<std::string>& args, const RunOptions& options) {
  std::vector<std::string> argv = {KITE_CONVERT_EXE};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, options);
}

ProcessResult Sample(const std::vector<std::string>& args, const RunOptions& options) {
  std::vector<std::string> argv = {KITE_SAMPLE_EXE};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, options);
}

bool ExitedWith(const ProcessResult& r, int code) {
  // Under KITE_SANITIZE a memory error or undefined behaviour ends the child with exit code 1,
  // which bad-input tests expect: its report must still count as a crash.
  const bool sanitizer_report = r.err.find("ERROR: AddressSanitizer") != std::string::npos ||
                                r.err.find("ERROR: LeakSanitizer") != std::string::npos ||
                                r.err.find(": runtime error: ") != std::string::npos;
  return !r.timed_out && r.signal_number == 0 && !sanitizer_report && r.exit_code == code;
}

bool HasErrorLine(const ProcessResult& r, const std::vector<std::string>& needles) {
  return HasLine(r, {"error:", "kite-convert: error:"}, needles);
}

bool HasLine(const ProcessResult& r, const std::vector<std::string>& prefixes, const std::vector<std::string>& needles) {
  std::istringstream lines(r.err);
  std::string line;
  while (std::getline(lines, line)) {
    // Progress output rewrites its line with '\r': only the text after the last one counts.
    const size_t cr = line.rfind('\r');
    if (cr != std::string::npos) line = line.substr(cr + 1);
    const std::string lower = Lower(line);
    bool prefixed = false;
    for (const std::string& prefix : prefixes) prefixed = prefixed || lower.rfind(prefix, 0) == 0;
    if (!prefixed) continue;
    bool all = true;
    for (const std::string& needle : needles) all = all && lower.find(Lower(needle)) != std::string::npos;
    if (all) return true;
  }
  return false;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

bool FileExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

std::vector<std::string> ListWithPrefix(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) names.push_back(name);
  }
  return names;
}

nlohmann::json ReadJson(const std::string& path) { return nlohmann::json::parse(ReadFile(path)); }

std::string JoinIds(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

namespace {

// Converts once per process; an empty path (plus a recorded failure) when conversion fails.
const std::string& Converted(const std::string& key, const std::vector<std::string>& args) {
  static std::map<std::string, std::string> cache;
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const std::string out = testing::TempPath(key + ".kite");
  std::vector<std::string> full = args;
  full.insert(full.end(), {"-o", out, "--quiet"});
  ProcessResult r = KiteConvert(full, {"", 300});
  std::string& path = cache[key];
  if (ExitedWith(r, 0) && FileExists(out)) path = out;
  else ADD_FAILURE() << "kite-convert failed for " << key << "\n" << r.Describe();
  return path;
}

}  // namespace

const std::string& StoriesKite(const std::string& quant) {
  return Converted("stories_" + quant, {testing::SharedPath("models/stories260K/hf"), "--quant", quant});
}

const std::string& StoriesNoTokenizerKite() {
  return Converted("stories_no_tokenizer",
                   {testing::SharedPath("models/stories260K/hf"), "--quant", "f32", "--no-tokenizer"});
}

const std::string& TinyQwenKite() {
  static const std::string path = [] {
    // Random weights at a toy shape with the real Qwen2.5 vocabulary, tokenizer and template:
    // everything the chat path needs, in a few MB, made fresh (weights are never committed).
    const nlohmann::json config = {{"architectures", {"Qwen2ForCausalLM"}},
                                   {"model_type", "qwen2"},
                                   {"vocab_size", 151936},
                                   {"hidden_size", 16},
                                   {"intermediate_size", 32},
                                   {"num_hidden_layers", 1},
                                   {"num_attention_heads", 2},
                                   {"num_key_value_heads", 1},
                                   {"hidden_act", "silu"},
                                   {"max_position_embeddings", 256},
                                   {"rms_norm_eps", 1e-6},
                                   {"rope_theta", 1000000.0},
                                   {"tie_word_embeddings", true},
                                   {"use_sliding_window", false},
                                   {"bos_token_id", 151643},
                                   {"eos_token_id", 151645},
                                   {"torch_dtype", "float32"}};
    const std::string config_path = testing::TempPath("tiny_qwen_config.json");
    const std::string hf_dir = testing::TempPath("tiny_qwen_hf");
    WriteFile(config_path, config.dump(2));
    ProcessResult made = RunProcess({"/usr/bin/python3", testing::SharedPath("tools/make_random_checkpoint.py"), config_path,
                              hf_dir, "--dtype", "f32", "--seed", "7", "--tokenizer-dir",
                              testing::SharedPath("models/tokenizers/qwen2.5")},
                             {"", 300});
    if (!ExitedWith(made, 0)) {
      ADD_FAILURE() << "make_random_checkpoint.py failed\n" << made.Describe();
      return std::string();
    }
    const std::string out = testing::TempPath("tiny_qwen.kite");
    ProcessResult r = KiteConvert({hf_dir, "-o", out, "--quant", "q8", "--quiet"}, {"", 300});
    std::error_code ec;
    std::filesystem::remove_all(hf_dir, ec);  // ~10 MB of f32 weights, no longer needed
    if (!ExitedWith(r, 0) || !FileExists(out)) {
      ADD_FAILURE() << "kite-convert failed for the tiny Qwen2 checkpoint\n" << r.Describe();
      return std::string();
    }
    return out;
  }();
  return path;
}

}  // namespace cli_test
}  // namespace kite
