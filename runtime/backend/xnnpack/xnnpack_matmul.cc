#include "runtime/backend/xnnpack/xnnpack_matmul.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>

#include "kernels/quantize.h"

#if KITE_HAVE_XNNPACK
#include <xnnpack.h>
static_assert(XNN_EXTRA_BYTES == kite::kXnnpackExtraBytes, "xnnpack.h changed its over-read allowance");
#endif

namespace kite {
namespace {

// XNNPACK's f32 GEMM kernels pack weights in tiles of 16 output columns on x86 and 8 or 16 on
// aarch64: slice boundaries on multiples of 16 waste no packing padding.
constexpr int64_t kSliceAlign = 16;

std::string Where(int64_t n, int64_t k) { return "XNNPACK matrix " + std::to_string(n) + "x" + std::to_string(k); }

}  // namespace

// The rule, from the table in README.md (one thread on this repository's machine: AMD EPYC Zen 5
// under load, where XNNPACK picks its AVX-512 f32 kernels and Kite's float kernels are AVX2):
//   m < 16       Kite: at m = 1 twice as fast (XNNPACK ~22 GFLOP/s, its per-call setup and packing
//                of x dominate); m = 4..8 within a few percent either way.
//   m >= 16      XNNPACK: 1.2-1.7x for every f32 matrix; for f16 ones (widened to f32) as well,
//                except k > 2048 (Qwen2.5-0.5B's mlp_down, k = 4864), where Kite's f16 kernel, reading
//                half the bytes, ties or wins: those matrices are not worth their 4 bytes per weight.
bool XnnpackPreferred(XnnpackWeights type, int64_t m, int64_t n, int64_t k) {
  return m >= 16 && XnnpackWorthPacking(type, n, k);
}

bool XnnpackWorthPacking(XnnpackWeights type, int64_t n, int64_t k) {
  if (n < 16 || k < 16) return false;  // not measured; Kite's kernels are fine at such sizes
  return type == XnnpackWeights::kF32 || k <= 2048;
}

#if KITE_HAVE_XNNPACK

bool XnnpackAvailable() {
  static const bool available = xnn_initialize(nullptr) == xnn_status_success;  // once, thread-safe
  return available;
}

Result<std::unique_ptr<XnnpackMatrix>> XnnpackMatrix::Create(XnnpackWeights type, const void* w, int64_t n,
                                                             int64_t k, int64_t ldy, int slices) {
  if (w == nullptr || n <= 0 || k <= 0 || ldy < n || slices < 1 || slices > n) {
    return InvalidArgument(Where(n, k) + ": bad shape (ldy " + std::to_string(ldy) + ", " + std::to_string(slices) +
                           " slices)");
  }
  if (!XnnpackAvailable()) return Unsupported(Where(n, k) + ": xnn_initialize failed on this CPU");
  std::unique_ptr<XnnpackMatrix> m(new XnnpackMatrix());
  m->type_ = type, m->n_ = n, m->k_ = k, m->ldy_ = ldy;
  std::vector<float> widened;  // one slice of f16 weights as f32, freed when packing ends
  for (int s = 0; s < slices; ++s) {
    Slice slice;
    slice.n_begin = std::min(n, (n * s / slices + kSliceAlign / 2) / kSliceAlign * kSliceAlign);
    slice.n_end = s + 1 == slices ? n : std::min(n, (n * (s + 1) / slices + kSliceAlign / 2) / kSliceAlign * kSliceAlign);
    if (slice.n_end <= slice.n_begin) continue;  // tiny n: fewer slices than asked
    const int64_t rows = slice.n_end - slice.n_begin;
    const float* kernel = nullptr;
    if (type == XnnpackWeights::kF32) {
      kernel = static_cast<const float*>(w) + slice.n_begin * k;  // W: [n][k]
    } else {
      const uint16_t* half = static_cast<const uint16_t*>(w) + slice.n_begin * k;
      widened.resize(static_cast<size_t>(rows * k));
      for (size_t i = 0; i < widened.size(); ++i) widened[i] = kernels::HalfToFloat(half[i]);
      kernel = widened.data();
    }
    xnn_operator_t op = nullptr;
    const xnn_status status = xnn_create_fully_connected_nc_f32(
        static_cast<size_t>(k), static_cast<size_t>(rows), static_cast<size_t>(k), static_cast<size_t>(ldy), kernel,
        /*bias=*/nullptr, -INFINITY, INFINITY, /*flags=*/0, &op);
    if (status != xnn_status_success) {
      return Internal(Where(n, k) + ": xnn_create_fully_connected_nc_f32 failed with status " +
                      std::to_string(static_cast<int>(status)) + " for rows " + std::to_string(slice.n_begin) + ".." +
                      std::to_string(slice.n_end));  // the destructor frees the slices made so far
    }
    slice.op = op;
    m->slices_.push_back(slice);
    m->packed_bytes_ += static_cast<uint64_t>((rows + kSliceAlign - 1) / kSliceAlign * kSliceAlign * (k + 1)) * 4;
  }
  return m;
}

XnnpackMatrix::~XnnpackMatrix() {
  for (const Slice& s : slices_) xnn_delete_operator(static_cast<xnn_operator_t>(s.op));
}

Status XnnpackMatrix::RunSlice(int s, const float* x, int64_t m, float* y) const {
  if (s < 0 || s >= slices() || m < 0) return InvalidArgument(Where(n_, k_) + ": no slice " + std::to_string(s));
  if (m == 0) return Status::Ok();
  const Slice& slice = slices_[s];
  const xnn_operator_t op = static_cast<xnn_operator_t>(slice.op);
  xnn_status status = xnn_setup_fully_connected_nc_f32(op, static_cast<size_t>(m), x, y + slice.n_begin, nullptr);
  if (status == xnn_status_success) status = xnn_run_operator(op, nullptr);
  if (status != xnn_status_success) {
    return Internal(Where(n_, k_) + ": XNNPACK failed with status " + std::to_string(static_cast<int>(status)) +
                    " on slice " + std::to_string(s) + " at m = " + std::to_string(m));
  }
  return Status::Ok();
}

bool XnnpackMatMul(const XnnpackMatrix* w, ThreadPool& pool, const float* x, int64_t m, float* y, int64_t ldy) {
  if (w == nullptr || m <= 0 || ldy != w->ldy() || !XnnpackPreferred(w->type(), m, w->n(), w->k())) return false;
  std::atomic<bool> ok{true};
  pool.Run([&](int thread, int threads) {
    for (int s = thread; s < w->slices(); s += threads) {
      if (!w->RunSlice(s, x, m, y).ok()) ok.store(false, std::memory_order_relaxed);
    }
  });
  return ok.load();
}

#else  // KITE_HAVE_XNNPACK

bool XnnpackAvailable() { return false; }

Result<std::unique_ptr<XnnpackMatrix>> XnnpackMatrix::Create(XnnpackWeights, const void*, int64_t n, int64_t k,
                                                             int64_t, int) {
  return Unsupported(Where(n, k) + ": this build has no XNNPACK (KITE_XNNPACK=OFF or libxnnpack-dev missing)");
}

XnnpackMatrix::~XnnpackMatrix() = default;

Status XnnpackMatrix::RunSlice(int, const float*, int64_t, float*) const {
  return Unsupported("this build has no XNNPACK");
}

bool XnnpackMatMul(const XnnpackMatrix*, ThreadPool&, const float*, int64_t, float*, int64_t) { return false; }

#endif  // KITE_HAVE_XNNPACK

}  // namespace kite
