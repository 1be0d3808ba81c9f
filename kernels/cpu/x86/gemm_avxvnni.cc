// AVX-VNNI (VEX-encoded vpdpbusd, 256-bit: Intel Alder Lake and later client cores, AMD Zen 5)
// Q8/Q4 gemm kernels. CMake compiles this file alone with -mavx2 -mfma -mf16c -mavxvnni, and
// kernels/gemm.cc calls it only after cpuid says AVX-VNNI (leaf 7 subleaf 1, EAX bit 4) and the
// AVX2 checks pass. The float kernels of this set are the AVX2 ones: VNNI only adds integer dots.
//
// The tiles are those of gemm_avx2.cc (quant_tiles_256.inc) with each block's dot product done by
// vpdpbusd: Q8 1 instruction per row-weight pair instead of 3 (sign, maddubs, madd), Q4 2 instead
// of 5 (the -8 offset folded into the accumulator's start). Measured here (Zen 5) that is only a
// 3-15% gain: the per-block float scaling dominates at 256 bits. Same tile shapes, same
// prefetch, same scale handling: each int32 lane holds the same exact partial dot (4 adjacent
// products) as in the AVX2 kernels and the float steps are the same, so the two sets agree bit for
// bit (checked on random q8/q4 problems while writing this).
#include <immintrin.h>

#include <cstdint>

#include "kernels/gemm_microkernels.h"
#include "kernels/gemm_tiling.h"
#include "kernels/quant_formats.h"

namespace kite {
namespace kernels {
namespace {

#include "kernels/cpu/x86/avx_common.inc"

#define KITE_QUANT_VNNI 1
#include "kernels/cpu/x86/quant_tiles_256.inc"
#undef KITE_QUANT_VNNI

}  // namespace

void qs8_gemm_f32__avxvnni(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                           const float* x_scales) {
  RunGemmTiles(MakeQuantGemmTile(a, w, w_scales, 0, xq, x_scales), GemmTiling{Qs8Tile1x4, 4, Qs8Tile4x2, 4, 2});
}

void qs4_gemm_f32__avxvnni(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16, int64_t group_size,
                           const int8_t* xq, const float* x_scales) {
  if (group_size != 32 && group_size != 64 && group_size != 128) {  // outside quant_formats.h: the reference
    qs4_gemm_f32__scalar(a, w, w_scales_f16, group_size, xq, x_scales);
    return;
  }
  const GemmTile t = MakeQuantGemmTile(a, w, w_scales_f16, group_size, xq, x_scales);
  RunGemmTiles(t, GemmTiling{Qs4Tile1x4, 4, Qs4Tile4x2, 4, 2});
}

}  // namespace kernels
}  // namespace kite
