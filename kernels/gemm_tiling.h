// The loop nest shared by the SIMD gemm kernels: it walks the output in
// register tiles and calls a per-ISA tile function for each. Only the tile
// functions know the ISA; the loops around them (a function-pointer call per
// tile, each tile covering all of K) cost nothing measurable.
//
// Order: columns in blocks of ~kGemmColumnBlockBytes of weights, then M in
// tiles of block_tile_m rows, then the columns of the block in tiles of
// block_tile_n. A block of weights is loaded from memory once and then reused
// from L2 by every activation tile; a tile of activation rows stays in L1
// while it sweeps the block. M = 1 (decode) just streams the weights.
//
// No inline code here, not even default member initializers (an implicit
// constructor is inline code): the -mavx2 files include this header.
#pragma once

#include <cstdint>

#include "kernels/gemm.h"

namespace kite {
namespace kernels {

constexpr int64_t kGemmColumnBlockBytes = 256 * 1024;

// The operands of one gemm call, type-erased so one loop nest serves every weight format, with
// the row strides worked out once per call (divisions cost more than a short tile's math).
struct GemmTile {
  const GemmArgs* args;
  const void* w;              // f32/f16/bf16 [N][K]; Q8 int8 [N][K_pad]; Q4 uint8 [N][K_pad_G / 2]
  const void* w_scales;       // Q8: f32 [N]; Q4: f16 [N][groups]; float formats: null
  const void* x;              // f32 [M][K] or int8 [M][K_pad]
  const float* x_scales;      // Q8 activations: [M][blocks]
  int64_t w_row_bytes;        // from one weight row to the next
  int64_t w_scales_per_row;   // Q4: groups; otherwise 1
  int64_t x_row_elements;     // K for f32 activations, K_pad for Q8 ones
  int64_t blocks;             // K_pad / 32 (K_pad = RoundUp(K, 32))
  int64_t blocks_per_group;   // Q4: group_size / 32; otherwise 1
};

// element_bytes: 4 (f32) or 2 (f16, bf16).
GemmTile MakeFloatGemmTile(const GemmArgs& a, const void* w, int64_t element_bytes, const float* x);
// group_size: Q4's; 0 for Q8 weights (one f32 scale per row).
GemmTile MakeQuantGemmTile(const GemmArgs& a, const void* w, const void* w_scales, int64_t group_size,
                           const int8_t* xq, const float* x_scales);

// Computes y for rows [m0, m0 + mr) and columns [n0, n0 + nr), where 1 <= mr, nr <= the tile's shape.
// A tile function handles a partial tile by repeating its last row or column and not storing those.
using GemmTileFn = void (*)(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr);

struct GemmTiling {
  GemmTileFn row_tile;  // 1 x row_tile_n: decode, and rows left over from block tiles
  int row_tile_n;
  GemmTileFn block_tile;  // block_tile_m x block_tile_n, for M >= 2; null: row tiles only
  int block_tile_m;
  int block_tile_n;
};

void RunGemmTiles(const GemmTile& t, const GemmTiling& tiling);

}  // namespace kernels
}  // namespace kite
