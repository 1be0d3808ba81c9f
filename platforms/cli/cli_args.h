// A small argument parser for the `kite` tool: positionals plus --flags with
// or without values, and short aliases. Unknown flags are an error so typos
// do not pass silently.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/c_api/kite.h"

namespace kite_cli {

class Args {
 public:
  // value_flags take a value (--name VALUE or --name=VALUE); bool_flags do not.
  // aliases map "-p" to "--prompt". Returns false and sets error() on a problem.
  bool Parse(int argc, char** argv, const std::set<std::string>& value_flags, const std::set<std::string>& bool_flags,
             const std::map<std::string, std::string>& aliases = {});
  const std::vector<std::string>& positionals() const { return positionals_; }
  bool Has(const std::string& flag) const { return values_.count(flag) > 0; }
  std::string Get(const std::string& flag, const std::string& fallback = "") const;
  std::vector<std::string> GetAll(const std::string& flag) const;
  // Numeric getters set error() and return false on a malformed number.
  bool GetInt(const std::string& flag, int64_t fallback, int64_t* out);
  bool GetFloat(const std::string& flag, double fallback, double* out);
  const std::string& error() const { return error_; }

 private:
  std::vector<std::string> positionals_;
  std::multimap<std::string, std::string> values_;
  std::string error_;
};

// --kv f16|f32|q8 -> a kite_kv_cache_type (fallback when absent); false with a message on anything else.
bool GetKvCacheType(const Args& args, const char* fallback, int32_t* out);
// --xnnpack auto|off|on|always -> a kite_xnnpack_mode (auto when absent); false with a message otherwise.
bool GetXnnpackMode(const Args& args, int32_t* out);
// "1,2,3" -> ids; false on anything else.
bool ParseIdList(const std::string& text, std::vector<int32_t>* ids);
// Prints "error: <what>: <kite_last_error_message>" to stderr and returns exit code 1.
int ReportError(const std::string& what, kite_status status);
// RAII owners for C handles.
struct EngineHandle {
  kite_engine* engine = nullptr;
  ~EngineHandle() { kite_engine_destroy(engine); }
};
struct SessionHandle {
  kite_session* session = nullptr;
  ~SessionHandle() { kite_session_destroy(session); }
};
// Loads MODEL.kite; prints the error and returns false on failure.
// xnnpack: a kite_xnnpack_mode.
bool OpenEngine(const std::string& path, EngineHandle* handle, bool reference_kernels = false,
                int32_t xnnpack = KITE_XNNPACK_AUTO);
// What the engine packed for XNNPACK at load (kite_engine_describe's "xnnpack"); zeros when nothing.
struct XnnpackPacking {
  int matrices = 0;
  double packed_bytes = 0;
  double pack_ms = 0;
};
XnnpackPacking GetXnnpackPacking(kite_engine* engine);
// Prints "<prefix>N matrices packed for prefill, X MB on top of the model, Y ms" when the engine
// packed any; nothing otherwise.
void PrintXnnpackPacking(kite_engine* engine, const char* prefix);
// Tokenizes with the C API into a vector.
kite_status Tokenize(kite_engine* engine, const std::string& text, bool parse_special, bool add_special,
                     std::vector<int32_t>* ids);

}  // namespace kite_cli
