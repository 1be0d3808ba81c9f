// Prefill matrix products through XNNPACK's f32 fully-connected operator
// (Debian's libxnnpack-dev, a Feb-2022 snapshot: f32/f16 FC, no dynamically
// quantized or 4-bit operators), for the f32 and f16 weights and row counts
// where it beats the Kite kernel set that would run otherwise
// (XnnpackPreferred; numbers in README.md).
//
//   y[i][0..n) = x[i][0..k) W^T        x: [m][k] f32, W: [n][k] f32 or f16, y: [m][ldy]
//
// Memory: XNNPACK packs each matrix once into its own f32 buffer (Create), so
// an f32 model pays its linear weights once more and an f16 model twice more
// (f16 weights are widened: XNNPACK's f16 operator computes in f16, 10x slower
// here and ~1e-2 off). packed_bytes() says how much. Weights stay untouched.
//
// Threads: a matrix is packed as `slices` column slices, one XNNPACK operator
// each, and XnnpackMatMul runs them on Kite's ThreadPool (slice s in pool slot
// s % threads; ThreadPool::Run never runs one slot twice at once, so one
// operator never runs on two threads at once) with no XNNPACK thread pool, so
// the two pools never compete for the cores. Make slices = the pool's thread
// count.
//
// XNNPACK reads up to kXnnpackExtraBytes past the end of x (never writes past
// y): x must be followed by that many readable bytes.
//
// Built without XNNPACK (KITE_XNNPACK=OFF, or the library missing), the same
// API reports XnnpackAvailable() == false and XnnpackMatMul returns false.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/gemm.h"
#include "runtime/core/status.h"
#include "runtime/core/thread_pool.h"

namespace kite {

constexpr int64_t kXnnpackExtraBytes = 16;  // XNN_EXTRA_BYTES of xnnpack.h

enum class XnnpackWeights { kF32, kF16 };

// Which products of a packed matrix XnnpackMatMul takes: the measured rule (XnnpackPreferred), or
// every product of m >= 2 rows (tests: run the XNNPACK path on shapes the rule would leave to Kite).
enum class XnnpackRule { kMeasured, kAlways };

// True when this build has XNNPACK and it initialized on this CPU (once; thread-safe).
bool XnnpackAvailable();

// The rule: true for the weight types and shapes where XNNPACK's operator was faster than the kernel
// set `kite` would run instead, on the machine of README.md's table. With 8-wide float kernels
// (AVX2, NEON): m >= 16. With AVX-512 ones (float_lanes 16): f32 weights only, m >= 32, k <= 768.
// Independent of XnnpackAvailable().
bool XnnpackPreferred(XnnpackWeights type, int64_t m, int64_t n, int64_t k, const kernels::GemmKernels& kite);
// Whether XnnpackPreferred holds for some m; a matrix for which it does not needs no packing (and so
// no memory).
bool XnnpackWorthPacking(XnnpackWeights type, int64_t n, int64_t k, const kernels::GemmKernels& kite);

class XnnpackMatrix {
 public:
  // Packs W [n][k] (f32 or f16, row stride k) for outputs of row stride ldy (>= n) in `slices`
  // column slices (1..n). Fails with kUnsupported without XNNPACK, kInvalidArgument on bad shapes.
  static Result<std::unique_ptr<XnnpackMatrix>> Create(XnnpackWeights type, const void* w, int64_t n, int64_t k,
                                                       int64_t ldy, int slices,
                                                       XnnpackRule rule = XnnpackRule::kMeasured);
  ~XnnpackMatrix();
  XnnpackMatrix(const XnnpackMatrix&) = delete;
  XnnpackMatrix& operator=(const XnnpackMatrix&) = delete;

  XnnpackWeights type() const { return type_; }
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  int64_t ldy() const { return ldy_; }
  int slices() const { return static_cast<int>(slices_.size()); }
  XnnpackRule rule() const { return rule_; }
  // Bytes XNNPACK holds for this matrix: the packed f32 weights (rows rounded up to its tile) and
  // zero biases; an estimate, the 2022 API does not report it.
  uint64_t packed_bytes() const { return packed_bytes_; }
  // Products XnnpackMatMul has run through XNNPACK with this matrix (tests check which path ran).
  uint64_t products() const { return products_.load(std::memory_order_relaxed); }

  // Columns of slice s for rows [0, m). Different slices may run on different threads at once; one
  // slice must not run on two threads at once.
  Status RunSlice(int s, const float* x, int64_t m, float* y) const;

 private:
  struct Slice {
    void* op = nullptr;  // xnn_operator_t
    int64_t n_begin = 0, n_end = 0;
  };
  XnnpackMatrix() = default;

  XnnpackWeights type_ = XnnpackWeights::kF32;
  XnnpackRule rule_ = XnnpackRule::kMeasured;
  int64_t n_ = 0, k_ = 0, ldy_ = 0;
  uint64_t packed_bytes_ = 0;
  std::vector<Slice> slices_;
  mutable std::atomic<uint64_t> products_{0};
  // Held by the XnnpackMatMul running this matrix: an XNNPACK operator's setup writes its state, so
  // two sessions sharing the engine must not run the same matrix at once (the second one runs
  // Kite's kernels instead of waiting).
  mutable std::mutex busy_;
  friend bool XnnpackMatMul(const XnnpackMatrix*, const kernels::GemmKernels&, ThreadPool&, const float*, int64_t,
                            float*, int64_t);
};

// y = x W^T through XNNPACK when XnnpackPreferred(w.type(), m, n, k, kite) (or, for a matrix packed
// with XnnpackRule::kAlways, m >= 2) and w was packed for this ldy;
// returns false when the caller should run Kite's own kernels instead: w null, the rule says no or
// ldy differs (y untouched), another thread is running w right now (y untouched; safe to call from
// several threads sharing w), or an XNNPACK error (y may be partly written; Kite's kernels then
// overwrite all of it). Runs the slices on `pool`.
bool XnnpackMatMul(const XnnpackMatrix* w, const kernels::GemmKernels& kite, ThreadPool& pool, const float* x,
                   int64_t m, float* y, int64_t ldy);

}  // namespace kite
