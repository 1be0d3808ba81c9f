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

std::string Where(int64_t n, int64_t k) { return "XNNPACK matrix " + std::to_string(n) + "x" + std::to_string(k); }

}  // namespace

// The rule, from the table in README.md (one thread, AMD EPYC Zen 5, where XNNPACK runs its AVX-512
// f32 kernels), by how wide Kite's float kernels are:
//   8 wide (AVX2; NEON is assumed alike, unmeasured): XNNPACK from m >= 16 on, f32 and f16 weights
//     (f16 widened): 1.2-1.7x there. Below, Kite: 1.4-2.3x faster at m = 1 (XNNPACK's per-call setup
//     and repacking of x dominate), mixed at m = 4.
//   16 wide (AVX-512 tiles): f16 never (Kite's f16 tiles read half the bytes and won or tied every
//     shape); f32 only at m >= 32 and k <= 768 (SmolLM2's k = 576 matrices: 1.05-1.3x), where every
//     measured shape was faster with XNNPACK. Elsewhere the two were within +-10% or Kite won.
bool XnnpackPreferred(XnnpackWeights type, int64_t m, int64_t n, int64_t k, const kernels::GemmKernels& kite) {
  if (!XnnpackWorthPacking(type, n, k, kite)) return false;
  return m >= (kite.float_lanes >= 16 ? 32 : 16);
}

bool XnnpackWorthPacking(XnnpackWeights type, int64_t n, int64_t k, const kernels::GemmKernels& kite) {
  if (n < 16 || k < 16) return false;  // not measured; Kite's kernels are fine at such sizes
  if (kite.float_lanes >= 16) return type == XnnpackWeights::kF32 && k <= 768;
  return true;
}

#if KITE_HAVE_XNNPACK

// XNNPACK's f32 GEMM kernels pack weights in tiles of 16 output columns on x86 and 8 or 16 on
// aarch64: slice boundaries on multiples of 16 waste no packing padding.
constexpr int64_t kSliceAlign = 16;

bool XnnpackAvailable() {
  static const bool available = xnn_initialize(nullptr) == xnn_status_success;  // once, thread-safe
  return available;
}

Result<std::unique_ptr<XnnpackMatrix>> XnnpackMatrix::Create(XnnpackWeights type, const void* w, int64_t n,
                                                             int64_t k, int64_t ldy, int slices, XnnpackRule rule) {
  if (w == nullptr || n <= 0 || k <= 0 || ldy < n || slices < 1 || slices > n) {
    return InvalidArgument(Where(n, k) + ": bad shape (ldy " + std::to_string(ldy) + ", " + std::to_string(slices) +
                           " slices)");
  }
  if (!XnnpackAvailable()) return Unsupported(Where(n, k) + ": xnn_initialize failed on this CPU");
  std::unique_ptr<XnnpackMatrix> m(new XnnpackMatrix());
  m->type_ = type, m->rule_ = rule, m->n_ = n, m->k_ = k, m->ldy_ = ldy;
  std::vector<float> widened;  // one slice of f16 weights as f32, freed when packing ends
  for (int s = 0; s < slices; ++s) {
    Slice slice;
    // Boundary s: n * s / slices rounded to a multiple of kSliceAlign; the last slice ends at n.
    auto boundary = [&](int64_t i) {
      return std::min(n, (n * i / slices + kSliceAlign / 2) / kSliceAlign * kSliceAlign);
    };
    slice.n_begin = boundary(s);
    slice.n_end = s + 1 == slices ? n : boundary(s + 1);
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

bool XnnpackMatMul(const XnnpackMatrix* w, const kernels::GemmKernels& kite, ThreadPool& pool, const float* x,
                   int64_t m, float* y, int64_t ldy) {
  if (w == nullptr || m <= 0 || ldy != w->ldy()) return false;
  const bool take = w->rule() == XnnpackRule::kAlways ? m >= 2 : XnnpackPreferred(w->type(), m, w->n(), w->k(), kite);
  if (!take) return false;
  // Another session is running this matrix: its operators are busy, Kite's kernels are not.
  std::unique_lock<std::mutex> lock(w->busy_, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  w->products_.fetch_add(1, std::memory_order_relaxed);
  std::atomic<bool> ok{true};
  // Slot `slot` owns slices slot, slot + slots, ...: Run never runs a slot on two threads at once,
  // so no operator (whose setup writes its state) is ever shared by two threads.
  pool.Run([&](int slot, int slots) {
    for (int s = slot; s < w->slices(); s += slots) {
      if (!w->RunSlice(s, x, m, y).ok()) ok.store(false, std::memory_order_relaxed);
    }
  });
  return ok.load();
}

#else  // KITE_HAVE_XNNPACK

bool XnnpackAvailable() { return false; }

Result<std::unique_ptr<XnnpackMatrix>> XnnpackMatrix::Create(XnnpackWeights, const void*, int64_t n, int64_t k,
                                                             int64_t, int, XnnpackRule) {
  return Unsupported(Where(n, k) + ": this build has no XNNPACK (KITE_XNNPACK=OFF or libxnnpack-dev missing)");
}

XnnpackMatrix::~XnnpackMatrix() = default;

Status XnnpackMatrix::RunSlice(int, const float*, int64_t, float*) const {
  return Unsupported("this build has no XNNPACK");
}

bool XnnpackMatMul(const XnnpackMatrix*, const kernels::GemmKernels&, ThreadPool&, const float*, int64_t, float*,
                   int64_t) {
  return false;
}

#endif  // KITE_HAVE_XNNPACK

}  // namespace kite
