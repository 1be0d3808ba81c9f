// AVX-512 VNNI Q8/Q4 gemm kernels (Intel Ice Lake / Sapphire Rapids and later, AMD Zen 4 and
// later). CMake compiles this file alone with -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl
// -mavx512vnni; kernels/gemm.cc calls it only after cpuid and XCR0 say AVX-512 F/BW/VL/VNNI are
// there and the OS saves the ZMM and mask registers. Also the 16-wide float tiles (f32/f16/bf16,
// M >= 2) of the same set; its M = 1 float kernels are the AVX2 ones (memory-bound either way).
//
// Tiles: prefill 4 x 4 (measured here: q4 4x4 250-307 GFLOP/s vs 4x2 200-270). Decode: Q4 1 x 4
// (1 x 8 was slower), Q8 1 x 1. A 1 x 4 tile reads its 4 rows side by side, so its linear prefetch
// (avx_common.inc) must run a whole tile ahead; one row per tile streams better for Q8, whose step is
// cheap enough to repeat the activation work per row. Measured end to end (Zen 5, one thread,
// Qwen2.5-0.5B q8, kite bench tg128, alternating runs): 1 x 1 for every row 70.7-75.0 tok/s, only for
// rows over 2 KB 67.7-72.9, 1 x 4 for all 64.4-70.5. The kernel benchmark disagrees for 896-column
// rows (1 x 4 42-44 GB/s, 1 x 1 37-38): its matrices are single copies of 1-4 MB, not one long stream
// of layers, and a standalone 512 MB stream read 39 GB/s with 1 x 1 and 37 with 1 x 4 at either K.
// Q4 at 1 x 1 fell to 87-93 tok/s from 130-135 (its per-tile f16 scale work is shared by 4 rows), and
// the 256-bit tiles of quant_tiles_256.inc stay at 1 x 4 for Q8 too (AVX2 69 vs 66 tok/s at 1 x 1).
//
// Integer kernels: the arithmetic of quant_tiles_256.inc (exact int32 dot per 32-column block via
// vpdpbusd, f32 scaling per block), twice as wide, with masked or partial loads for the tails:
//   Q8: 2 blocks (64 bytes of a weight row) per step; wu = w ^ 0x80 = w + 128 unsigned, and each
//       activation row's accumulator starts at -128 * sum x, so a row-weight pair is one vpdpbusd.
//   Q4: 4 blocks (64 bytes) per step. The low nibbles of the 4 blocks are columns 0..15 of each,
//       the high nibbles 16..31; one vpermt2q per half regroups x the same way. The -8 offset of
//       the unsigned nibbles starts the accumulator (once per activation row and step).
//   The int32 lanes of a step belong to its blocks in order (Q8: 8 lanes each, Q4: 4), so one
//   vpermps per step spreads the per-block scales over their lanes; the scales of 16 blocks are
//   loaded (and, for decode, multiplied: x_scale * w_scale) once per 16 blocks.
// GCC 12's AVX-512 intrinsics use `__m512 __Y = __Y;` for "undefined" pass-through operands, which
// -Wuninitialized flags wherever they are inlined (GCC bug 105593, fixed in 13); the same inlining
// also hides from -Wmaybe-uninitialized that each tile writes all of `out` before reading it.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "kernels/gemm_microkernels.h"
#include "kernels/gemm_tiling.h"
#include "kernels/quant_formats.h"

