#include "kernels/gemm_tiling.h"

#include <algorithm>

#include "kernels/quant_formats.h"

namespace kite {
namespace kernels {

GemmTile MakeFloatGemmTile(const GemmArgs& a, const void* w, int64_t element_bytes, const float* x) {
  const int64_t blocks = Q8RowBytes(a.k) / kQuantBlock;
  return GemmTile{&a, w, nullptr, x, nullptr, a.k * element_bytes, 1, a.k, blocks, 1};
}

GemmTile MakeQuantGemmTile(const GemmArgs& a, const void* w, const void* w_scales, int64_t group_size,
                           const int8_t* xq, const float* x_scales) {
  const int64_t k_pad = Q8RowBytes(a.k);
  if (group_size == 0) return GemmTile{&a, w, w_scales, xq, x_scales, k_pad, 1, k_pad, k_pad / kQuantBlock, 1};
  return GemmTile{&a, w, w_scales, xq, x_scales, Q4RowBytes(a.k, group_size), Q4GroupsPerRow(a.k, group_size),
                  k_pad, k_pad / kQuantBlock, group_size / kQuantBlock};
}

void RunGemmTiles(const GemmTile& t, const GemmTiling& tiling) {
  const GemmArgs& a = *t.args;
  if (a.m <= 0 || a.n_end <= a.n_begin) return;
  const int row_n = tiling.row_tile_n;
  const bool use_blocks = tiling.block_tile != nullptr && a.m >= 2;
  // With M = 1 every weight byte is used once: no reuse for a column block to capture.
  int64_t block_columns = a.n_end - a.n_begin;
  if (use_blocks) {
    const int64_t fit = kGemmColumnBlockBytes / std::max<int64_t>(t.w_row_bytes, 1);
    block_columns = std::max<int64_t>(tiling.block_tile_n, fit / tiling.block_tile_n * tiling.block_tile_n);
  }
  for (int64_t nb = a.n_begin; nb < a.n_end; nb += block_columns) {
    const int64_t ne = std::min(a.n_end, nb + block_columns);
    int64_t m = 0;
    if (use_blocks) {
      const int tm = tiling.block_tile_m, tn = tiling.block_tile_n;
      for (; m < a.m; m += tm) {
        const int mr = static_cast<int>(std::min<int64_t>(tm, a.m - m));
        if (mr == 1) break;  // a lone row is cheaper through the row tile than as a padded block tile
        for (int64_t n = nb; n < ne; n += tn) {
          tiling.block_tile(t, m, mr, n, static_cast<int>(std::min<int64_t>(tn, ne - n)));
        }
      }
    }
    for (; m < a.m; ++m) {
      for (int64_t n = nb; n < ne; n += row_n) {
        tiling.row_tile(t, m, 1, n, static_cast<int>(std::min<int64_t>(row_n, ne - n)));
      }
    }
  }
}

}  // namespace kernels
}  // namespace kite
