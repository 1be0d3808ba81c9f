// Helpers for the end-to-end tests of the `kite` CLI, `kite-convert` and the C
// sample: run a real binary with a timeout (fork + exec, no shell, so any
// argument — an empty string, leading spaces, emoji — reaches it unchanged),
// capture stdout, stderr, the exit code and any killing signal; and build the
// models the tests need once per process (ctest runs each test in its own process).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kite {
namespace cli_test {

struct ProcessResult {
  int exit_code = -1;      // valid when the process exited normally
  int signal_number = 0;   // nonzero when a signal ended it (a crash or our timeout kill)
  bool timed_out = false;  // we killed it after the timeout
  std::string out;
  std::string err;
  std::string command;
  // One line describing how it ended plus the captured stderr, for failure messages.
  std::string Describe() const;
};

struct RunOptions {
  std::string stdin_text;    // written to the child's stdin, which is then closed
  double timeout_s = 120.0;  // the child is killed with SIGKILL after this
};

ProcessResult RunProcess(const std::vector<std::string>& argv, const RunOptions& options = {});
ProcessResult Kite(const std::vector<std::string>& args, const RunOptions& options = {});
ProcessResult KiteConvert(const std::vector<std::string>& args, const RunOptions& options = {});
ProcessResult Sample(const std::vector<std::string>& args, const RunOptions& options = {});

// True when the process exited by itself (no signal, no timeout, no sanitizer report) with this code.
bool ExitedWith(const ProcessResult& r, int code);
// True when some stderr line starts with "error:" (or "kite-convert: error:") and contains
// every needle (case-insensitive).
bool HasErrorLine(const ProcessResult& r, const std::vector<std::string>& needles);
// The same for lines starting with any of prefixes (lower case).
bool HasLine(const ProcessResult& r, const std::vector<std::string>& prefixes, const std::vector<std::string>& needles);

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& data);
bool FileExists(const std::string& path);
// Names in dir that start with prefix (to find leftover OUT.tmp-* files).
std::vector<std::string> ListWithPrefix(const std::string& dir, const std::string& prefix);
nlohmann::json ReadJson(const std::string& path);
std::string JoinIds(const std::vector<int32_t>& ids);  // "1,2,3"

// Models, converted on first use in this process; each path is an absolute .kite file.
const std::string& StoriesKite(const std::string& quant);  // "f32" or "q8", with tokenizer
const std::string& StoriesNoTokenizerKite();                // f32, --no-tokenizer
// A tiny seeded random Qwen2 (hidden 16, 1 layer) with the Qwen2.5 tokenizer and chat template, q8.
const std::string& TinyQwenKite();

}  // namespace cli_test
}  // namespace kite