namespace kite {
namespace kernels {
namespace {

#include "kernels/cpu/x86/avx_common.inc"

constexpr int kMaxTileM = 4, kMaxTileN = 8;
// Q4 decode prefetches further beyond the tile than the other formats (it spends more instructions
// per byte). Measured end to end here (Qwen2.5-0.5B shape, one thread, kite bench tg128, alternating
// runs) with the linear tile prefetch of avx_common.inc: Q4 at 4096 / 8192 / 16384 bytes beyond the
// tile 113-128 / 129-132 / 119-129 tok/s; Q8 at 0 / 2048 / 4096 / 8192 / 16384: 64-65 / 68 / 65-69 /
// 61-66 / 60-61 tok/s (the earlier per-row prefetch: 54-61).
constexpr int64_t kQ4PrefetchAheadBytes = 8192;

KITE_ALWAYS_INLINE __mmask16 LaneMask(int64_t lanes) {
  return static_cast<__mmask16>(lanes >= 16 ? 0xffff : (1u << lanes) - 1);
}

// Weight bytes and their scales come from DRAM in decode, and masked loads of them were slow here
// (Zen 5: a Q4 g32 matrix fell from 26 to 13.5 GB/s with every chunk's scales read by vmovdqu16
// {k}{z}), so whole chunks use plain loads and partial weight vectors are put together from plain
// loads of exactly their bytes; only a row's last, partial chunk of scales is a masked load (a
// variable-length copy instead was slower on short rows). Activations stay in L1: masked loads.

// 16 * blocks bytes at p (blocks in 1..4), zero above.
KITE_ALWAYS_INLINE __m512i LoadWeightBlocks(const uint8_t* p, int64_t blocks) {
  if (blocks >= 4) return _mm512_loadu_si512(p);
  const __m128i first = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if (blocks == 1) return _mm512_zextsi128_si512(first);
  const __m256i two = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if (blocks == 2) return _mm512_zextsi256_si512(two);
  return _mm512_inserti32x4(_mm512_zextsi256_si512(two), _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32)), 2);
}

// `count` (1..16) f16 scales at p, zero above.
KITE_ALWAYS_INLINE __m256i LoadHalfScales(const uint16_t* p, int64_t count) {
  if (count == 16) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  if (count == 8) return _mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  if (count == 4) return _mm256_zextsi128_si256(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  return _mm256_maskz_loadu_epi16(LaneMask(count), p);  // the row's last chunk only: once per row
}

// `bytes` (<= 64; <= 0 reads nothing) activation bytes at p, zero above.
KITE_ALWAYS_INLINE __m512i LoadActivationBytes(const int8_t* p, const bool full, int64_t bytes) {
  if (full) return _mm512_loadu_si512(p);
  const __mmask64 mask = bytes >= 64 ? ~__mmask64{0} : bytes <= 0 ? __mmask64{0} : (__mmask64{1} << bytes) - 1;
  return _mm512_maskz_loadu_epi8(mask, p);
}

// out[i * tn + j] = sum over blocks of x_scale * (w . x); the row scale is applied by the caller.
// One step: blocks b, b + 1 (`rem` = 1 or 2 of them valid); xs16: the x scales of the 16-block chunk.
KITE_ALWAYS_INLINE void Qs8Step(const int tm, const int tn, const bool full, int64_t rem, int64_t b, int64_t s,
                                const int8_t* const* xr, const uint8_t* const* wr, const __m512* xs16,
                                int64_t prefetch, __m512 (*acc)[kMaxTileN]) {
  // The weights become the unsigned operand (w ^ 0x80 = w + 128) and the activations stay signed,
  // so w . x = (w + 128) . x - 128 * sum(x): the correction depends on the activation row only and
  // is computed once per row and step for the whole tile (one vpdpbusd + sub per row instead of per
  // weight vector; decode: 24 instead of 27 instructions per 4 x 64 weight bytes).
  const __m512i bias = _mm512_set1_epi8(-128);  // 128 as the unsigned operand, 0x80 to flip signs
  __m512i wu[kMaxTileN];
  if (tm == 1) PrefetchTileLines(wr[0], tn, b * 32, prefetch);  // 64 bytes of each row per step
  for (int j = 0; j < tn; ++j) {
    wu[j] = _mm512_xor_si512(LoadWeightBlocks(wr[j] + b * 32, full ? 4 : 2 * rem), bias);
  }
  // Lanes 0-7 hold block b, 8-15 block b + 1.
  const __m512i lanes = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(s)),
                                         _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                                             13, 14, 15), 3));
  for (int i = 0; i < tm; ++i) {
    const __m512i x = LoadActivationBytes(xr[i] + b * 32, full, rem * 32);
    const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, x));
    const __m512 x_scale = _mm512_permutexvar_ps(lanes, xs16[i]);
    for (int j = 0; j < tn; ++j) {
      const __m512i dot = _mm512_dpbusd_epi32(start, wu[j], x);
      acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), x_scale, acc[i][j]);
    }
  }
}

