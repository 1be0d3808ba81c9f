// Attention kernels (kernels/attention.h): every kernel set this CPU runs, the scalar reference
// included, against a naive double-precision softmax attention over the same cache values, and each
// SIMD set against the reference; random shapes (head_dim 8..128, GQA ratios 1/2/7, 1..300 keys,
// windows, soft-capping, f32/f16/Q8 caches, rings, KV-head ranges) and edge cases. The tolerance of
// each output element is derived from the f32 arithmetic in ExpectClose below.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/quantize.h"
#include "tests/kernels/test_framework.h"

namespace kite {
namespace testing {
namespace {

using kernels::AttentionArgs;
using kernels::AttentionKernels;
using kernels::KvCacheView;
using kernels::KvFormat;

constexpr double kUnitRoundoff = 0x1p-24;
constexpr float kSentinel = -12345.678f;

std::vector<const AttentionKernels*> AttentionSets() {
  const AttentionKernels* sets[kernels::kMaxAttentionKernelSets];
  const int count = kernels::AvailableAttentionKernels(sets, kernels::kMaxAttentionKernelSets);
  return std::vector<const AttentionKernels*>(sets, sets + count);
}

const char* FormatName(KvFormat f) { return f == KvFormat::kF32 ? "f32" : f == KvFormat::kF16 ? "f16" : "q8"; }

struct Problem {
  AttentionArgs args;
  KvFormat format = KvFormat::kF32;
  int64_t ring_rows = 0;    // 0: a linear cache
  int64_t row_padding = 0;  // extra elements per cache row
  float q_magnitude = 1.0f, k_magnitude = 1.0f, v_magnitude = 1.0f;
  bool equal_keys = false;  // every key the same: a uniform softmax
  uint32_t seed = 1;

