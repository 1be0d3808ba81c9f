#include "platforms/cli/cli_args.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

namespace kite_cli {

bool Args::Parse(int argc, char** argv, const std::set<std::string>& value_flags,
                 const std::set<std::string>& bool_flags, const std::map<std::string, std::string>& aliases) {
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-' || arg == "--") {
      if (arg == "--") {
        for (++i; i < argc; ++i) positionals_.push_back(argv[i]);
        break;
      }
      positionals_.push_back(arg);
      continue;
    }
    std::string value;
    bool has_inline = false;
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline = true;
    }
    auto alias = aliases.find(arg);
    if (alias != aliases.end()) arg = alias->second;
    if (bool_flags.count(arg)) {
      if (has_inline) {
        error_ = arg + " takes no value";
        return false;
      }
      values_.emplace(arg, "1");
    } else if (value_flags.count(arg)) {
      if (!has_inline) {
        if (i + 1 >= argc) {
          error_ = arg + " needs a value";
          return false;
        }
        value = argv[++i];
      }
      values_.emplace(arg, value);
    } else {
      error_ = "unknown option " + arg;
      return false;
    }
  }
  return true;
}

std::string Args::Get(const std::string& flag, const std::string& fallback) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return fallback;
  // The last occurrence wins, like most tools.
  auto range = values_.equal_range(flag);
  std::string value;
  for (auto r = range.first; r != range.second; ++r) value = r->second;
  return value;
}

std::vector<std::string> Args::GetAll(const std::string& flag) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(flag);
  for (auto r = range.first; r != range.second; ++r) out.push_back(r->second);
  return out;
}

bool Args::GetInt(const std::string& flag, int64_t fallback, int64_t* out) {
  if (!Has(flag)) {
    *out = fallback;
    return true;
  }
  const std::string text = Get(flag);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0) {
    error_ = flag + " expects an integer, got '" + text + "'";
    return false;
  }
  *out = v;
  return true;
}

bool Args::GetFloat(const std::string& flag, double fallback, double* out) {
  if (!Has(flag)) {
    *out = fallback;
    return true;
  }
  const std::string text = Get(flag);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno != 0) {
    error_ = flag + " expects a number, got '" + text + "'";
    return false;
  }
  *out = v;
  return true;
}

bool ParseIdList(const std::string& text, std::vector<int32_t>* ids) {
  ids->clear();
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string part = text.substr(start, comma - start);
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || errno != 0 || v < INT32_MIN || v > INT32_MAX) return false;
    ids->push_back(static_cast<int32_t>(v));
    start = comma + 1;
  }
  return !ids->empty();
}

int ReportError(const std::string& what, kite_status status) {
  std::fprintf(stderr, "error: %s: %s (%s)\n", what.c_str(), kite_last_error_message(), kite_status_name(status));
  return 1;
}

bool OpenEngine(const std::string& path, EngineHandle* handle, bool reference_kernels, int32_t xnnpack) {
  kite_engine_options options;
  kite_engine_options_init(&options);
  options.model_path = path.c_str();
  options.reference_kernels = reference_kernels ? 1 : 0;
  options.xnnpack = xnnpack;
  kite_status status = kite_engine_create(&options, &handle->engine);
  if (status != KITE_OK) {
    ReportError("cannot load " + path, status);
    return false;
  }
  return true;
}

kite_status Tokenize(kite_engine* engine, const std::string& text, bool parse_special, bool add_special,
                     std::vector<int32_t>* ids) {
  size_t count = 0;
  ids->assign(text.size() + 8, 0);
  kite_status status = kite_tokenize(engine, text.data(), text.size(), parse_special, add_special, ids->data(),
                                     ids->size(), &count);
  if (status == KITE_OUT_OF_RANGE && count > ids->size()) {
    ids->assign(count, 0);
    status = kite_tokenize(engine, text.data(), text.size(), parse_special, add_special, ids->data(), ids->size(), &count);
  }
  if (status == KITE_OK) ids->resize(count);
  return status;
}

bool GetXnnpackMode(const Args& args, int32_t* out) {
  const std::string name = args.Get("--xnnpack", "auto");
  if (name == "auto") {
    *out = KITE_XNNPACK_AUTO;
  } else if (name == "off") {
    *out = KITE_XNNPACK_OFF;
  } else if (name == "on") {
    *out = KITE_XNNPACK_ON;
  } else if (name == "always") {
    *out = KITE_XNNPACK_ALWAYS;
  } else {
    std::fprintf(stderr, "error: --xnnpack expects auto, off, on or always, got '%s'\n", name.c_str());
    return false;
  }
  return true;
}

XnnpackPacking GetXnnpackPacking(kite_engine* engine) {
  XnnpackPacking packing;
  kite_string described{nullptr, 0};
  if (kite_engine_describe(engine, &described) != KITE_OK) return packing;
  const nlohmann::json j = nlohmann::json::parse(std::string(described.data, described.size), nullptr, false);
  kite_string_free(&described);
  if (!j.is_object() || !j.contains("xnnpack") || !j["xnnpack"].is_object()) return packing;
  const nlohmann::json& x = j["xnnpack"];
  packing.matrices = x.value("matrices", 0);
  packing.packed_bytes = x.value("packed_bytes", 0.0);
  packing.pack_ms = x.value("pack_ms", 0.0);
  return packing;
}

void PrintXnnpackPacking(kite_engine* engine, const char* prefix) {
  const XnnpackPacking packing = GetXnnpackPacking(engine);
  if (packing.matrices == 0) return;
  std::printf("%s%d matrices packed for prefill, %.2f MB on top of the model, %.0f ms\n", prefix, packing.matrices,
              packing.packed_bytes / 1e6, packing.pack_ms);
}

bool GetKvCacheType(const Args& args, const char* fallback, int32_t* out) {
  const std::string name = args.Get("--kv", fallback);
  if (name == "f16") {
    *out = KITE_KV_F16;
  } else if (name == "f32") {
    *out = KITE_KV_F32;
  } else if (name == "q8") {
    *out = KITE_KV_Q8;
  } else {
    std::fprintf(stderr, "error: --kv expects f16, f32 or q8, got '%s'\n", name.c_str());
    return false;
  }
  return true;
}

}  // namespace kite_cli