KITE_ALWAYS_INLINE void Qs8DotTile(const int tm, const int tn, const int8_t* const* xr, const float* const* xsr,
                                   const uint8_t* const* wr, int64_t blocks, int64_t prefetch, float* out) {
  __m512 acc[kMaxTileM][kMaxTileN];
  for (int i = 0; i < tm; ++i)
    for (int j = 0; j < tn; ++j) acc[i][j] = _mm512_setzero_ps();
  for (int64_t b0 = 0; b0 < blocks; b0 += 16) {
    const int64_t nb = blocks - b0 < 16 ? blocks - b0 : 16;
    __m512 xs16[kMaxTileM];
    for (int i = 0; i < tm; ++i) xs16[i] = _mm512_maskz_loadu_ps(LaneMask(nb), xsr[i] + b0);
    int64_t s = 0;
    for (; s + 2 <= nb; s += 2) Qs8Step(tm, tn, true, 2, b0 + s, s, xr, wr, xs16, prefetch, acc);
    if (s < nb) Qs8Step(tm, tn, false, 1, b0 + s, s, xr, wr, xs16, prefetch, acc);
  }
  for (int i = 0; i < tm; ++i)
    for (int j = 0; j < tn; ++j) out[i * tn + j] = _mm512_reduce_add_ps(acc[i][j]);
}

// One Q4 step: blocks b .. b + 3 (`rem` of them valid). scales[j]: tm == 1: x_scale * w_scale of
// the 16-block chunk; tm > 1: w_scale, times xs16[i] here.
KITE_ALWAYS_INLINE void Qs4Step(const int tm, const int tn, const bool full, int64_t rem, int64_t b, int64_t s,
                                const int8_t* const* xr, const uint8_t* const* wr, const __m512* xs16,
                                const __m512* scales16, int64_t prefetch, __m512 (*acc)[kMaxTileN]) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i eight = _mm512_set1_epi8(8);
  // Lanes 4q .. 4q + 3 hold block b + q.
  const __m512i lanes = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(s)),
                                         _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                                             13, 14, 15), 2));
  __m512i lo[kMaxTileN], hi[kMaxTileN];
  __m512 scale[kMaxTileN];
  if (tm == 1) PrefetchTileLines(wr[0], tn, b * 16, prefetch);  // 64 bytes of each row per step
  for (int j = 0; j < tn; ++j) {
    const __m512i v = LoadWeightBlocks(wr[j] + b * 16, full ? 4 : rem);
    lo[j] = _mm512_and_si512(v, low4);
    hi[j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    scale[j] = _mm512_permutexvar_ps(lanes, scales16[j]);
  }
  // x of blocks b .. b + 3 is 128 bytes; in 8-byte units, columns 0..15 of each block are units
  // {0,1}, {4,5}, {8,9}, {12,13} and columns 16..31 the others.
  const __m512i pick_low = _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13);
  const __m512i pick_high = _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15);
  for (int i = 0; i < tm; ++i) {
    const int8_t* x = xr[i] + b * 32;
    const __m512i x0 = LoadActivationBytes(x, full, rem * 32), x1 = LoadActivationBytes(x + 64, full, rem * 32 - 64);
    const __m512i xa = _mm512_permutex2var_epi64(x0, pick_low, x1);
    const __m512i xb = _mm512_permutex2var_epi64(x0, pick_high, x1);
    const __m512i offset = _mm512_sub_epi32(
        _mm512_setzero_si512(),
        _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, xa), eight, xb));
    const __m512 x_scale = tm == 1 ? _mm512_setzero_ps() : _mm512_permutexvar_ps(lanes, xs16[i]);
    for (int j = 0; j < tn; ++j) {
      const __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(offset, lo[j], xa), hi[j], xb);
      const __m512 sc = tm == 1 ? scale[j] : _mm512_mul_ps(x_scale, scale[j]);
      acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), sc, acc[i][j]);
    }
  }
}