  std::string Describe() const {
    const AttentionArgs& a = args;
    return std::string(FormatName(format)) + " H=" + std::to_string(a.n_heads) + " KV=" + std::to_string(a.n_kv_heads) +
           " hd=" + std::to_string(a.head_dim) + " m=" + std::to_string(a.m) + " pos0=" + std::to_string(a.pos0) +
           " window=" + std::to_string(a.window) + " cap=" + std::to_string(a.soft_cap) + " scale=" +
           std::to_string(a.scale) + " ring=" + std::to_string(ring_rows) + " kv=[" + std::to_string(a.kv_head_begin) +
           "," + std::to_string(a.kv_head_end) + ") seed=" + std::to_string(seed);
  }
};

// The cache as stored, and its values decoded exactly (in double) for the naive attention.
struct Cache {
  int64_t rows = 0, row_stride = 0;
  std::vector<float> k32, v32;
  std::vector<uint16_t> k16, v16;
  std::vector<int8_t> k8, v8;
  std::vector<float> k_scales, v_scales;
  std::vector<double> k_exact, v_exact;  // [rows][row_stride]
  KvCacheView view;
};

int64_t FirstKey(int64_t p, int64_t window) { return window > 0 ? std::max<int64_t>(0, p - window + 1) : 0; }

Cache MakeCache(const Problem& pr, std::mt19937& rng) {
  const AttentionArgs& a = pr.args;
  Cache c;
  const int64_t last = a.pos0 + a.m - 1;
  c.rows = pr.ring_rows > 0 ? pr.ring_rows : last + 1;
  c.row_stride = a.n_kv_heads * a.head_dim + pr.row_padding;
  const size_t size = static_cast<size_t>(c.rows * c.row_stride);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Rows (and padding) the call must not read hold NaN: reading one poisons an output.
  std::vector<float> k(size, nan), v(size, nan);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> shared_key(static_cast<size_t>(a.n_kv_heads * a.head_dim));
  for (float& x : shared_key) x = pr.k_magnitude * unit(rng);
  for (int64_t j = FirstKey(a.pos0, a.window); j <= last; ++j) {
    const int64_t row = pr.ring_rows > 0 ? j % pr.ring_rows : j;
    for (int64_t e = 0; e < a.n_kv_heads * a.head_dim; ++e) {
      k[row * c.row_stride + e] = pr.equal_keys ? shared_key[e] : pr.k_magnitude * unit(rng);
      v[row * c.row_stride + e] = pr.v_magnitude * unit(rng);
    }
  }
  c.k_exact.assign(size, 0.0);
  c.v_exact.assign(size, 0.0);
  KvCacheView& view = c.view;
  view.format = pr.format;
  view.row_stride = c.row_stride;
  view.ring_rows = pr.ring_rows;
  switch (pr.format) {
    case KvFormat::kF32:
      c.k32 = k, c.v32 = v;
      for (size_t i = 0; i < size; ++i) c.k_exact[i] = k[i], c.v_exact[i] = v[i];
      view.k = c.k32.data(), view.v = c.v32.data();
      break;
    case KvFormat::kF16:
      c.k16.resize(size), c.v16.resize(size);
      for (size_t i = 0; i < size; ++i) {
        c.k16[i] = kernels::FloatToHalf(k[i]), c.v16[i] = kernels::FloatToHalf(v[i]);
        c.k_exact[i] = kernels::HalfToFloat(c.k16[i]), c.v_exact[i] = kernels::HalfToFloat(c.v16[i]);
      }
      view.k = c.k16.data(), view.v = c.v16.data();
      break;
    case KvFormat::kQ8: {
      c.k8.assign(size, 0), c.v8.assign(size, 0);
      const int64_t heads = a.n_kv_heads;
      c.k_scales.assign(static_cast<size_t>(c.rows * heads), nan), c.v_scales = c.k_scales;
      for (int64_t row = 0; row < c.rows; ++row) {
        if (std::isnan(k[row * c.row_stride])) continue;  // a row the call must not read: NaN scales
        const int64_t r = row * c.row_stride;
        kernels::QuantizeKvRowQ8(&k[r], heads, a.head_dim, &c.k8[r], &c.k_scales[row * heads]);
        kernels::QuantizeKvRowQ8(&v[r], heads, a.head_dim, &c.v8[r], &c.v_scales[row * heads]);
        for (int64_t e = 0; e < heads * a.head_dim; ++e) {
          c.k_exact[r + e] = double(c.k8[r + e]) * c.k_scales[row * heads + e / a.head_dim];
          c.v_exact[r + e] = double(c.v8[r + e]) * c.v_scales[row * heads + e / a.head_dim];
        }
      }
      view.k = c.k8.data(), view.v = c.v8.data();
      view.k_scales = c.k_scales.data(), view.v_scales = c.v_scales.data();
      view.scale_row_stride = heads;
      break;
    }
  }
  return c;
}

// Per output element: the exact (double) result and a bound on what f32 arithmetic may add to it.
//   Logit s_j = scale * q.k_j: a dot product of hd terms plus the scaling and the widening of a Q8
//   key is within e_j = (hd + 4) u S_j of exact, S_j = scale * sum_d |q_d k_jd|. Soft-capping keeps
//   that error (tanh' <= 1) and adds its own evaluation error, 8 u cap. p_j = exp(s_j - M) then has
//   relative error d_j <= e_j + e_M + u |s_j - M| + 4u (the max M is a logit; the argument's
//   rounding; exp within 2 ulp). The output sum_j p_j v_j / sum_j p_j moves by at most
//   2 sum_j P_j d_j |v_jd| for those, plus (2n + hd + 16) u sum_j P_j |v_jd| for summing n terms
//   (and the sum of p), the online rescaling (once per key at most) and the final division
//   (P_j: the exact softmax). The SIMD exps return 0 where e^x < FLT_MIN, so each p_j may also be off
//   by FLT_MIN absolutely: n FLT_MIN max_j |v_jd| more (the sum of p is >= 1).
struct Expected {
  std::vector<double> value, tolerance;  // [m][n_heads][hd]
};

Expected NaiveAttention(const Problem& pr, const Cache& c, const std::vector<float>& q) {
  const AttentionArgs& a = pr.args;
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  Expected e;
  e.value.assign(static_cast<size_t>(a.m * a.n_heads * hd), 0.0);
  e.tolerance = e.value;
  const double u = kUnitRoundoff;
  for (int64_t i = 0; i < a.m; ++i) {
    const int64_t p = a.pos0 + i, lo = FirstKey(p, a.window), n = p - lo + 1;
    for (int64_t h = 0; h < a.n_heads; ++h) {
      const int64_t g = h / group;
      const float* qh = &q[(i * a.n_heads + h) * hd];
      std::vector<double> s(n), err(n);
      double max_s = -INFINITY, max_err = 0.0;
      for (int64_t t = 0; t < n; ++t) {
        const int64_t row = pr.ring_rows > 0 ? (lo + t) % pr.ring_rows : lo + t;
        const double* k = &c.k_exact[row * c.row_stride + g * hd];
        double dot = 0.0, abs_dot = 0.0;
        for (int64_t d = 0; d < hd; ++d) dot += qh[d] * k[d], abs_dot += std::fabs(qh[d] * k[d]);
        s[t] = a.scale * dot;
        err[t] = (hd + 4) * u * std::fabs(a.scale) * abs_dot;
        if (a.soft_cap > 0.0f) {
          s[t] = a.soft_cap * std::tanh(s[t] / a.soft_cap);
          err[t] += 8 * u * a.soft_cap;
        }
        max_s = std::max(max_s, s[t]);
        max_err = std::max(max_err, err[t]);
      }
      std::vector<double> prob(n);
      double sum = 0.0;
      for (int64_t t = 0; t < n; ++t) sum += prob[t] = std::exp(s[t] - max_s);
      for (int64_t t = 0; t < n; ++t) prob[t] /= sum;
      for (int64_t d = 0; d < hd; ++d) {
        double value = 0.0, weighted_abs = 0.0, perturbation = 0.0, max_abs = 0.0;
        for (int64_t t = 0; t < n; ++t) {
          const int64_t row = pr.ring_rows > 0 ? (lo + t) % pr.ring_rows : lo + t;
          const double v = c.v_exact[row * c.row_stride + g * hd + d];
          value += prob[t] * v;
          weighted_abs += prob[t] * std::fabs(v);
          max_abs = std::max(max_abs, std::fabs(v));
          const double relative = err[t] + max_err + u * (max_s - s[t]) + 4 * u;
          perturbation += prob[t] * relative * std::fabs(v);
        }
        const size_t index = static_cast<size_t>((i * a.n_heads + h) * hd + d);
        e.value[index] = value;
        e.tolerance[index] = 2 * perturbation + (2.0 * n + hd + 16) * u * weighted_abs +
                             n * double(std::numeric_limits<float>::min()) * max_abs;
      }
    }
  }
  return e;
}

// Runs `set` on the problem and checks every output against the naive attention (and, when
// `reference_out` is given, against the reference's output within the sum of both bounds).
// Outputs of heads outside the KV-head range must keep the sentinel.
std::vector<float> RunAndCheck(const AttentionKernels& set, const Problem& pr, const Cache& c,
                               const std::vector<float>& q, const Expected& e,
                               const std::vector<float>* reference_out) {
  SCOPED_TRACE(std::string(set.isa) + " " + pr.Describe());
  const AttentionArgs& a = pr.args;
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const int64_t kv_end = a.kv_head_end < 0 ? a.n_kv_heads : a.kv_head_end;
  std::vector<float> out(static_cast<size_t>(a.m * a.n_heads * hd), kSentinel);
  set.attention(a, c.view, q.data(), out.data());
  int reported = 0;
  for (int64_t i = 0; i < a.m; ++i) {
    for (int64_t h = 0; h < a.n_heads; ++h) {
      const bool computed = h >= a.kv_head_begin * group && h < kv_end * group;
      for (int64_t d = 0; d < hd; ++d) {
        const size_t index = static_cast<size_t>((i * a.n_heads + h) * hd + d);
        const float got = out[index];
        if (!computed) {
          if (std::memcmp(&got, &kSentinel, sizeof(float)) != 0 && reported++ < 5) {
            EXPECT_EQ(got, kSentinel) << "wrote head " << h << " outside the KV-head range";
          }
          continue;
        }
        const double diff = std::fabs(double(got) - e.value[index]);
        const bool ok = std::isfinite(got) && diff <= e.tolerance[index];
        if (!ok && reported++ < 5) {
          EXPECT_TRUE(ok) << "row " << i << " head " << h << " dim " << d << ": got " << got << " exact "
                          << e.value[index] << " |diff| " << diff << " tolerance " << e.tolerance[index];
        }
        if (reference_out != nullptr) {
          const double vs_ref = std::fabs(double(got) - (*reference_out)[index]);
          if (!(vs_ref <= 2 * e.tolerance[index]) && reported++ < 5) {
            EXPECT_LE(vs_ref, 2 * e.tolerance[index]) << "vs the scalar reference at row " << i << " head " << h
                                                       << " dim " << d;
          }
        }
      }
    }
  }
  EXPECT_EQ(reported, 0) << "mismatches (first 5 shown)";
  return out;
}

void CheckAllSets(const Problem& pr) {
  std::mt19937 rng(pr.seed);
  const Cache c = MakeCache(pr, rng);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(pr.args.m * pr.args.n_heads * pr.args.head_dim));
  for (float& x : q) x = pr.q_magnitude * unit(rng);
  const Expected e = NaiveAttention(pr, c, q);
  const std::vector<const AttentionKernels*> sets = AttentionSets();
  const std::vector<float> reference = RunAndCheck(*sets[0], pr, c, q, e, nullptr);
  for (size_t s = 1; s < sets.size(); ++s) RunAndCheck(*sets[s], pr, c, q, e, &reference);
}

TEST(Attention, RandomShapesAgainstDoublePrecision) {
  std::mt19937 rng(2024);
  const int64_t head_dims[] = {8, 16, 64, 128};
  const int64_t ratios[] = {1, 2, 7};
  const KvFormat formats[] = {KvFormat::kF32, KvFormat::kF16, KvFormat::kQ8};
  for (int trial = 0; trial < 120; ++trial) {
    Problem pr;
    AttentionArgs& a = pr.args;
    a.head_dim = head_dims[trial % 4];
    a.n_kv_heads = 1 + rng() % 3;
    a.n_heads = a.n_kv_heads * ratios[(trial / 4) % 3];
    const int64_t keys = 1 + rng() % 300;  // keys the last row sees without a window
    const bool decode = trial % 3 == 0;
    a.m = decode ? 1 : 1 + rng() % std::min<int64_t>(keys, 40);
    a.pos0 = keys - a.m;
    a.window = trial % 4 == 1 ? 1 + rng() % keys : 0;
    a.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim)) * (trial % 5 == 0 ? 4.0f : 1.0f);
    a.soft_cap = trial % 6 == 2 ? 2.0f + rng() % 30 : 0.0f;
    pr.format = formats[trial % 3];
    pr.row_padding = trial % 7 == 3 ? 8 : 0;
    if (trial % 5 == 4) {  // a ring holding exactly the keys the call needs, plus some slack
      pr.ring_rows = a.pos0 + a.m - FirstKey(a.pos0, a.window) + rng() % 5;
    }
    if (trial % 8 == 5 && a.n_kv_heads > 1) {  // one thread's share of the KV heads
      a.kv_head_begin = 1;
      a.kv_head_end = a.n_kv_heads;
    }
    pr.q_magnitude = trial % 9 == 0 ? 4.0f : 1.0f;
    pr.seed = static_cast<uint32_t>(trial + 1);
    CheckAllSets(pr);
  }
}

