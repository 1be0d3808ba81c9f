#include "tests/golden/golden_util.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/test_paths.h"

namespace kite {
namespace testing {

std::string ConvertShared(const std::string& hf_dir, const std::string& extra_args, std::string* log) {
  static std::map<std::string, std::string> cache;
  const std::string key = hf_dir + "|" + extra_args;
  auto hit = cache.find(key);
  if (hit != cache.end()) return hit->second;
  std::string name = key;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  const std::string out = TempPath(name + ".kite");
  const std::string log_path = out + ".log";
  const std::string cmd = std::string("'") + KITE_CONVERT_EXE + "' '" + SharedPath(hf_dir) + "' -o '" + out + "' " +
                          extra_args + " > '" + log_path + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    if (log != nullptr) {
      std::ifstream in(log_path);
      std::stringstream ss;
      ss << in.rdbuf();
      *log = cmd + "\n" + ss.str();
    }
    return "";
  }
  cache[key] = out;
  return out;
}

std::unique_ptr<Engine> LoadEngine(const std::string& artifact_path, bool reference_kernels) {
  EngineOptions options;
  options.model_path = artifact_path;
  options.reference_kernels = reference_kernels;
  auto engine = Engine::Load(options);
  if (!engine.ok()) {
    std::fprintf(stderr, "load %s: %s\n", artifact_path.c_str(), engine.status().ToString().c_str());
    return nullptr;
  }
  return std::move(engine).value();
}

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in, nullptr, false);
}

std::vector<float> ReadF32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(0, std::ios::end);
  const std::streamsize bytes = in.tellg();
  in.seekg(0);
  std::vector<float> values(bytes > 0 ? static_cast<size_t>(bytes) / sizeof(float) : 0);
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
  return values;
}

RowDiff CompareRows(const float* got, const float* want, int64_t rows, int64_t vocab) {
  RowDiff d;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < vocab; ++i) {
      const double diff = std::fabs(static_cast<double>(got[r * vocab + i]) - want[r * vocab + i]);
      if (!(diff <= d.max_abs)) {  // also catches NaN
        d.max_abs = std::isnan(diff) ? INFINITY : diff;
        d.worst_row = r;
      }
    }
  }
  return d;
}

namespace {
void LogSoftmax(const float* x, int64_t n, std::vector<double>* out) {
  double max_value = x[0];
  for (int64_t i = 1; i < n; ++i) max_value = std::max<double>(max_value, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - max_value);
  const double log_sum = std::log(sum) + max_value;
  out->resize(n);
  for (int64_t i = 0; i < n; ++i) (*out)[i] = x[i] - log_sum;
}
int64_t ArgMaxOf(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}
}  // namespace

Agreement CompareDistributions(const float* got, const float* want, int64_t rows, int64_t vocab) {
  Agreement a;
  std::vector<double> lp, lq;
  int64_t agree = 0;
  for (int64_t r = 0; r < rows; ++r) {
    LogSoftmax(want + r * vocab, vocab, &lp);
    LogSoftmax(got + r * vocab, vocab, &lq);
    double kl = 0;
    for (int64_t i = 0; i < vocab; ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
    a.mean_kl += kl / rows;
    a.max_kl = std::max(a.max_kl, kl);
    agree += ArgMaxOf(got + r * vocab, vocab) == ArgMaxOf(want + r * vocab, vocab);
  }
  a.top1 = rows > 0 ? static_cast<double>(agree) / rows : 0;
  return a;
}

std::vector<int32_t> IdsOf(const nlohmann::json& array) {
  std::vector<int32_t> ids;
  for (const auto& v : array) ids.push_back(v.get<int32_t>());
  return ids;
}

}  // namespace testing
}  // namespace kite
