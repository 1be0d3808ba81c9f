// Gemm kernel tables, filled by what kernels/cpu_features.h detects at run
// time: nothing may call a SIMD kernel before those checks say the CPU (and,
// for AVX, the OS) supports it.
#include "kernels/gemm.h"

#include "kernels/cpu_features.h"
#include "kernels/gemm_microkernels.h"
#include "kernels/quant_formats.h"

namespace kite {
namespace kernels {

#if defined(__wasm_simd128__)
// Defined only in modules linked with the relaxed-SIMD object (kernels/cpu/wasm/gemm_wasm.cc built
// with KITE_WASM_RELAXED): such a module does not even load where relaxed SIMD is missing, so its
// presence is the whole check. Elsewhere the weak reference stays undefined and its address null.
extern const GemmKernels kWasmRelaxedGemmKernels __attribute__((weak));
#endif

namespace {

#define KITE_GEMM_SET(name, isa, lanes) \
  {name, f32_gemm_f32__##isa, f16_gemm_f32__##isa, bf16_gemm_f32__##isa, qs8_gemm_f32__##isa, \
   qs4_gemm_f32__##isa, f32_qd8_quantize__##isa, lanes, nullptr, nullptr, nullptr}

const GemmKernels kReference = KITE_GEMM_SET("scalar", scalar, 1);

#if defined(__x86_64__) || defined(_M_X64)
const GemmKernels kAvx2 = KITE_GEMM_SET("avx2", avx2, 8);
// AVX-VNNI adds integer dot products only; AVX-512 also 16-wide float tiles for prefill.
const GemmKernels kAvxVnni = {"avx-vnni", f32_gemm_f32__avx2, f16_gemm_f32__avx2, bf16_gemm_f32__avx2,
                              qs8_gemm_f32__avxvnni, qs4_gemm_f32__avxvnni, f32_qd8_quantize__avx2, 8,
                              nullptr, nullptr, nullptr};
const GemmKernels kAvx512Vnni = {"avx512-vnni", f32_gemm_f32__avx512, f16_gemm_f32__avx512, bf16_gemm_f32__avx512,
                                 qs8_gemm_f32__avx512vnni, qs4_gemm_f32__avx512vnni, f32_qd8_quantize__avx2, 16,
                                 qs4_prefill_prepare__avx512vnni, qs4_prefill_gemm__avx512vnni, nullptr};
#endif

#if defined(__aarch64__)
const GemmKernels kNeon = KITE_GEMM_SET("neon", neon, 4);
// dotprod and i8mm only change the integer kernels; the float ones are the baseline NEON ones.
const GemmKernels kNeonDot = {"neon-dotprod", f32_gemm_f32__neon, f16_gemm_f32__neon, bf16_gemm_f32__neon,
                              qs8_gemm_f32__neon_dot, qs4_gemm_f32__neon_dot, f32_qd8_quantize__neon, 4,
                              nullptr, nullptr, nullptr};
const GemmKernels kNeonI8mm = {"neon-i8mm", f32_gemm_f32__neon, f16_gemm_f32__neon, bf16_gemm_f32__neon,
                               qs8_gemm_f32__neon_i8mm, qs4_gemm_f32__neon_i8mm, f32_qd8_quantize__neon, 4,
                               nullptr, nullptr, nullptr};
#endif

#if defined(__wasm_simd128__)
// Chosen at build time: a module built with -msimd128 does not load where SIMD128 is missing.
const GemmKernels kWasmSimd128 = KITE_GEMM_SET("wasm-simd128", wasm_simd128, 4);
#endif

#undef KITE_GEMM_SET

struct KernelList {
  const GemmKernels* sets[kMaxGemmKernelSets];
  int count;
};

KernelList DetectKernels() {
  KernelList list = {{&kReference}, 1};
#if defined(__x86_64__) || defined(_M_X64)
  const CpuFeatures& x86 = DetectedCpuFeatures();
  if (x86.avx2) list.sets[list.count++] = &kAvx2;
  if (x86.avx_vnni) list.sets[list.count++] = &kAvxVnni;
  if (x86.avx512_vnni) list.sets[list.count++] = &kAvx512Vnni;  // fastest where both exist (twice as wide)
#endif
#if defined(__aarch64__)
  const CpuFeatures& arm = DetectedCpuFeatures();
  list.sets[list.count++] = &kNeon;
  if (arm.dotprod) list.sets[list.count++] = &kNeonDot;
  if (arm.i8mm) list.sets[list.count++] = &kNeonI8mm;
#endif
#if defined(__wasm_simd128__)
  list.sets[list.count++] = &kWasmSimd128;
  if (&kWasmRelaxedGemmKernels != nullptr) list.sets[list.count++] = &kWasmRelaxedGemmKernels;
#endif
  return list;
}

const KernelList& Detected() {
  static const KernelList list = DetectKernels();  // thread-safe, once
  return list;
}

}  // namespace

int64_t Q4PrefillActivationBytes(int64_t m, int64_t k) {
  const int64_t blocks = Q8RowBytes(k) / kQuantBlock;
  return m * ((blocks + kQ4PrefillChunkBlocks - 1) / kQ4PrefillChunkBlocks) * kQ4PrefillChunkBytes;
}

const GemmKernels& ReferenceGemmKernels() { return kReference; }

const GemmKernels& BestGemmKernels() {
  const KernelList& list = Detected();
  return *list.sets[list.count - 1];  // detection appends in order of speed
}

int AvailableGemmKernels(const GemmKernels** out, int capacity) {
  const KernelList& list = Detected();
  int stored = 0;
  for (; stored < list.count && stored < capacity; ++stored) out[stored] = list.sets[stored];
  return stored;
}

}  // namespace kernels
}  // namespace kite