// Lengths around the key tiles (8-key steps; tiles of 64, 32 and 16 keys for head_dim 64, 128, 256)
// and the lane blocks (8 lanes: 1, 2 or 8 query rows per block for GQA ratios 7, 2, 1 and 4).
TEST(Attention, TileAndLaneBoundaries) {
  uint32_t seed = 500;
  for (int64_t hd : {64, 128, 256}) {
    for (int64_t ratio : {1, 4, 7, 9}) {
      for (int64_t keys : {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 129}) {
        for (int64_t m : {int64_t{1}, std::min<int64_t>(keys, 3), std::min<int64_t>(keys, 9)}) {
          Problem pr;
          pr.args.head_dim = hd, pr.args.n_kv_heads = 1, pr.args.n_heads = ratio;
          pr.args.m = m, pr.args.pos0 = keys - m, pr.args.scale = 0.125f;
          pr.format = seed % 2 ? KvFormat::kF16 : KvFormat::kF32;
          pr.seed = ++seed;
          CheckAllSets(pr);
        }
      }
    }
  }
}

TEST(Attention, WindowsAndRings) {
  uint32_t seed = 900;
  for (int64_t window : {1, 2, 5, 32, 100}) {
    for (int64_t m : {1, 4, 13}) {
      for (int64_t pos0 : {0, 3, 70, 250}) {
        for (bool ring : {false, true}) {
          Problem pr;
          pr.args.head_dim = 16, pr.args.n_kv_heads = 2, pr.args.n_heads = 4;
          pr.args.m = m, pr.args.pos0 = pos0, pr.args.window = window, pr.args.scale = 0.3f;
          // The runtime's ring for a windowed layer: window + max_batch - 1 slots.
          if (ring) pr.ring_rows = window + m - 1;
          pr.format = static_cast<KvFormat>(seed % 3);
          pr.seed = ++seed;
          CheckAllSets(pr);
        }
      }
    }
  }
}

