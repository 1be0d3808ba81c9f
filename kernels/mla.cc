// The MLA kernel table, chosen by what kernels/cpu_features.h detects at run time.
#include "kernels/mla.h"

#include "kernels/cpu_features.h"

namespace kite {
namespace kernels {
namespace {

const MlaKernels kReference = {"scalar", f32_mla_scores__scalar, f32_mla_context__scalar, f32_axpy__scalar};
#if defined(__x86_64__) || defined(_M_X64)
const MlaKernels kAvx2 = {"avx2", f32_mla_scores__avx2, f32_mla_context__avx2, f32_axpy__avx2};
#endif
#if defined(__aarch64__)
const MlaKernels kNeon = {"neon", f32_mla_scores__neon, f32_mla_context__neon, f32_axpy__neon};
#endif

struct KernelList {
  const MlaKernels* sets[kMaxMlaKernelSets];
  int count;
};

KernelList DetectKernels() {
  KernelList list = {{&kReference}, 1};
#if defined(__x86_64__) || defined(_M_X64)
  if (DetectedCpuFeatures().avx2) list.sets[list.count++] = &kAvx2;
#endif
#if defined(__aarch64__)
  list.sets[list.count++] = &kNeon;  // NEON is part of the aarch64 baseline
#endif
  return list;
}

const KernelList& Detected() {
  static const KernelList list = DetectKernels();  // thread-safe, once
  return list;
}

}  // namespace

const MlaKernels& ReferenceMlaKernels() { return kReference; }

const MlaKernels& BestMlaKernels() {
  const KernelList& list = Detected();
  return *list.sets[list.count - 1];
}

int AvailableMlaKernels(const MlaKernels** out, int capacity) {
  const KernelList& list = Detected();
  int stored = 0;
  for (; stored < list.count && stored < capacity; ++stored) out[stored] = list.sets[stored];
  return stored;
}

}  // namespace kernels
}  // namespace kite
