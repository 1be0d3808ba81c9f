// AVX-512 VNNI Q4 prefill (M >= 2), compiled with the flags of gemm_avx512.cc.
//
// Why a second Q4 kernel: gemm_avx512.cc's Q4 tile reads weights and activations as stored, so one
// 64-byte vpdpbusd covers 4 blocks of 32 columns and every step pays int32->f32, x_scale * w_scale
// and an FMA per (row, column) for 128 weights: 3 of its 5 instructions per (row, column, step)
// (perf on a 512-token prefill: 68% of the time in that tile). Here both operands are rearranged so
// that int32 lane l always sums block l of a 16-block chunk: 8 vpdpbusd per (row, column) finish 16
// blocks, and one convert, multiply and FMA then scale 512 weights.
//   Activations: rearranged once per op by qs4_prefill_prepare (layout in kernels/quant_formats.h),
//     with the -8 offset of the nibbles folded into a per-block start value (-8 * sum of codes).
//   Weights: the artifact keeps the layout every kernel reads; a group of columns is repacked on the
//     stack for each panel of activation rows (a few percent of the kernel's time): per chunk and
//     u = 0..3, the low then the high nibbles of bytes 4u..4u+3 of block l in lane l (2 x 64 bytes),
//     then 16 f32 block scales. Unpacking the nibbles here rather than in the tile: +3%.
// Loop nest: K in slices whose packed columns fit the stack buffer, rows in panels that stay in L2,
// columns in groups (packed once per panel), 4 x 4 register tiles: 16 int32 accumulators and 16 f32
// sums in registers, the activations as memory operands of vpdpbusd.
// The int32 dot of each block is exact, as in the reference; only the f32 scaling order differs.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/gemm_microkernels.h"
#include "kernels/quant_formats.h"

namespace kite {
namespace kernels {
namespace {

#define KITE_ALWAYS_INLINE inline __attribute__((always_inline))

constexpr int64_t kCodeBytes = 512;        // of an activation chunk; then 16 f32 scales, 16 int32 starts
constexpr int64_t kPackedChunkBytes = 576;  // packed weights: 512 bytes of unpacked nibbles, 16 f32 scales
constexpr int64_t kPackBytes = 128 * 1024;  // stack buffer for a group of packed columns
constexpr int64_t kMinGroupColumns = 16, kMaxGroupColumns = 64;
constexpr int64_t kSliceChunks = kPackBytes / (kMinGroupColumns * kPackedChunkBytes);  // 14: K <= 7168 in one
// 4 x 4 tiles. Measured (Zen 5, GFLOP/s at K = 896 / 4864): 4x4 401 / 482, 4x2 411 / 440, 2x4 356 / 333;
// keeping the activations in registers (asm barrier) instead of GCC's memory operands made each
// shape slower (4x4 354 / 381), as did f32 sums kept in L1 instead of registers.
constexpr int kTM = 4, kTN = 4;
constexpr int64_t kPanelBytes = 512 * 1024;  // activation rows of a panel, kept in L2

KITE_ALWAYS_INLINE __mmask16 DwordMask(int64_t n) {
  return static_cast<__mmask16>(n >= 16 ? 0xffff : n <= 0 ? 0 : (1u << n) - 1);
}

// One chunk (nb valid blocks) of an activation row into the layout of quant_formats.h.
void PrepareChunk(const int8_t* x, const float* scales, int64_t nb, uint8_t* out) {
  __m512i v[8];  // v[k]: blocks 2k and 2k + 1, 8 dwords each
  for (int k = 0; k < 8; ++k) v[k] = _mm512_maskz_loadu_epi32(DwordMask(nb * 8 - 16 * k), x + 64 * k);
  const __m512i eight = _mm512_set1_epi8(8);
  __m512i sums = _mm512_setzero_si512();
  for (int t = 0; t < 8; ++t) {
    // Part t, lane l: dword t of block l = lane 8 (l % 2) + t of v[l / 2]. Gather 4 lanes from each
    // pair of vectors into a 128-bit quarter, then put the four quarters together.
    const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 8, 16, 24, 0, 8, 16, 24, 0, 8, 16, 24, 0, 8, 16, 24),
                                         _mm512_set1_epi32(t));
    const __m512i a0 = _mm512_permutex2var_epi32(v[0], idx, v[1]), a1 = _mm512_permutex2var_epi32(v[2], idx, v[3]);
    const __m512i a2 = _mm512_permutex2var_epi32(v[4], idx, v[5]), a3 = _mm512_permutex2var_epi32(v[6], idx, v[7]);
    const __m512i b01 = _mm512_shuffle_i64x2(a0, a1, _MM_SHUFFLE(0, 0, 0, 0));
    const __m512i b23 = _mm512_shuffle_i64x2(a2, a3, _MM_SHUFFLE(0, 0, 0, 0));
    const __m512i part = _mm512_shuffle_i64x2(b01, b23, _MM_SHUFFLE(2, 0, 2, 0));
    _mm512_store_si512(out + 64 * t, part);
    sums = _mm512_dpbusd_epi32(sums, eight, part);  // 8 * (sum of the block's codes), per lane
  }
  _mm512_store_ps(out + kCodeBytes, _mm512_maskz_loadu_ps(DwordMask(nb), scales));
  _mm512_store_si512(out + kCodeBytes + 64, _mm512_sub_epi32(_mm512_setzero_si512(), sums));
}

// One chunk (blocks b0 .. b0 + nb - 1) of a Q4 weight row, packed: part u, lane l = dword u of
// block l; then the block scales as f32 (zero past nb).
void PackChunk(const uint8_t* w, const uint16_t* row_scales, int64_t b0, int64_t nb, int64_t group_size,
               uint8_t* out) {
  __m512i v[4];  // v[k]: blocks 4k .. 4k + 3, 4 dwords each
  for (int k = 0; k < 4; ++k) v[k] = _mm512_maskz_loadu_epi32(DwordMask(nb * 4 - 16 * k), w + 64 * k);
  for (int u = 0; u < 4; ++u) {
    // Lanes 0-7 of each permute: dword u of the pair's 8 blocks.
    const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28),
                                         _mm512_set1_epi32(u));
    const __m512i lo = _mm512_permutex2var_epi32(v[0], idx, v[1]), hi = _mm512_permutex2var_epi32(v[2], idx, v[3]);
    const __m512i part = _mm512_shuffle_i64x2(lo, hi, _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    _mm512_store_si512(out + 128 * u, _mm512_and_si512(part, low4));
    _mm512_store_si512(out + 128 * u + 64, _mm512_and_si512(_mm512_srli_epi16(part, 4), low4));
  }
  float* scales = reinterpret_cast<float*>(out + 512);
  for (int64_t l = 0; l < 16; ++l) {
    scales[l] = l < nb ? _cvtsh_ss(row_scales[(b0 + l) * kQuantBlock / group_size]) : 0.0f;
  }
}