TEST(Attention, PeakedUniformAndLargeValues) {
  for (int mode = 0; mode < 4; ++mode) {
    Problem pr;
    pr.args.head_dim = 64, pr.args.n_kv_heads = 2, pr.args.n_heads = 14;
    pr.args.m = 5, pr.args.pos0 = 200, pr.args.scale = 0.125f;
    if (mode == 0) pr.q_magnitude = 30.0f, pr.k_magnitude = 30.0f;      // logits in the hundreds: near one-hot
    if (mode == 1) pr.equal_keys = true;                                 // every logit equal: uniform
    if (mode == 2) pr.v_magnitude = 1e30f;                               // huge values, finite sums
    if (mode == 3) pr.q_magnitude = 30.0f, pr.k_magnitude = 30.0f, pr.args.soft_cap = 50.0f;  // capped
    pr.format = mode == 2 ? KvFormat::kF32 : KvFormat::kQ8;
    pr.seed = 77 + mode;
    CheckAllSets(pr);
  }
}

// The exp (and tanh) of each kernel, tighter than the general bound allows: two keys with exact
// logits, s_0 = 0 (k_0 = 0) and s_1 = x (q = (x, 0, ...), k_1 = (1, 0, ...), scale 1: one exact
// product), values v_0 = 0 and v_1 = 1, so out = e^x / (1 + e^x) (= sigmoid(x)). Its relative error
// is that of exp (2 ulp), plus the sum, the division and the rescaling: within 8u. With soft-capping
// the logit becomes cap * tanh(x / cap), and tanh's absolute error (4u) times cap moves the output by
// that much relatively.
TEST(Attention, ExpAndTanhThroughTwoKeys) {
  const int64_t hd = 16;  // a multiple of every SIMD kernel's width: each runs its own exp
  std::vector<float> k(2 * hd, 0.0f), v(2 * hd, 0.0f), q(hd, 0.0f), out(hd);
  k[hd] = 1.0f;
  for (int64_t d = 0; d < hd; ++d) v[hd + d] = 1.0f;
  KvCacheView view;
  view.k = k.data(), view.v = v.data(), view.row_stride = hd;
  for (float cap : {0.0f, 3.0f, 40.0f}) {
    AttentionArgs a;
    a.n_heads = 1, a.n_kv_heads = 1, a.head_dim = hd, a.m = 1, a.pos0 = 1, a.scale = 1.0f, a.soft_cap = cap;
    for (const AttentionKernels* set : AttentionSets()) {
      int reported = 0;
      for (double x = -80.0; x <= 20.0; x += 0.0137) {  // every part of exp's reduced range, many times
        q[0] = static_cast<float>(x);
        set->attention(a, view, q.data(), out.data());
        const double s = cap > 0.0f ? cap * std::tanh(double(q[0]) / cap) : double(q[0]);
        const double want = 1.0 / (1.0 + std::exp(-s));
        const double tolerance = (8.0 + 4.0 * cap) * kUnitRoundoff * want;
        if (!(std::fabs(out[0] - want) <= tolerance) && reported++ < 3) {
          EXPECT_NEAR(out[0], want, tolerance) << set->isa << " x=" << x << " cap=" << cap;
        }
      }
      EXPECT_EQ(reported, 0) << set->isa << " cap=" << cap;
    }
  }
}

