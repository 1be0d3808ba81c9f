// kite bench: prefill (pp128, pp512) and decode (tg128) speed, time to first
// token, peak memory, and how close decode comes to the memory-bandwidth
// roofline measured in the same run.
//
// Method: prompts are random ids from a fixed seed; each test runs in a fresh
// session after one untimed warm-up; the best of --reps runs is reported.
// Decode reads every weight byte once per token plus the KV cache written so
// far, so roofline_fraction = (weight + KV bytes per token) * tok/s divided by
// the read bandwidth that read_bandwidth.cc measures with the same threads.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "platforms/cli/cli_args.h"
#include "platforms/cli/commands.h"
#include "platforms/cli/read_bandwidth.h"

namespace kite_cli {
namespace {

uint64_t PeakRssBytes() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

// Bytes of this process mapped through 2 MiB pages: /proc/self/smaps_rollup's AnonHugePages,
// FilePmdMapped and ShmemPmdMapped (0 where it is missing). Decode streams every weight once per
// token, and a mapped file's huge folios reach further per TLB entry than 4 KiB pages.
uint64_t HugePageBytes() {
  std::FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
  if (f == nullptr) return 0;
  uint64_t total = 0;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long long kb = 0;
    if (std::sscanf(line, "AnonHugePages: %llu kB", &kb) == 1 || std::sscanf(line, "FilePmdMapped: %llu kB", &kb) == 1 ||
        std::sscanf(line, "ShmemPmdMapped: %llu kB", &kb) == 1) {
      total += kb * 1024;
    }
  }
  std::fclose(f);
  return total;
}

double NowMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<int32_t> RandomIds(int n, int32_t vocab, uint64_t seed) {
  std::vector<int32_t> ids(n);
  uint64_t s = seed;
  for (int i = 0; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    // Stay clear of the lowest ids (often special tokens).
    ids[i] = static_cast<int32_t>(3 + (s >> 33) % static_cast<uint64_t>(std::max(4, vocab - 3)));
  }
  return ids;
}

struct BenchContext {
  kite_engine* engine;
  kite_model_info info;
  int threads;
  int batch;
  int32_t kv_type;
};

bool NewSession(const BenchContext& b, int context, SessionHandle* s) {
  kite_session_options o;
  kite_session_options_init(&o);
  o.n_threads = b.threads;
  o.context_tokens = context;
  o.max_batch = b.batch;
  o.kv_cache_type = b.kv_type;
  kite_status status = kite_session_create(b.engine, &o, &s->session);
  if (status != KITE_OK) {
    ReportError("session", status);
    return false;
  }
  return true;
}

// Returns milliseconds to evaluate n prompt tokens (logits of the last one included).
double TimePrefill(const BenchContext& b, int n, std::vector<float>& logits) {
  SessionHandle s;
  if (!NewSession(b, n, &s)) return -1;
  std::vector<int32_t> ids = RandomIds(n, b.info.vocab_size, 1234 + n);
  const double start = NowMs();
  if (kite_session_eval(s.session, ids.data(), ids.size(), logits.data(), 0) != KITE_OK) return -1;
  return NowMs() - start;
}

// Returns milliseconds for n single-token decode steps after a 1-token prompt.
double TimeDecode(const BenchContext& b, int n, std::vector<float>& logits) {
  SessionHandle s;
  if (!NewSession(b, n + 1, &s)) return -1;
  std::vector<int32_t> ids = RandomIds(n + 1, b.info.vocab_size, 99);
  if (kite_session_eval(s.session, ids.data(), 1, logits.data(), 0) != KITE_OK) return -1;
  const double start = NowMs();
  for (int i = 1; i <= n; ++i) {
    if (kite_session_eval(s.session, &ids[i], 1, logits.data(), 0) != KITE_OK) return -1;
  }
  return NowMs() - start;
}

}  // namespace