// out[q] = the sum of the 16 lanes of v[q] (v is consumed): a pairwise transpose-and-add tree,
// 15 times (2 permutes + 1 add) instead of 16 horizontal reductions.
KITE_ALWAYS_INLINE __m512 Reduce16(__m512* v) {
  // Level with g partials per sum: lanes q of the result take (q / g) * 2g + q % g and that + g.
  const __m512i lo8 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
  const __m512i lo4 = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
  const __m512i lo2 = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
  const __m512i lo1 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i lows[4] = {lo8, lo4, lo2, lo1};
  int n = 16, g = 8;
  for (int level = 0; level < 4; ++level, n /= 2, g /= 2) {
    const __m512i hi = _mm512_add_epi32(lows[level], _mm512_set1_epi32(g));
    for (int p = 0; p < n / 2; ++p) {
      v[p] = _mm512_add_ps(_mm512_permutex2var_ps(v[2 * p], lows[level], v[2 * p + 1]),
                           _mm512_permutex2var_ps(v[2 * p], hi, v[2 * p + 1]));
    }
  }
  return v[0];
}

// out[TN * i + j] = row xr[i] . column wr[j] over `chunks` chunks (TM * TN <= 16).
template <int TM, int TN>
KITE_ALWAYS_INLINE void Tile(const uint8_t* const* xr, const uint8_t* const* wr, int64_t chunks, float* out) {
  __m512 sums[16];
  for (int q = 0; q < 16; ++q) sums[q] = _mm512_setzero_ps();
  for (int64_t c = 0; c < chunks; ++c) {
    const uint8_t* xc[TM];
    const uint8_t* wc[TN];
    for (int i = 0; i < TM; ++i) xc[i] = xr[i] + c * kQ4PrefillChunkBytes;
    for (int j = 0; j < TN; ++j) wc[j] = wr[j] + c * kPackedChunkBytes;
    __m512i acc[TM][TN];
    for (int i = 0; i < TM; ++i) {
      const __m512i start = _mm512_load_si512(xc[i] + kCodeBytes + 64);
      for (int j = 0; j < TN; ++j) acc[i][j] = start;
    }
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      __m512i x_low[TM], x_high[TM];  // columns 4u..4u+3 and 16+4u..16+4u+3 of every block
      for (int i = 0; i < TM; ++i) {
        x_low[i] = _mm512_load_si512(xc[i] + 64 * u);
        x_high[i] = _mm512_load_si512(xc[i] + 64 * (u + 4));
      }
      for (int j = 0; j < TN; ++j) {
        const __m512i lo = _mm512_load_si512(wc[j] + 128 * u), hi = _mm512_load_si512(wc[j] + 128 * u + 64);
        for (int i = 0; i < TM; ++i) acc[i][j] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc[i][j], lo, x_low[i]), hi, x_high[i]);
      }
    }
    for (int i = 0; i < TM; ++i) {
      const __m512 x_scale = _mm512_load_ps(reinterpret_cast<const float*>(xc[i] + kCodeBytes));
      for (int j = 0; j < TN; ++j) {
        const __m512 scale = _mm512_mul_ps(x_scale, _mm512_load_ps(reinterpret_cast<const float*>(wc[j] + 512)));
        sums[TN * i + j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[i][j]), scale, sums[TN * i + j]);
      }
    }
  }
  _mm512_storeu_ps(out, Reduce16(sums));
}

}  // namespace

