// Kernel tables and run-time CPU detection. The SIMD kernels are compiled for
// instruction sets the build machine's baseline may lack, so nothing may call
// them before the checks here say the CPU (and, for AVX, the OS) supports them.
#include "kernels/gemm.h"

#include "kernels/gemm_microkernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace kite {
namespace kernels {
namespace {

#define KITE_GEMM_SET(name, isa) \
  {name, f32_gemm_f32__##isa, f16_gemm_f32__##isa, bf16_gemm_f32__##isa, qs8_gemm_f32__##isa, \
   qs4_gemm_f32__##isa, f32_qd8_quantize__##isa}

const GemmKernels kReference = KITE_GEMM_SET("scalar", scalar);

#if defined(__x86_64__) || defined(_M_X64)
const GemmKernels kAvx2 = KITE_GEMM_SET("avx2", avx2);

// AVX2 + FMA + F16C, and the OS saving YMM state on context switches (OSXSAVE + XCR0 bits 1-2):
// a CPU can have AVX2 while the OS has it turned off.
bool CpuHasAvx2FmaF16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool fma = ecx & (1u << 12), osxsave = ecx & (1u << 27), avx = ecx & (1u << 28), f16c = ecx & (1u << 29);
  if (!(fma && osxsave && avx && f16c)) return false;
  unsigned xcr0_low = 0, xcr0_high = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));  // no -mxsave needed for asm
  if ((xcr0_low & 0x6u) != 0x6u) return false;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  return ebx & (1u << 5);
}
#endif

#if defined(__aarch64__)
const GemmKernels kNeon = KITE_GEMM_SET("neon", neon);
// dotprod and i8mm only change the integer kernels; the float ones are the baseline NEON ones.
const GemmKernels kNeonDot = {"neon-dotprod", f32_gemm_f32__neon, f16_gemm_f32__neon, bf16_gemm_f32__neon,
                              qs8_gemm_f32__neon_dot, qs4_gemm_f32__neon_dot, f32_qd8_quantize__neon};
const GemmKernels kNeonI8mm = {"neon-i8mm", f32_gemm_f32__neon, f16_gemm_f32__neon, bf16_gemm_f32__neon,
                               qs8_gemm_f32__neon_i8mm, qs4_gemm_f32__neon_i8mm, f32_qd8_quantize__neon};

// The kernel bits of AT_HWCAP / AT_HWCAP2 (asm/hwcap.h), spelled out for older headers.
constexpr unsigned long kHwcapAsimdDp = 1ul << 20;
constexpr unsigned long kHwcap2I8mm = 1ul << 13;

void NeonFeatures(bool* dotprod, bool* i8mm) {
#if defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP);
  const unsigned long hwcap2 = getauxval(AT_HWCAP2);
  *dotprod = (hwcap & kHwcapAsimdDp) != 0;
  *i8mm = *dotprod && (hwcap2 & kHwcap2I8mm) != 0;  // the i8mm set uses sdot for its M = 1 path
#else
  *dotprod = false;
  *i8mm = false;
#endif
}
#endif

#undef KITE_GEMM_SET

struct KernelList {
  const GemmKernels* sets[kMaxGemmKernelSets];
  int count;
};

KernelList DetectKernels() {
  KernelList list = {{&kReference}, 1};
#if defined(__x86_64__) || defined(_M_X64)
  if (CpuHasAvx2FmaF16c()) list.sets[list.count++] = &kAvx2;
#endif
#if defined(__aarch64__)
  bool dotprod = false, i8mm = false;
  NeonFeatures(&dotprod, &i8mm);
  list.sets[list.count++] = &kNeon;
  if (dotprod) list.sets[list.count++] = &kNeonDot;
  if (i8mm) list.sets[list.count++] = &kNeonI8mm;
#endif
  return list;
}

const KernelList& Detected() {
  static const KernelList list = DetectKernels();  // thread-safe, once
  return list;
}

}  // namespace

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