KITE_ALWAYS_INLINE void Qs4DotTile(const int tm, const int tn, const int8_t* const* xr, const float* const* xsr,
                                   const uint8_t* const* wr, const uint16_t* const* wsr, int64_t blocks,
                                   int64_t blocks_per_group, int64_t prefetch, float* out) {
  __m512 acc[kMaxTileM][kMaxTileN];
  for (int i = 0; i < tm; ++i)
    for (int j = 0; j < tn; ++j) acc[i][j] = _mm512_setzero_ps();
  const int shift = blocks_per_group == 1 ? 0 : blocks_per_group == 2 ? 1 : 2;
  // Lane l of a chunk's scale vector is block b0 + l, in group (b0 + l) / bpg = b0 / bpg + l / bpg.
  const __m512i expand = _mm512_srli_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), shift);
  for (int64_t b0 = 0; b0 < blocks; b0 += 16) {
    const int64_t nb = blocks - b0 < 16 ? blocks - b0 : 16;
    __m512 xs16[kMaxTileM], scales16[kMaxTileN];
    for (int i = 0; i < tm; ++i) xs16[i] = _mm512_maskz_loadu_ps(LaneMask(nb), xsr[i] + b0);
    const int64_t groups = ((nb - 1) >> shift) + 1;  // exactly the groups these blocks use
    for (int j = 0; j < tn; ++j) {
      const __m256i h = LoadHalfScales(wsr[j] + (b0 >> shift), groups);
      scales16[j] = _mm512_permutexvar_ps(expand, _mm512_cvtph_ps(h));
      if (tm == 1) scales16[j] = _mm512_mul_ps(xs16[0], scales16[j]);
    }
    int64_t s = 0;
    for (; s + 4 <= nb; s += 4) Qs4Step(tm, tn, true, 4, b0 + s, s, xr, wr, xs16, scales16, prefetch, acc);
    if (s < nb) Qs4Step(tm, tn, false, nb - s, b0 + s, s, xr, wr, xs16, scales16, prefetch, acc);
  }
  for (int i = 0; i < tm; ++i)
    for (int j = 0; j < tn; ++j) out[i * tn + j] = _mm512_reduce_add_ps(acc[i][j]);
}

KITE_ALWAYS_INLINE void QuantTile(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr, const int tm,
                                  const int tn, const bool q4) {
  const GemmArgs& a = *t.args;
  const int8_t* xr[kMaxTileM];
  const float* xsr[kMaxTileM];
  const uint8_t* wr[kMaxTileN];
  const uint16_t* wsr[kMaxTileN];
  for (int i = 0; i < tm; ++i) {
    const int64_t m = m0 + (i < mr ? i : mr - 1);
    xr[i] = static_cast<const int8_t*>(t.x) + m * t.x_row_elements;
    xsr[i] = t.x_scales + m * t.blocks;
  }
  for (int j = 0; j < tn; ++j) {
    const int64_t n = n0 + (j < nr ? j : nr - 1);
    wr[j] = static_cast<const uint8_t*>(t.w) + n * t.w_row_bytes;
    wsr[j] = static_cast<const uint16_t*>(t.w_scales) + n * t.w_scales_per_row;  // Q4 only
  }
  float out[kMaxTileM * kMaxTileN];
  const int64_t prefetch = DecodePrefetchOffset(t, tm, tn, q4 ? kQ4PrefetchAheadBytes : kPrefetchAheadBytes);
  if (q4 && tm == 1) PrefetchScaleRows(wsr, tn, t.w_scales_per_row, prefetch / t.w_row_bytes * t.w_scales_per_row);
  if (q4) {
    Qs4DotTile(tm, tn, xr, xsr, wr, wsr, t.blocks, t.blocks_per_group, prefetch, out);
  } else {
    Qs8DotTile(tm, tn, xr, xsr, wr, t.blocks, prefetch, out);
  }
  const float* row_scales = static_cast<const float*>(t.w_scales);
  for (int i = 0; i < mr; ++i) {
    for (int j = 0; j < nr; ++j) {
      const float v = out[i * tn + j];
      a.y[(m0 + i) * a.ldy + n0 + j] = q4 ? v : v * row_scales[n0 + j];
    }
  }
}

