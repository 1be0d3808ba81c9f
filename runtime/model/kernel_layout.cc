#include "runtime/model/kernel_layout.h"

#include <set>

#include "kernels/quantize.h"
#include "runtime/model/model.h"
#include "runtime/model/weights.h"

namespace kite {

int RearrangeQ4ForKernels(Model& model) {
  if (model.kernels().gemm_q4_transposed == nullptr) return 0;
  std::set<const void*> done;
  for (Matrix* m : model.KernelLayoutMatrices()) {
    if (!m->present() || m->dtype != DType::kQ4 || m->q4_transposed) continue;
    if (done.insert(m->data).second) {
      // The views are const only for the file-backed case; the caller vouches for writable bytes.
      kernels::TransposeQ4Groups(static_cast<uint8_t*>(const_cast<void*>(m->data)), m->rows, m->cols, m->group_size);
    }
    m->q4_transposed = true;
  }
  return static_cast<int>(done.size());
}

}  // namespace kite
