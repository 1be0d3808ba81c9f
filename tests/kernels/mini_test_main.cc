// main() of the GoogleTest stand-in (see test_framework.h). Usage: kite_kernel_tests [substring]
// runs the tests whose "Suite.Name" contains the substring.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "tests/kernels/test_framework.h"

namespace kite_mini {

std::vector<TestCase>& Registry() {
  static std::vector<TestCase> tests;
  return tests;
}

std::vector<std::string>& TraceStack() {
  static std::vector<std::string> stack;
  return stack;
}

namespace {
bool current_failed = false;
}

void MarkFailed() { current_failed = true; }

}  // namespace kite_mini

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : "";
  int passed = 0, failed = 0;
  for (const kite_mini::TestCase& test : kite_mini::Registry()) {
    const std::string full = std::string(test.suite) + "." + test.name;
    if (full.find(filter) == std::string::npos) continue;
    kite_mini::current_failed = false;
    const auto start = std::chrono::steady_clock::now();
    test.body();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("[%s] %s (%.0f ms)\n", kite_mini::current_failed ? "FAILED" : "    OK", full.c_str(), ms);
    (kite_mini::current_failed ? failed : passed) += 1;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
