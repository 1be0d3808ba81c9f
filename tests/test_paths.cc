#include "tests/test_paths.h"

#include <cstdlib>
#include <string>

#include <unistd.h>

namespace kite {
namespace testing {

std::string SharedDir() {
  const char* env = std::getenv("KITE_SHARED_DIR");
  if (env != nullptr && *env != '\0') return env;
  return KITE_SHARED_DIR;
}

std::string SharedPath(const std::string& rel) { return SharedDir() + "/" + rel; }

std::string BinaryDir() { return KITE_BINARY_DIR; }

std::string TempPath(const std::string& name) {
  static const std::string dir = [] {
    std::string d = std::string(KITE_BINARY_DIR) + "/test_tmp/" + std::to_string(getpid());
    std::string cmd = "mkdir -p '" + d + "'";
    if (std::system(cmd.c_str()) != 0) return std::string("/tmp");
    return d;
  }();
  return dir + "/" + name;
}

}  // namespace testing
}  // namespace kite
