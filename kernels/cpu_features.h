// Run-time CPU feature detection shared by the kernel tables (kernels/gemm.cc,
// kernels/attention.cc). The SIMD kernels are compiled for instruction sets the
// build machine's baseline may lack, so nothing may call them before these
// checks say the CPU (and, for AVX, the OS) supports them.
#pragma once

namespace kite {
namespace kernels {

struct CpuFeatures {
  // x86-64
  bool avx2;         // AVX2 + FMA + F16C, YMM state saved by the OS
  bool avx_vnni;     // AVX-VNNI (VEX vpdpbusd), on top of avx2
  bool avx512;       // AVX-512 F/BW/VL, ZMM and mask state saved by the OS, on top of avx2
  bool avx512_vnni;  // and AVX-512 VNNI
  // aarch64 (NEON itself is part of the baseline)
  bool dotprod;  // sdot/udot (ARMv8.2)
  bool i8mm;     // smmla (ARMv8.6), and dotprod
};

// Detected once (thread-safe) and cached.
const CpuFeatures& DetectedCpuFeatures();

}  // namespace kernels
}  // namespace kite
