// Micro-benchmarks of the gemm kernels at the matrix shapes of the models we
// ship (Qwen2.5-0.5B, SmolLM2-135M), for every kernel set this CPU runs, and of
// the attention kernels at Qwen2.5-0.5B's head shape (BM_Attention).
//
//   M = 1 (decode) is memory-bound: the counter that matters is weight_GB/s, weight bytes read per
//   second. Each iteration uses the next of several copies of the weights, together larger than
//   the last-level cache, so the bytes come from DRAM as they do in a real forward pass.
//   M = 128 (prefill) is compute-bound: GFLOP/s (2*M*N*K per call). To keep the scalar runs short,
//   M = 128 computes only the first kPrefillColumns output columns (the same slice for every set).
//
// Rates are per CPU second of the benchmark thread (Google Benchmark's default), which holds up
// better than wall time on a machine shared with other work; on an idle machine the two agree.
//
// kite_kernels_bench --benchmark_filter=avx2 --benchmark_min_time=0.2
// KITE_BENCH_HOT=1 kite_kernels_bench ...   (one copy: M = 1 from cache, i.e. the compute limit)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernels/mla.h"
#include "kernels/quant_formats.h"
#include "kernels/quantize.h"

namespace {

using kite::kernels::GemmArgs;
using kite::kernels::GemmKernels;

constexpr int64_t kColdBytes = 256ll << 20;  // weight copies cycled through for M = 1 (L3 here: 32 MiB)
constexpr int64_t kPrefillColumns = 1024;

struct Shape {
  const char* name;
  int64_t n, k;
};
// y = x W^T with W [N][K]: QKV, attention output, MLP gate/up, MLP down, lm_head.
const Shape kShapes[] = {
    {"qwen2.5-0.5b/qkv", 1152, 896},        {"qwen2.5-0.5b/mlp_up", 4864, 896},
    {"qwen2.5-0.5b/mlp_down", 896, 4864},   {"qwen2.5-0.5b/lm_head", 151936, 896},
    {"smollm2-135m/qkv", 960, 576},         {"smollm2-135m/mlp_up", 1536, 576},
    {"smollm2-135m/mlp_down", 576, 1536},   {"smollm2-135m/lm_head", 49152, 576},
};

enum Format { kF32, kF16, kBf16, kQ8, kQ4G32, kQ4G128 };
const char* const kFormatNames[] = {"f32_gemm_f32", "f16_gemm_f32", "bf16_gemm_f32", "qs8_gemm_f32",
                                    "qs4_gemm_f32/g32", "qs4_gemm_f32/g128"};

// One copy of a weight matrix in one format.
struct Weights {
  std::vector<float> f32;
  std::vector<uint16_t> u16, q4_scales;
  std::vector<int8_t> q8;
  std::vector<float> q8_scales;
  std::vector<uint8_t> q4;
};

int64_t GroupSize(Format f) { return f == kQ4G128 ? 128 : 32; }

int64_t WeightBytes(Format f, int64_t n, int64_t k) {
  switch (f) {
    case kF32: return n * k * 4;
    case kF16:
    case kBf16: return n * k * 2;
    case kQ8: return n * (kite::Q8RowBytes(k) + 4);
    case kQ4G32:
    case kQ4G128:
      return n * (kite::Q4RowBytes(k, GroupSize(f)) + 2 * kite::Q4GroupsPerRow(k, GroupSize(f)));
  }
  return 0;
}

Weights MakeWeights(Format f, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> w(static_cast<size_t>(n * k));
  for (float& v : w) v = normal(rng);
  Weights out;
  switch (f) {
    case kF32: out.f32 = std::move(w); break;
    case kF16:
    case kBf16:
      out.u16.resize(w.size());
      for (size_t i = 0; i < w.size(); ++i) {
        out.u16[i] = f == kF16 ? kite::kernels::FloatToHalf(w[i]) : kite::kernels::FloatToBf16(w[i]);
      }
      break;
    case kQ8:
      out.q8.resize(static_cast<size_t>(n * kite::Q8RowBytes(k)));
      out.q8_scales.resize(static_cast<size_t>(n));
      kite::kernels::QuantizeRowsQ8(w.data(), n, k, out.q8.data(), out.q8_scales.data());
      break;
    case kQ4G32:
    case kQ4G128:
      out.q4.resize(static_cast<size_t>(n * kite::Q4RowBytes(k, GroupSize(f))));
      out.q4_scales.resize(static_cast<size_t>(n * kite::Q4GroupsPerRow(k, GroupSize(f))));
      kite::kernels::QuantizeRowsQ4(w.data(), n, k, GroupSize(f), out.q4.data(), out.q4_scales.data());
      break;
  }
  return out;
}

// Benchmarks run in rounds that repeat their setup, and making a 545 MB lm_head takes seconds: keep
// the weights of the last (format, shape) and register benchmarks so that neighbours share them.
const std::vector<Weights>& CachedWeights(Format f, int64_t n, int64_t k) {
  static std::vector<Weights> cache;
  static std::string cached_key;
  const std::string key = std::to_string(f) + "/" + std::to_string(n) + "/" + std::to_string(k);
  if (key != cached_key) {
    cache.clear();
    cache.shrink_to_fit();
    // Enough copies to overflow the cache several times (one copy of a large matrix already does).
    int64_t copies = std::max<int64_t>(1, std::min<int64_t>(64, kColdBytes / WeightBytes(f, n, k)));
    if (std::getenv("KITE_BENCH_HOT") != nullptr) copies = 1;  // measure from cache instead
    cache.push_back(MakeWeights(f, n, k, 100));
    for (int64_t c = 1; c < copies; ++c) cache.push_back(cache.front());  // same values, other addresses
    cached_key = key;
  }
  return cache;
}

// q4_prefill: the set's gemm_q4_prefill, its per-op activation rearrangement included in the time.
void BM_Gemm(benchmark::State& state, const GemmKernels* set, Format f, Shape shape, int64_t m, bool q4_prefill) {
  const int64_t k = shape.k, n = shape.n;
  const int64_t n_end = m == 1 ? n : std::min(n, kPrefillColumns);
  const std::vector<Weights>& weights = CachedWeights(f, n, k);
  // Prefill reuses each weight block from cache by design: one copy.
  const int copies = m == 1 ? static_cast<int>(weights.size()) : 1;

  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (float& v : x) v = normal(rng);
  const int64_t k_pad = kite::Q8RowBytes(k);
  std::vector<int8_t> xq(static_cast<size_t>(m * k_pad));
  std::vector<float> xs(static_cast<size_t>(m * k_pad / kite::kQuantBlock));
  set->quantize_activations_q8(x.data(), m, k, xq.data(), xs.data());
  std::vector<float> y(static_cast<size_t>(m * n));
  std::vector<uint8_t> prepared(q4_prefill ? static_cast<size_t>(kite::kernels::Q4PrefillBufferBytes(m, k)) : 0);
  void* prepared_aligned = kite::kernels::AlignQ4Prefill(prepared.data());

  GemmArgs a;
  a.m = m, a.k = k, a.ldy = n, a.n_begin = 0, a.n_end = n_end, a.y = y.data();
  int next = 0;
  for (auto _ : state) {
    const Weights& w = weights[next];
    next = (next + 1) % copies;
    switch (f) {
      case kF32: set->gemm_f32(a, w.f32.data(), x.data()); break;
      case kF16: set->gemm_f16(a, w.u16.data(), x.data()); break;
      case kBf16: set->gemm_bf16(a, w.u16.data(), x.data()); break;
      case kQ8: set->gemm_q8(a, w.q8.data(), w.q8_scales.data(), xq.data(), xs.data()); break;
      case kQ4G32:
      case kQ4G128:
        if (q4_prefill) {
          set->prepare_q4_prefill(xq.data(), xs.data(), m, k, prepared_aligned);
          set->gemm_q4_prefill(a, w.q4.data(), w.q4_scales.data(), GroupSize(f), prepared_aligned);
          break;
        }
        set->gemm_q4(a, w.q4.data(), w.q4_scales.data(), GroupSize(f), xq.data(), xs.data()); break;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double bytes_per_call = static_cast<double>(WeightBytes(f, n_end, k));
  state.counters["weight_GB/s"] =
      benchmark::Counter(bytes_per_call / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * n_end * k / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_QuantizeActivations(benchmark::State& state, const GemmKernels* set, int64_t m, int64_t k) {
  std::vector<float> x(static_cast<size_t>(m * k), 0.5f);
  std::vector<int8_t> xq(static_cast<size_t>(m * kite::Q8RowBytes(k)));
  std::vector<float> xs(static_cast<size_t>(m * kite::Q8RowBytes(k) / 32));
  for (auto _ : state) {
    set->quantize_activations_q8(x.data(), m, k, xq.data(), xs.data());
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(m * k * 4 / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// Attention of one layer at Qwen2.5-0.5B's shape (14 query heads, 2 KV heads, head_dim 64): decode
// (1 query row after `context` - 1 cached tokens) and prefill (`rows` query rows ending at position
// `context` - 1; rows == context is a whole prompt). The cache of one layer (<= 2 MB at f32 and 2048
// tokens) stays in L2/L3 between iterations: this measures the kernel's arithmetic, not DRAM.
// GFLOP/s counts 4 * heads * head_dim per (query row, visible key): q.k and p.v.
void BM_Attention(benchmark::State& state, const kite::kernels::AttentionKernels* set, kite::kernels::KvFormat format,
                  int64_t context, int64_t rows) {
  using kite::kernels::KvFormat;
  const int64_t heads = 14, kv_heads = 2, hd = 64, row = kv_heads * hd;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> k(static_cast<size_t>(context * row)), v(k.size()), q(static_cast<size_t>(rows * heads * hd));
  for (float& x : k) x = normal(rng);
  for (float& x : v) x = normal(rng);
  for (float& x : q) x = normal(rng);
  std::vector<uint16_t> k16, v16;
  std::vector<int8_t> k8, v8;
  std::vector<float> k_scales, v_scales;
  kite::kernels::KvCacheView kv;
  kv.format = format;
  kv.row_stride = row;
  if (format == KvFormat::kF32) {
    kv.k = k.data(), kv.v = v.data();
  } else if (format == KvFormat::kF16) {
    for (size_t i = 0; i < k.size(); ++i) {
      k16.push_back(kite::kernels::FloatToHalf(k[i])), v16.push_back(kite::kernels::FloatToHalf(v[i]));
    }
    kv.k = k16.data(), kv.v = v16.data();
  } else {
    k8.resize(k.size()), v8.resize(v.size()), k_scales.resize(static_cast<size_t>(context * kv_heads));
    v_scales.resize(k_scales.size());
    for (int64_t t = 0; t < context; ++t) {
      kite::kernels::QuantizeKvRowQ8(&k[t * row], kv_heads, hd, &k8[t * row], &k_scales[t * kv_heads]);
      kite::kernels::QuantizeKvRowQ8(&v[t * row], kv_heads, hd, &v8[t * row], &v_scales[t * kv_heads]);
    }
    kv.k = k8.data(), kv.v = v8.data(), kv.k_scales = k_scales.data(), kv.v_scales = v_scales.data();
    kv.scale_row_stride = kv_heads;
  }
  kite::kernels::AttentionArgs a;
  a.n_heads = heads, a.n_kv_heads = kv_heads, a.head_dim = hd, a.m = rows, a.pos0 = context - rows;
  a.scale = 0.125f;
  std::vector<float> out(q.size());
  for (auto _ : state) {
    set->attention(a, kv, q.data(), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  double visible_keys = 0;
  for (int64_t i = 0; i < rows; ++i) visible_keys += static_cast<double>(a.pos0 + i + 1);
  state.counters["GFLOP/s"] =
      benchmark::Counter(4.0 * heads * hd * visible_keys / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

// Latent attention of one head at DeepSeek-V2-Lite's shape (kv_lora_rank 512, rope key 64): the
// score and context loops over `len` cached rows of 576 floats (kernels/mla.h).
void BM_Mla(benchmark::State& state, const kite::kernels::MlaKernels* set, int64_t len) {
  const int64_t r = 512, dr = 64, row = r + dr;
  std::vector<float> cache(len * row), q(r), q_pe(dr), scores(len), out(r);
  uint64_t seed = 7;
  auto next = [&] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(static_cast<int32_t>(seed >> 33) % 2001) / 1000.0f - 1.0f;
  };
  for (float& v : cache) v = next();
  for (float& v : q) v = next();
  for (float& v : q_pe) v = next();
  for (auto _ : state) {
    set->scores(q.data(), q_pe.data(), cache.data(), len, row, r, dr, 0.07f, scores.data());
    set->context(scores.data(), cache.data(), len, row, r, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] =
      benchmark::Counter(2.0 * len * row * sizeof(float) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const GemmKernels* sets[kite::kernels::kMaxGemmKernelSets];
  const int count = kite::kernels::AvailableGemmKernels(sets, kite::kernels::kMaxGemmKernelSets);
  for (int f = kF32; f <= kQ4G128; ++f) {
    for (const Shape& shape : kShapes) {
      for (int64_t m : {1, 128}) {
        for (int s = 0; s < count; ++s) {
          const std::string name = std::string(kFormatNames[f]) + "/" + sets[s]->isa + "/" + shape.name + "/N" +
                                   std::to_string(shape.n) + "_K" + std::to_string(shape.k) + "/M" + std::to_string(m);
          benchmark::RegisterBenchmark(name.c_str(), BM_Gemm, sets[s], static_cast<Format>(f), shape, m, false)
              ->Unit(benchmark::kMicrosecond);
          if ((f == kQ4G32 || f == kQ4G128) && m > 1 && sets[s]->gemm_q4_prefill != nullptr) {
            const std::string prefill_name = std::string(kFormatNames[f]) + "/" + sets[s]->isa + "-prefill/" +
                                             shape.name + "/N" + std::to_string(shape.n) + "_K" +
                                             std::to_string(shape.k) + "/M" + std::to_string(m);
            benchmark::RegisterBenchmark(prefill_name.c_str(), BM_Gemm, sets[s], static_cast<Format>(f), shape, m, true)
                ->Unit(benchmark::kMicrosecond);
          }
        }
      }
    }
  }
  for (int s = 0; s < count; ++s) {
    for (int64_t m : {1, 128}) {
      const std::string name = std::string("f32_qd8_quantize/") + sets[s]->isa + "/K896/M" + std::to_string(m);
      benchmark::RegisterBenchmark(name.c_str(), BM_QuantizeActivations, sets[s], m, 896)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  const kite::kernels::AttentionKernels* attention_sets[kite::kernels::kMaxAttentionKernelSets];
  const int attention_count =
      kite::kernels::AvailableAttentionKernels(attention_sets, kite::kernels::kMaxAttentionKernelSets);
  const char* const kv_names[] = {"f32", "f16", "q8"};
  for (int s = 0; s < attention_count; ++s) {
    for (int f = 0; f < 3; ++f) {
      // decode at 512 and 2048 tokens; prefill of a 512-token prompt and of 128 tokens after 1920
      const int64_t cases[][2] = {{512, 1}, {2048, 1}, {512, 512}, {2048, 128}};
      for (const auto& c : cases) {
        if (s == 0 && c[1] > 1) continue;  // the scalar reference takes ~1 s per prefill call
        const std::string name = std::string("f32_attention/kv_") + kv_names[f] + "/" + attention_sets[s]->isa +
                                 "/qwen2.5-0.5b/ctx" + std::to_string(c[0]) + "/M" + std::to_string(c[1]);
        benchmark::RegisterBenchmark(name.c_str(), BM_Attention, attention_sets[s],
                                     static_cast<kite::kernels::KvFormat>(f), c[0], c[1])
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
  const kite::kernels::MlaKernels* mla_sets[kite::kernels::kMaxMlaKernelSets];
  const int mla_count = kite::kernels::AvailableMlaKernels(mla_sets, kite::kernels::kMaxMlaKernelSets);
  for (int s = 0; s < mla_count; ++s) {
    for (int64_t len : {256, 2048}) {
      const std::string name = std::string("f32_mla_scores_context/") + mla_sets[s]->isa +
                               "/deepseek-v2-lite/len" + std::to_string(len);
      benchmark::RegisterBenchmark(name.c_str(), BM_Mla, mla_sets[s], len)->Unit(benchmark::kMicrosecond);
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
