// XNNPACK's f32 fully-connected operator (runtime/backend/xnnpack) against Kite's own f32 and f16
// gemm kernels (the best set of this CPU) at the matrix shapes of Qwen2.5-0.5B and SmolLM2-135M, for
// the row counts of decode (1), short prompts and prefill chunks (up to 512). The numbers behind
// XnnpackPreferred() (runtime/backend/xnnpack/README.md).
//
// Weights are hot (one copy): prefill reuses them from cache; M = 1 here is not a DRAM measurement
// (kernels_bench's is). One thread: CPU time of the calling thread (steadier than wall time on a
// shared machine); two threads: wall time (UseRealTime). Take the best of several repetitions:
//   kite_xnnpack_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=false
// Names: xnnpack_fc/<weights>/<threads>t/<model>/<matrix>/N_K/M, kite_gemm/<weights>/<isa>/... for Kite's
// best kernel set and, where that is not it, its AVX2 set (what a CPU without AVX-512 runs).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/quantize.h"
#include "runtime/backend/xnnpack/xnnpack_matmul.h"
#include "runtime/core/thread_pool.h"

namespace {

struct Shape {
  const char* name;
  int64_t n, k;
};
const Shape kShapes[] = {
    {"qwen2.5-0.5b/qkv", 1152, 896},      {"qwen2.5-0.5b/attn_out", 896, 896}, {"qwen2.5-0.5b/mlp_up", 4864, 896},
    {"qwen2.5-0.5b/mlp_down", 896, 4864}, {"smollm2-135m/qkv", 960, 576},     {"smollm2-135m/attn_out", 576, 576},
    {"smollm2-135m/mlp_up", 1536, 576},   {"smollm2-135m/mlp_down", 576, 1536},
};

struct Inputs {
  std::vector<float> w32, x;
  std::vector<uint16_t> w16;
};

Inputs MakeInputs(int64_t m, int64_t n, int64_t k) {
  Inputs in;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  in.w32.resize(static_cast<size_t>(n * k));
  in.w16.resize(in.w32.size());
  for (size_t i = 0; i < in.w32.size(); ++i) {
    in.w16[i] = kite::kernels::FloatToHalf(0.02f * normal(rng));
    in.w32[i] = kite::kernels::HalfToFloat(in.w16[i]);
  }
  in.x.resize(static_cast<size_t>(m * k + kite::kXnnpackExtraBytes / sizeof(float)));
  for (float& v : in.x) v = normal(rng);
  return in;
}

void SetCounters(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Xnnpack(benchmark::State& state, bool f16, int threads, Shape shape, int64_t m) {
  const Inputs in = MakeInputs(m, shape.n, shape.k);
  kite::ThreadPool pool(threads);
  const kite::XnnpackWeights type = f16 ? kite::XnnpackWeights::kF16 : kite::XnnpackWeights::kF32;
  auto matrix = kite::XnnpackMatrix::Create(type, f16 ? static_cast<const void*>(in.w16.data()) : in.w32.data(),
                                            shape.n, shape.k, shape.n, threads);
  if (!matrix.ok()) {
    state.SkipWithError(matrix.status().ToString().c_str());
    return;
  }
  const kite::XnnpackMatrix& w = **matrix;
  std::vector<float> y(static_cast<size_t>(m * shape.n));
  for (auto _ : state) {
    pool.Run([&](int t, int nt) {
      for (int s = t; s < w.slices(); s += nt) benchmark::DoNotOptimize(w.RunSlice(s, in.x.data(), m, y.data()).ok());
    });
    benchmark::ClobberMemory();
  }
  SetCounters(state, m, shape.n, shape.k);
  state.counters["packed_MB"] = static_cast<double>(w.packed_bytes()) / 1e6;
}

void BM_Kite(benchmark::State& state, const kite::kernels::GemmKernels* set, bool f16, int threads, Shape shape,
             int64_t m) {
  const Inputs in = MakeInputs(m, shape.n, shape.k);
  kite::ThreadPool pool(threads);
  const kite::kernels::GemmKernels& kernels = *set;
  std::vector<float> y(static_cast<size_t>(m * shape.n));
  for (auto _ : state) {
    pool.Run([&](int t, int nt) {  // whole 8-column tiles per thread, as runtime/backend/cpu/cpu_matmul.cc
      const int64_t tiles = (shape.n + 7) / 8, per = (tiles + nt - 1) / nt;
      kite::kernels::GemmArgs a;
      a.m = m, a.k = shape.k, a.ldy = shape.n, a.y = y.data();
      a.n_begin = std::min(shape.n, t * per * 8), a.n_end = std::min(shape.n, (t + 1) * per * 8);
      if (a.n_begin >= a.n_end) return;
      if (f16) {
        kernels.gemm_f16(a, in.w16.data(), in.x.data());
      } else {
        kernels.gemm_f32(a, in.w32.data(), in.x.data());
      }
    });
    benchmark::ClobberMemory();
  }
  SetCounters(state, m, shape.n, shape.k);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!kite::XnnpackAvailable()) std::fprintf(stderr, "XNNPACK unavailable: only Kite's kernels run\n");
  // Kite's best kernel set, and its AVX2 set where the best is another (AVX-512 float tiles).
  std::vector<const kite::kernels::GemmKernels*> kite_sets = {&kite::kernels::BestGemmKernels()};
  const kite::kernels::GemmKernels* all[kite::kernels::kMaxGemmKernelSets];
  const int count = kite::kernels::AvailableGemmKernels(all, kite::kernels::kMaxGemmKernelSets);
  for (int i = 0; i < count; ++i) {
    if (std::string(all[i]->isa) == "avx2" && all[i] != kite_sets[0]) kite_sets.push_back(all[i]);
  }
  for (const Shape& shape : kShapes) {
    for (int64_t m : {1, 4, 16, 32, 128, 512}) {
      for (int threads : {1, 2}) {
        const std::string tail = std::to_string(threads) + "t/" + shape.name + "/N" + std::to_string(shape.n) + "_K" +
                                 std::to_string(shape.k) + "/M" + std::to_string(m);
        for (bool f16 : {false, true}) {
          const std::string weights = f16 ? "f16/" : "f32/";
          if (kite::XnnpackAvailable()) {
            auto* b = benchmark::RegisterBenchmark(("xnnpack_fc/" + weights + tail).c_str(), BM_Xnnpack, f16,
                                                   threads, shape, m)->Unit(benchmark::kMicrosecond);
            if (threads > 1) b->UseRealTime();
          }
          for (const kite::kernels::GemmKernels* set : kite_sets) {
            auto* b = benchmark::RegisterBenchmark(("kite_gemm/" + weights + set->isa + "/" + tail).c_str(), BM_Kite,
                                                   set, f16, threads, shape, m)->Unit(benchmark::kMicrosecond);
            if (threads > 1) b->UseRealTime();
          }
        }
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