#define KITE_QUANT_TILE(name, tm, tn, q4)                              \
  void name(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr) { \
    QuantTile(t, m0, mr, n0, nr, tm, tn, q4);                            \
  }
KITE_QUANT_TILE(Qs8Tile1x1, 1, 1, false)
KITE_QUANT_TILE(Qs8Tile1x4, 1, 4, false)
KITE_QUANT_TILE(Qs8Tile4x4, 4, 4, false)
KITE_QUANT_TILE(Qs4Tile1x4, 1, 4, true)
KITE_QUANT_TILE(Qs4Tile4x4, 4, 4, true)
#undef KITE_QUANT_TILE

// ---- Float weights (prefill): the dot-product tiles of gemm_avx2.cc at 16 floats per vector. ----
// Decode (M = 1) is memory-bound and stays on the AVX2 kernels with their tuned prefetch; these tiles
// serve M >= 2, where the weights of a column block come from cache, so the k % 16 tail may use
// masked loads.

enum FloatFormat { kF32, kF16, kBf16 };

// 16 weights at p (only `mask`'s lanes read when !full, the others zero), widened to f32 exactly.
KITE_ALWAYS_INLINE __m512 LoadWeights16(const void* p, const int format, const bool full, __mmask16 mask) {
  if (format == kF32) {
    return full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(mask, p);
  }
  const __m256i h = full ? _mm256_loadu_si256(static_cast<const __m256i*>(p)) : _mm256_maskz_loadu_epi16(mask, p);
  if (format == kF16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// out[i * tn + j] = sum_k xr[i][k] * wr[j][k]
KITE_ALWAYS_INLINE void FloatDotTile(const int tm, const int tn, const int format, const float* const* xr,
                                     const char* const* wr, int64_t k, float* out) {
  const int64_t element_bytes = format == kF32 ? 4 : 2;
  __m512 acc[kMaxTileM][kMaxTileN];
  for (int i = 0; i < tm; ++i)
    for (int j = 0; j < tn; ++j) acc[i][j] = _mm512_setzero_ps();
  int64_t c = 0;
  for (; c + 16 <= k; c += 16) {
    __m512 wv[kMaxTileN];
    for (int j = 0; j < tn; ++j) wv[j] = LoadWeights16(wr[j] + c * element_bytes, format, true, 0xffff);
    for (int i = 0; i < tm; ++i) {
      const __m512 xv = _mm512_loadu_ps(xr[i] + c);
      for (int j = 0; j < tn; ++j) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  if (c < k) {  // the last k % 16 columns
    const __mmask16 mask = LaneMask(k - c);
    __m512 wv[kMaxTileN];
    for (int j = 0; j < tn; ++j) wv[j] = LoadWeights16(wr[j] + c * element_bytes, format, false, mask);
    for (int i = 0; i < tm; ++i) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, xr[i] + c);
      for (int j = 0; j < tn; ++j) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < tm; ++i)
    for (int j = 0; j < tn; ++j) out[i * tn + j] = _mm512_reduce_add_ps(acc[i][j]);
}

KITE_ALWAYS_INLINE void FloatTile(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr, const int tm,
                                  const int tn, const int format) {
  const GemmArgs& a = *t.args;
  const float* xr[kMaxTileM];
  const char* wr[kMaxTileN];
  for (int i = 0; i < tm; ++i) xr[i] = static_cast<const float*>(t.x) + (m0 + (i < mr ? i : mr - 1)) * a.k;
  for (int j = 0; j < tn; ++j) wr[j] = static_cast<const char*>(t.w) + (n0 + (j < nr ? j : nr - 1)) * t.w_row_bytes;
  float out[kMaxTileM * kMaxTileN];
  FloatDotTile(tm, tn, format, xr, wr, a.k, out);
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) a.y[(m0 + i) * a.ldy + n0 + j] = out[i * tn + j];
}

#define KITE_FLOAT_TILE(name, tm, tn, format)                          \
  void name(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr) { \
    FloatTile(t, m0, mr, n0, nr, tm, tn, format);                        \
  }
KITE_FLOAT_TILE(F32Tile1x4, 1, 4, kF32)
KITE_FLOAT_TILE(F32Tile4x4, 4, 4, kF32)
KITE_FLOAT_TILE(F16Tile1x4, 1, 4, kF16)
KITE_FLOAT_TILE(F16Tile4x4, 4, 4, kF16)
KITE_FLOAT_TILE(Bf16Tile1x4, 1, 4, kBf16)
KITE_FLOAT_TILE(Bf16Tile4x4, 4, 4, kBf16)
#undef KITE_FLOAT_TILE

}  // namespace

void f32_gemm_f32__avx512(const GemmArgs& a, const float* w, const float* x) {
  if (a.m == 1) return f32_gemm_f32__avx2(a, w, x);  // decode: memory-bound, AVX2's prefetching tiles
  RunGemmTiles(MakeFloatGemmTile(a, w, 4, x), GemmTiling{F32Tile1x4, 4, F32Tile4x4, 4, 4});
}

void f16_gemm_f32__avx512(const GemmArgs& a, const uint16_t* w, const float* x) {
  if (a.m == 1) return f16_gemm_f32__avx2(a, w, x);
  RunGemmTiles(MakeFloatGemmTile(a, w, 2, x), GemmTiling{F16Tile1x4, 4, F16Tile4x4, 4, 4});
}

void bf16_gemm_f32__avx512(const GemmArgs& a, const uint16_t* w, const float* x) {
  if (a.m == 1) return bf16_gemm_f32__avx2(a, w, x);
  RunGemmTiles(MakeFloatGemmTile(a, w, 2, x), GemmTiling{Bf16Tile1x4, 4, Bf16Tile4x4, 4, 4});
}

void qs8_gemm_f32__avx512vnni(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                              const float* x_scales) {
  const GemmTile t = MakeQuantGemmTile(a, w, w_scales, 0, xq, x_scales);
  // Decode reads one row per tile (see the top of this file); 1 x 4 tiles remain for the rows that
  // prefill's 4 x 4 tiles leave over.
  if (a.m == 1) return RunGemmTiles(t, GemmTiling{Qs8Tile1x1, 1, nullptr, 0, 0});
  RunGemmTiles(t, GemmTiling{Qs8Tile1x4, 4, Qs8Tile4x4, 4, 4});
}

void qs4_gemm_f32__avx512vnni(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                              int64_t group_size, const int8_t* xq, const float* x_scales) {
  if (group_size != 32 && group_size != 64 && group_size != 128) {  // outside quant_formats.h: the reference
    qs4_gemm_f32__scalar(a, w, w_scales_f16, group_size, xq, x_scales);
    return;
  }
  const GemmTile t = MakeQuantGemmTile(a, w, w_scales_f16, group_size, xq, x_scales);
  RunGemmTiles(t, GemmTiling{Qs4Tile1x4, 4, Qs4Tile4x4, 4, 4});
}

}  // namespace kernels
}  // namespace kite
