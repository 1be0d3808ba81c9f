// Integer gemm kernels with sdot (ARMv8.2 dotprod; Cortex-A55/A76 and later). The code is the
// shared tile loop of neon_quant_tile.inc compiled for dotprod: every function carries the target
// attribute, so the rest of the library stays baseline and kernels/gemm.cc calls these only when
// HWCAP_ASIMDDP says the CPU has sdot.
#include <arm_neon.h>

#include <cstdint>

#include "kernels/cpu/neon/neon_common.h"
#include "kernels/gemm_microkernels.h"
#include "kernels/gemm_tiling.h"

#define KITE_NEON_TARGET __attribute__((target("arch=armv8.2-a+dotprod")))

namespace kite {
namespace kernels {
namespace {

// w . x of one 32-column block: each sdot adds 4 products into each int32 lane, exactly.
KITE_NEON_TARGET KITE_NEON_INLINE int32x4_t BlockDotSdot(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
  return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0), w1, x1);
}

}  // namespace

#define KITE_NEON_BLOCK_DOT(w0, w1, x0, x1) BlockDotSdot(w0, w1, x0, x1)
#include "kernels/cpu/neon/neon_quant_tile.inc"
#undef KITE_NEON_BLOCK_DOT

KITE_NEON_TARGET void qs8_gemm_f32__neon_dot(const GemmArgs& a, const int8_t* w, const float* w_scales,
                                             const int8_t* xq, const float* x_scales) {
  RunGemmTiles(MakeQuantGemmTile(a, w, w_scales, 0, xq, x_scales), GemmTiling{Qs8Tile1x4, 4, Qs8Tile4x4, 4, 4});
}

KITE_NEON_TARGET void qs4_gemm_f32__neon_dot(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                             int64_t group_size, const int8_t* xq, const float* x_scales) {
  const GemmTile t = MakeQuantGemmTile(a, w, w_scales_f16, group_size, xq, x_scales);
  RunGemmTiles(t, GemmTiling{Qs4Tile1x4, 4, Qs4Tile4x4, 4, 4});
}

}  // namespace kernels
}  // namespace kite
