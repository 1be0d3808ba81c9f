#include "kernels/cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace kite {
namespace kernels {
namespace {

#if defined(__x86_64__) || defined(_M_X64)
// A CPU can have AVX2 or AVX-512 while the OS has it turned off: besides the cpuid bits, XCR0 must
// say the OS saves that register state on context switches (OSXSAVE, then bits 1-2 for XMM/YMM,
// 5-7 for the mask registers and the upper ZMM halves).
void DetectX86(CpuFeatures* f) {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return;
  const bool fma = ecx & (1u << 12), osxsave = ecx & (1u << 27), avx = ecx & (1u << 28), f16c = ecx & (1u << 29);
  if (!(fma && osxsave && avx && f16c)) return;
  unsigned xcr0_low = 0, xcr0_high = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));  // no -mxsave needed for asm
  if ((xcr0_low & 0x6u) != 0x6u) return;
  if (__get_cpuid_max(0, nullptr) < 7) return;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const unsigned max_subleaf = eax;
  f->avx2 = ebx & (1u << 5);
  if (!f->avx2) return;
  const bool avx512 = (ebx & (1u << 16)) && (ebx & (1u << 30)) && (ebx & (1u << 31));  // F, BW, VL
  f->avx512 = avx512 && (xcr0_low & 0xe0u) == 0xe0u;
  f->avx512_vnni = f->avx512 && (ecx & (1u << 11));
  if (max_subleaf >= 1) {
    __cpuid_count(7, 1, eax, ebx, ecx, edx);
    f->avx_vnni = eax & (1u << 4);
  }
}
#endif

#if defined(__aarch64__)
// The kernel bits of AT_HWCAP / AT_HWCAP2 (asm/hwcap.h), spelled out for older headers.
constexpr unsigned long kHwcapAsimdDp = 1ul << 20;
constexpr unsigned long kHwcap2I8mm = 1ul << 13;

void DetectAarch64(CpuFeatures* f) {
#if defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP);
  const unsigned long hwcap2 = getauxval(AT_HWCAP2);
  f->dotprod = (hwcap & kHwcapAsimdDp) != 0;
  f->i8mm = f->dotprod && (hwcap2 & kHwcap2I8mm) != 0;  // the i8mm gemm set uses sdot for its M = 1 path
#else
  (void)f;
#endif
}
#endif

CpuFeatures Detect() {
  CpuFeatures f = {false, false, false, false, false, false};
#if defined(__x86_64__) || defined(_M_X64)
  DetectX86(&f);
#endif
#if defined(__aarch64__)
  DetectAarch64(&f);
#endif
  return f;
}

}  // namespace

const CpuFeatures& DetectedCpuFeatures() {
  static const CpuFeatures features = Detect();  // thread-safe, once
  return features;
}

}  // namespace kernels
}  // namespace kite