// Inf and NaN in the values of an f16 cache reach the same outputs as in the reference: the wasm
// tiles widen finite halves 8 at a time and widen a tile again, exactly, when it holds Inf or NaN
// (kernels/cpu/wasm/attention_wasm.cc). One special half per case, in V of a key that every query
// row reads, KV head 1 of 2: dimension d of that head's query heads is +-Inf or NaN like the
// reference's, everything else finite and within 1e-4 of it (outputs are averages of values in
// [-1, 1]; f32 rounding is ~1e-6).
TEST(Attention, InfAndNanValuesInAnF16Cache) {
  const uint16_t specials[] = {0x7c00, 0xfc00, 0x7e00, 0xfc01};  // +Inf, -Inf, quiet and signalling NaN
  uint32_t seed = 1300;
  for (uint16_t special : specials) {
    for (int64_t d : {0, 5, 63}) {
      Problem pr;
      pr.args.head_dim = 64, pr.args.n_kv_heads = 2, pr.args.n_heads = 6;
      pr.args.m = 3, pr.args.pos0 = 70, pr.args.scale = 0.125f;
      pr.format = KvFormat::kF16;
      pr.seed = ++seed;
      std::mt19937 rng(pr.seed);
      Cache c = MakeCache(pr, rng);
      c.v16[40 * c.row_stride + 64 + d] = special;
      std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
      std::vector<float> q(static_cast<size_t>(pr.args.m * pr.args.n_heads * 64));
      for (float& x : q) x = unit(rng);
      const std::vector<const AttentionKernels*> sets = AttentionSets();
      std::vector<float> reference;
      for (const AttentionKernels* set : sets) {
        SCOPED_TRACE(std::string(set->isa) + " special 0x" + std::to_string(special) + " d=" + std::to_string(d));
        std::vector<float> out(q.size(), kSentinel);
        set->attention(pr.args, c.view, q.data(), out.data());
        if (reference.empty()) reference = out;
        int bad = 0;
        for (size_t i = 0; i < out.size(); ++i) {
          const int64_t head = static_cast<int64_t>(i / 64) % pr.args.n_heads, dim = static_cast<int64_t>(i % 64);
          const bool special_output = head >= 3 && dim == d;
          const float want = reference[i], got = out[i];
          const bool ok = special_output ? !std::isfinite(want) && (std::isnan(want) ? std::isnan(got) : got == want)
                                         : std::isfinite(got) && std::fabs(got - want) <= 1e-4f;
          if (!ok && bad++ < 5) ADD_FAILURE() << "output " << i << ": got " << got << ", reference " << want;
        }
        EXPECT_EQ(bad, 0);
      }
    }
  }
}

