#include "runtime/model/kernel_layout.h"

#include <cstdint>
#include <set>

#include "kernels/quant_formats.h"
#include "kernels/quantize.h"
#include "runtime/model/model.h"
#include "runtime/model/weights.h"

namespace kite {
namespace {

// Whether every f16 group scale of Q4 matrix m is finite (exponent field not all ones).
bool Q4ScalesFinite(const Matrix& m) {
  const uint16_t* scales = static_cast<const uint16_t*>(m.scales);
  const int64_t count = m.rows * Q4GroupsPerRow(m.cols, m.group_size);
  for (int64_t i = 0; i < count; ++i) {
    if ((scales[i] & 0x7c00) == 0x7c00) return false;
  }
  return true;
}

}  // namespace

int RearrangeQ4ForKernels(Model& model) {
  if (model.kernels().gemm_q4_transposed == nullptr) return 0;
  std::set<const void*> done;
  for (Matrix* m : model.KernelLayoutMatrices()) {
    if (!m->present() || m->dtype != DType::kQ4 || m->q4_transposed) continue;
    // gemm_q4_transposed takes row pairs and finite scales only.
    if (done.count(m->data) == 0 && (m->rows % 2 != 0 || !Q4ScalesFinite(*m))) continue;
    if (done.insert(m->data).second) {
      // The views are const only for the file-backed case; the caller vouches for writable bytes.
      kernels::TransposeQ4Groups(static_cast<uint8_t*>(const_cast<void*>(m->data)), m->rows, m->cols, m->group_size);
    }
    m->q4_transposed = true;
  }
  return static_cast<int>(done.size());
}

}  // namespace kite