void qs4_prefill_prepare__avx512vnni(const int8_t* xq, const float* x_scales, int64_t m, int64_t k, void* prepared) {
  const int64_t k_pad = Q8RowBytes(k), blocks = k_pad / kQuantBlock;
  const int64_t chunks = (blocks + kQ4PrefillChunkBlocks - 1) / kQ4PrefillChunkBlocks;
  uint8_t* out = static_cast<uint8_t*>(prepared);
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t b0 = c * kQ4PrefillChunkBlocks;
      PrepareChunk(xq + r * k_pad + b0 * kQuantBlock, x_scales + r * blocks + b0,
                   std::min<int64_t>(kQ4PrefillChunkBlocks, blocks - b0), out + (r * chunks + c) * kQ4PrefillChunkBytes);
    }
  }
}

void qs4_prefill_gemm__avx512vnni(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                  int64_t group_size, const void* prepared) {
  if (a.m <= 0 || a.n_end <= a.n_begin) return;
  const int64_t blocks = Q8RowBytes(a.k) / kQuantBlock;
  const int64_t chunks = (blocks + kQ4PrefillChunkBlocks - 1) / kQ4PrefillChunkBlocks;
  const int64_t w_row_bytes = Q4RowBytes(a.k, group_size), groups = Q4GroupsPerRow(a.k, group_size);
  const uint8_t* x = static_cast<const uint8_t*>(prepared);
  const int64_t x_row_bytes = chunks * kQ4PrefillChunkBytes;
  alignas(64) uint8_t pack[kPackBytes];
  for (int64_t c0 = 0; c0 < chunks; c0 += kSliceChunks) {
    const int64_t slice = std::min(kSliceChunks, chunks - c0);
    const int64_t column_bytes = slice * kPackedChunkBytes;
    const int64_t group_columns = std::min(kMaxGroupColumns, kPackBytes / column_bytes / 4 * 4);
    const int64_t panel_rows = std::max<int64_t>(4, kPanelBytes / (slice * kQ4PrefillChunkBytes) / 4 * 4);
    for (int64_t p0 = 0; p0 < a.m; p0 += panel_rows) {
      const int64_t p1 = std::min(a.m, p0 + panel_rows);
      for (int64_t g0 = a.n_begin; g0 < a.n_end; g0 += group_columns) {
        const int64_t g1 = std::min(a.n_end, g0 + group_columns);
        for (int64_t n = g0; n < g1; ++n) {
          for (int64_t c = 0; c < slice; ++c) {
            const int64_t b0 = (c0 + c) * kQ4PrefillChunkBlocks;
            PackChunk(w + n * w_row_bytes + b0 * (kQuantBlock / 2), w_scales_f16 + n * groups, b0,
                      std::min<int64_t>(kQ4PrefillChunkBlocks, blocks - b0), group_size,
                      pack + (n - g0) * column_bytes + c * kPackedChunkBytes);
          }
        }
        for (int64_t m0 = p0; m0 < p1; m0 += kTM) {
          const int mr = static_cast<int>(std::min<int64_t>(kTM, p1 - m0));
          const uint8_t* xr[kTM];
          for (int i = 0; i < kTM; ++i) xr[i] = x + (m0 + std::min(i, mr - 1)) * x_row_bytes + c0 * kQ4PrefillChunkBytes;
          for (int64_t n0 = g0; n0 < g1; n0 += kTN) {
            const int nr = static_cast<int>(std::min<int64_t>(kTN, g1 - n0));
            const uint8_t* wr[kTN];
            for (int j = 0; j < kTN; ++j) wr[j] = pack + (n0 - g0 + std::min(j, nr - 1)) * column_bytes;
            float out[16];
            Tile<kTM, kTN>(xr, wr, slice, out);
            for (int i = 0; i < mr; ++i) {
              float* y = a.y + (m0 + i) * a.ldy + n0;
              for (int j = 0; j < nr; ++j) y[j] = c0 == 0 ? out[kTN * i + j] : y[j] + out[kTN * i + j];
            }
          }
        }
      }
    }
  }
}

}  // namespace kernels
}  // namespace kite
