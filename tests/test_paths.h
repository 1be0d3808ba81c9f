// Where tests find ../shared (models, references) and the build folder.
#pragma once

#include <string>

namespace kite {
namespace testing {

std::string SharedDir();                       // absolute path of ../shared
std::string SharedPath(const std::string& rel);  // SharedDir() + "/" + rel
std::string BinaryDir();                       // the CMake build folder
std::string TempPath(const std::string& name);   // a fresh path in a per-process temp folder

}  // namespace testing
}  // namespace kite