TEST(Attention, InvalidArgumentsWriteNothing) {
  Problem pr;
  pr.args.head_dim = 8, pr.args.n_kv_heads = 2, pr.args.n_heads = 4, pr.args.m = 3, pr.args.pos0 = 10;
  std::mt19937 rng(1);
  const Cache c = MakeCache(pr, rng);
  const std::vector<float> q(static_cast<size_t>(3 * 4 * 8), 0.5f);
  for (int bad = 0; bad < 6; ++bad) {
    AttentionArgs a = pr.args;
    KvCacheView view = c.view;
    if (bad == 0) a.n_heads = 5;             // not a multiple of n_kv_heads
    if (bad == 1) a.head_dim = 0;
    if (bad == 2) a.kv_head_end = 3;         // past n_kv_heads
    if (bad == 3) view.row_stride = 15;      // rows overlap
    if (bad == 4) view.ring_rows = 12;       // 13 keys needed at once
    if (bad == 5) view.format = KvFormat::kQ8, view.k_scales = nullptr;
    for (const AttentionKernels* set : AttentionSets()) {
      std::vector<float> out(q.size(), kSentinel);
      set->attention(a, view, q.data(), out.data());
      for (float x : out) EXPECT_EQ(x, kSentinel) << set->isa << " case " << bad;
    }
  }
}

TEST(Attention, QuantizeKvRowQ8RoundTrip) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  const int64_t heads = 3, hd = 40;
  std::vector<float> x(heads * hd);
  for (float& v : x) v = 7.0f * unit(rng);
  for (int64_t d = 0; d < hd; ++d) x[2 * hd + d] = 0.0f;  // a zero head
  std::vector<int8_t> codes(x.size());
  std::vector<float> scales(heads);
  kernels::QuantizeKvRowQ8(x.data(), heads, hd, codes.data(), scales.data());
  EXPECT_EQ(scales[2], 0.0f);
  for (int64_t g = 0; g < heads; ++g) {
    int max_code = 0;
    for (int64_t d = 0; d < hd; ++d) {
      const int code = codes[g * hd + d];
      max_code = std::max(max_code, std::abs(code));
      EXPECT_LE(std::fabs(code * scales[g] - x[g * hd + d]), 0.5f * scales[g] * (1 + 1e-5f) + 1e-30f);
    }
    if (g != 2) {
      EXPECT_EQ(max_code, 127);  // the largest element maps to +-127
    }
  }
}

TEST(AttentionDispatch, ReferenceFirstBestLast) {
  const std::vector<const AttentionKernels*> sets = AttentionSets();
  ASSERT_GE(sets.size(), 1u);
  EXPECT_EQ(sets.front(), &kernels::ReferenceAttentionKernels());
  EXPECT_EQ(sets.back(), &kernels::BestAttentionKernels());
  std::string names;
  for (const AttentionKernels* set : sets) names += std::string(names.empty() ? "" : " ") + set->isa;
  std::printf("attention kernel sets on this CPU: %s\n", names.c_str());
#if defined(__x86_64__)
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl");
  EXPECT_EQ(names, std::string(avx2 ? "scalar avx2" : "scalar") + (avx512 ? " avx512" : ""));
#elif defined(__aarch64__)
  EXPECT_EQ(names, "scalar neon");
#endif
}

}  // namespace
}  // namespace testing
}  // namespace kite