int RunBench(int argc, char** argv) {
  const char* help =
      "usage: kite bench MODEL.kite [--threads N] [--reps R] [--json] [--tests pp128,pp512,tg128] [--kv f16|f32|q8]\n"
      "                  [--xnnpack auto|off|on|always]\n"
      "Prints prefill and decode tokens/s, time to first token, peak RSS, weight bytes read per token\n"
      "and the fraction of the measured memory-read bandwidth that decode reaches.\n";
  Args args;
  if (!args.Parse(argc, argv, {"--threads", "--reps", "--tests", "--batch", "--kv", "--xnnpack"}, {"--json", "--help"}, {{"-t", "--threads"}}) ||
      args.positionals().size() != 1) {
    if (args.Has("--help")) {
      std::printf("%s", help);
      return 0;
    }
    if (!args.error().empty()) std::fprintf(stderr, "error: %s\n", args.error().c_str());
    std::fprintf(stderr, "%s", help);
    return 2;
  }
  int64_t threads = 0, reps = 0, batch = 0;
  if (!args.GetInt("--threads", 0, &threads) || !args.GetInt("--reps", 3, &reps) || !args.GetInt("--batch", 128, &batch) ||
      threads < 0 || reps < 1 || batch < 1) {
    std::fprintf(stderr, "error: %s\n", args.error().empty() ? "options out of range" : args.error().c_str());
    return 2;
  }
  if (threads == 0) threads = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
  std::vector<std::string> tests;
  {
    std::string list = args.Get("--tests", "pp128,pp512,tg128");
    size_t start = 0;
    while (start < list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      tests.push_back(list.substr(start, comma - start));
      start = comma + 1;
    }
  }
  int32_t kv_type = 0;
  if (!GetKvCacheType(args, "f16", &kv_type)) return 2;
  int32_t xnnpack = 0;
  if (!GetXnnpackMode(args, &xnnpack)) return 2;
  EngineHandle engine;
  if (!OpenEngine(args.positionals()[0], &engine, /*reference_kernels=*/false, xnnpack)) return 1;
  BenchContext b{engine.engine, {}, static_cast<int>(threads), static_cast<int>(batch), kv_type};
  b.info.struct_size = sizeof(b.info);
  kite_engine_info(engine.engine, &b.info);
  std::vector<float> logits(b.info.vocab_size);
  // K/V bytes per position in this cache format, read off a session's allocation.
  double kv_bytes_per_token = 0;
  {
    SessionHandle probe;
    const int probe_context = std::min(256, b.info.context_max);
    if (!NewSession(b, probe_context, &probe)) return 1;
    kv_bytes_per_token = static_cast<double>(kite_session_kv_cache_bytes(probe.session)) / probe_context;
  }
  const double read_bandwidth = MeasureReadBandwidth(static_cast<int>(threads));
  const bool json = args.Has("--json");
  const XnnpackPacking packing = GetXnnpackPacking(engine.engine);
  if (!json) {
    std::printf("model %s | %d threads | weights %.1f MB, %.1f MB read per token | KV %s %.1f KB per token | "
                "read bandwidth %.2f GB/s\n",
                args.positionals()[0].c_str(), b.threads, b.info.weight_bytes / 1e6, b.info.weight_bytes_per_token / 1e6,
                args.Get("--kv", "f16").c_str(), kv_bytes_per_token / 1024, read_bandwidth / 1e9);
    PrintXnnpackPacking(engine.engine, "xnnpack: ");
    std::printf("%-7s %10s %12s %14s %12s %10s\n", "test", "tok/s", "ttft_ms", "GB/s_weights", "roofline", "peak_MB");
  }
  for (const std::string& test : tests) {
    const bool prefill = test.rfind("pp", 0) == 0, decode = test.rfind("tg", 0) == 0;
    const int n = (prefill || decode) ? std::atoi(test.c_str() + 2) : 0;
    // A prefill of n needs n positions; a decode of n needs one prompt token more.
    if (n <= 0 || n + (decode ? 1 : 0) > b.info.context_max) {
      std::fprintf(stderr, "error: test '%s' is not ppN/tgN within the model's context of %d\n", test.c_str(),
                   b.info.context_max);
      return 2;
    }
    // One untimed run warms caches and page mappings.
    double best = prefill ? TimePrefill(b, n, logits) : TimeDecode(b, n, logits);
    for (int r = 0; r < reps && best >= 0; ++r) {
      const double ms = prefill ? TimePrefill(b, n, logits) : TimeDecode(b, n, logits);
      if (ms < 0) best = -1;
      else best = r == 0 ? ms : std::min(best, ms);
    }
    if (best < 0) return ReportError("bench " + test, static_cast<kite_status>(KITE_INTERNAL));
    const double tok_s = n * 1000.0 / best;
    // Decode reads all weights per token plus, on average, half the KV cache it ends with.
    // Prefill reads the weights once per batch of prompt tokens, so per token it reads less.
    const double kv_bytes = kv_bytes_per_token * (n / 2.0 + 1);
    const double passes = prefill ? static_cast<double>((n + b.batch - 1) / b.batch) / n : 1.0;
    const double bytes_per_token = static_cast<double>(b.info.weight_bytes_per_token) * passes + kv_bytes;
    const double gbs = bytes_per_token * tok_s;
    const double roofline = read_bandwidth > 0 ? gbs / read_bandwidth : 0;
    const double ttft_ms = prefill ? best : 0;
    if (json) {
      nlohmann::json j = {{"test", test},
                          {"threads", b.threads},
                          {"tok_s", tok_s},
                          {"ms", best},
                          {"ttft_ms", prefill ? nlohmann::json(ttft_ms) : nlohmann::json(nullptr)},
                          {"peak_rss_bytes", PeakRssBytes()},
                          {"huge_page_bytes", HugePageBytes()},
                          {"weight_bytes_per_token", b.info.weight_bytes_per_token},
                          {"kv_cache", args.Get("--kv", "f16")},
                          {"kv_bytes_per_token", kv_bytes_per_token},
                          {"effective_gb_s", gbs / 1e9},
                          {"read_bandwidth_gb_s", read_bandwidth / 1e9},
                          {"roofline_fraction", roofline},
                          {"xnnpack_matrices", packing.matrices},
                          {"xnnpack_packed_bytes", packing.packed_bytes},
                          {"xnnpack_pack_ms", packing.pack_ms}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%-7s %10.1f %12s %14s %12s %10.1f\n", test.c_str(), tok_s,
                  prefill ? std::to_string(ttft_ms).substr(0, 8).c_str() : "-",
                  std::to_string(gbs / 1e9).substr(0, 6).c_str(), (std::to_string(roofline * 100).substr(0, 5) + "%").c_str(),
                  PeakRssBytes() / 1e6);
    }
    std::fflush(stdout);
  }
  if (!json) std::printf("memory in 2 MiB pages: %.1f MB\n", HugePageBytes() / 1e6);
  return 0;
}

}  // namespace kite_cli
