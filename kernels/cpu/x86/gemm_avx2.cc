// AVX2 + FMA + F16C gemm kernels. CMake compiles only the files of this
// folder with -mavx2 -mfma -mf16c, and kernels/gemm.cc calls them after a
// cpuid check. Everything here is C-style with internal linkage (static, in
// an anonymous namespace) and no inline functions from other headers, so no
// AVX2 code can be merged into a function another file calls unchecked.
// kernels/quant_formats.h is included for its constants only.
//
// Each kernel is a register-tile function (tm activation rows x tn weight
// rows, every dot product along all of K) driven by RunGemmTiles. Decode: 1 x 1
// for float weights, 1 x 4 for int8/int4. For prefill 4 x 3 (float weights) or
// 4 x 2 (int8/int4), where each weight vector loaded serves 4 activation rows.
// The prefill shapes were the fastest measured here (f32 4x2: 65 GFLOP/s, 4x3:
// 120; qs8 4x2 > 3x2 > 2x2).
//
// Float decode reads one weight row per tile for the reason gemm_avx512.cc gives for Q8: a 1 x 4
// tile's linear prefetch has to run a whole tile ahead. Measured end to end (Zen 5, one thread,
// Qwen2.5-0.5B shape, kite bench tg128, alternating runs): f16 38.7-39.8 tok/s with 1 x 1 vs
// 35.0-36.9 with 1 x 4, f32 18.7-18.9 vs 18.0. bf16 streams the same 2-byte rows as f16 and takes
// the same tile (no bf16 artifact to measure: the converter writes f16). The 1 x 1 tile keeps 4
// accumulators to cover the FMA latency; the int8/int4 tiles measured slower at 1 x 1 here.
//
// The Q8/Q4 tiles live in quant_tiles_256.inc (shared with gemm_avxvnni.cc), with the integer
// dot-product tricks they rely on.
#include <immintrin.h>

#include <cstdint>

#include "kernels/gemm_microkernels.h"
#include "kernels/gemm_tiling.h"
#include "kernels/quant_formats.h"

namespace kite {
namespace kernels {
namespace {

#include "kernels/cpu/x86/avx_common.inc"

enum FloatFormat { kF32, kF16, kBf16 };

// 8 weights starting at p, widened to f32 (f16 and bf16 widen exactly).
KITE_ALWAYS_INLINE __m256 LoadWeights8(const void* p, const int format) {
  if (format == kF32) return _mm256_loadu_ps(static_cast<const float*>(p));
  const __m128i h = _mm_loadu_si128(static_cast<const __m128i*>(p));
  if (format == kF16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

KITE_ALWAYS_INLINE float LoadWeight1(const void* p, int64_t i, const int format) {
  if (format == kF32) return static_cast<const float*>(p)[i];
  const uint16_t bits = static_cast<const uint16_t*>(p)[i];
  if (format == kF16) return _cvtsh_ss(bits);
  return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(static_cast<int>(static_cast<uint32_t>(bits) << 16))));
}

// out[i * tn + j] = sum_k xr[i][k] * wr[j][k]. tm, tn, format are constants after inlining, so the
// accumulator arrays become registers.
KITE_ALWAYS_INLINE void FloatDotTile(const int tm, const int tn, const int format, const float* const* xr,
                                     const char* const* wr, int64_t k, int64_t prefetch, float* out) {
  const int64_t element_bytes = format == kF32 ? 4 : 2;
  // A 1-row tile has only tn FMA chains; 2 (1 x 4) or 4 (1 x 1) accumulator sets hide the FMA latency.
  const int unroll = tm == 1 ? (tn == 1 ? 4 : 2) : 1;
  __m256 acc[4][4][4];
  for (int u = 0; u < unroll; ++u)
    for (int i = 0; i < tm; ++i)
      for (int j = 0; j < tn; ++j) acc[u][i][j] = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 * unroll <= k; c += 8 * unroll) {
    if (tm == 1 && (c * element_bytes & 63) == 0) PrefetchTileLines(wr[0], tn, c * element_bytes, prefetch);
    for (int u = 0; u < unroll; ++u) {
      __m256 wv[4];
      for (int j = 0; j < tn; ++j) wv[j] = LoadWeights8(wr[j] + (c + 8 * u) * element_bytes, format);
      for (int i = 0; i < tm; ++i) {
        const __m256 xv = _mm256_loadu_ps(xr[i] + c + 8 * u);
        for (int j = 0; j < tn; ++j) acc[u][i][j] = _mm256_fmadd_ps(xv, wv[j], acc[u][i][j]);
      }
    }
  }
  for (; c + 8 <= k; c += 8) {  // the 8-column steps the unrolled loop may leave
    for (int j = 0; j < tn; ++j) {
      const __m256 wv = LoadWeights8(wr[j] + c * element_bytes, format);
      for (int i = 0; i < tm; ++i) acc[0][i][j] = _mm256_fmadd_ps(_mm256_loadu_ps(xr[i] + c), wv, acc[0][i][j]);
    }
  }
  for (int i = 0; i < tm; ++i) {
    for (int j = 0; j < tn; ++j) {
      __m256 v = acc[0][i][j];
      if (unroll >= 2) v = _mm256_add_ps(v, acc[1][i][j]);
      if (unroll == 4) v = _mm256_add_ps(v, _mm256_add_ps(acc[2][i][j], acc[3][i][j]));
      float sum = HorizontalSum(v);
      for (int64_t r = c; r < k; ++r) sum += xr[i][r] * LoadWeight1(wr[j], r, format);
      out[i * tn + j] = sum;
    }
  }
}

KITE_ALWAYS_INLINE void FloatTile(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr, const int tm,
                                  const int tn, const int format) {
  const GemmArgs& a = *t.args;
  const float* xr[4];
  const char* wr[4];
  for (int i = 0; i < tm; ++i) xr[i] = static_cast<const float*>(t.x) + (m0 + (i < mr ? i : mr - 1)) * a.k;
  for (int j = 0; j < tn; ++j) wr[j] = static_cast<const char*>(t.w) + (n0 + (j < nr ? j : nr - 1)) * t.w_row_bytes;
  float out[16];
  FloatDotTile(tm, tn, format, xr, wr, a.k, DecodePrefetchOffset(t, tm, tn), out);
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) a.y[(m0 + i) * a.ldy + n0 + j] = out[i * tn + j];
}

#define KITE_FLOAT_TILE(name, tm, tn, format)                          \
  void name(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr) { \
    FloatTile(t, m0, mr, n0, nr, tm, tn, format);                        \
  }
KITE_FLOAT_TILE(F32Tile1x1, 1, 1, kF32)
KITE_FLOAT_TILE(F32Tile1x4, 1, 4, kF32)
KITE_FLOAT_TILE(F32Tile4x3, 4, 3, kF32)
KITE_FLOAT_TILE(F16Tile1x1, 1, 1, kF16)
KITE_FLOAT_TILE(F16Tile1x4, 1, 4, kF16)
KITE_FLOAT_TILE(F16Tile4x3, 4, 3, kF16)
KITE_FLOAT_TILE(Bf16Tile1x1, 1, 1, kBf16)
KITE_FLOAT_TILE(Bf16Tile1x4, 1, 4, kBf16)
KITE_FLOAT_TILE(Bf16Tile4x3, 4, 3, kBf16)
#undef KITE_FLOAT_TILE

// Decode (M = 1) reads one weight row per tile (see the top of this file); prefill runs 4 x 3 block
// tiles, with 1 x 4 row tiles for the rows they leave over.
void RunFloatTiles(const GemmTile& t, GemmTileFn decode_tile, GemmTileFn row_tile, GemmTileFn block_tile) {
  if (t.args->m == 1) return RunGemmTiles(t, GemmTiling{decode_tile, 1, nullptr, 0, 0});
  RunGemmTiles(t, GemmTiling{row_tile, 4, block_tile, 4, 3});
}

#define KITE_QUANT_VNNI 0
#include "kernels/cpu/x86/quant_tiles_256.inc"
#undef KITE_QUANT_VNNI

}  // namespace

void f32_gemm_f32__avx2(const GemmArgs& a, const float* w, const float* x) {
  RunFloatTiles(MakeFloatGemmTile(a, w, 4, x), F32Tile1x1, F32Tile1x4, F32Tile4x3);
}

void f16_gemm_f32__avx2(const GemmArgs& a, const uint16_t* w, const float* x) {
  RunFloatTiles(MakeFloatGemmTile(a, w, 2, x), F16Tile1x1, F16Tile1x4, F16Tile4x3);
}

void bf16_gemm_f32__avx2(const GemmArgs& a, const uint16_t* w, const float* x) {
  RunFloatTiles(MakeFloatGemmTile(a, w, 2, x), Bf16Tile1x1, Bf16Tile1x4, Bf16Tile4x3);
}

void qs8_gemm_f32__avx2(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                        const float* x_scales) {
  RunGemmTiles(MakeQuantGemmTile(a, w, w_scales, 0, xq, x_scales), GemmTiling{Qs8Tile1x4, 4, Qs8Tile4x2, 4, 2});
}

void qs4_gemm_f32__avx2(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16, int64_t group_size,
                        const int8_t* xq, const float* x_scales) {
  // quant_formats.h allows groups of 32, 64 and 128; the scale vectors here rely on that. Anything
  // else still gets a correct answer, from the reference.
  if (group_size != 32 && group_size != 64 && group_size != 128) {
    qs4_gemm_f32__scalar(a, w, w_scales_f16, group_size, xq, x_scales);
    return;
  }
  const GemmTile t = MakeQuantGemmTile(a, w, w_scales_f16, group_size, xq, x_scales);
  RunGemmTiles(t, GemmTiling{Qs4Tile1x4, 4, Qs4Tile4x2, 4, 2});
}

// Same arithmetic as f32_qd8_quantize__scalar: max|x| per block, q = round(x * (127 / max|x|)) with
// the default round-to-nearest-even of cvtps2dq, so both produce identical bytes.
void f32_qd8_quantize__avx2(const float* x, int64_t m, int64_t k, int8_t* xq, float* x_scales) {
  const int64_t k_pad = (k + 31) / 32 * 32;
  const int64_t blocks = k_pad / 32;
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  // packs leaves the 4-byte groups of the 4 vectors interleaved by 128-bit lane; this restores order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t c0 = b * 32;
      const float* src = x + r * k + c0;
      float padded[32];
      if (k - c0 < 32) {  // the last block of a row with K % 32 != 0: pad with zeros
        for (int64_t j = 0; j < 32; ++j) padded[j] = c0 + j < k ? src[j] : 0.0f;
        src = padded;
      }
      const __m256 v0 = _mm256_loadu_ps(src), v1 = _mm256_loadu_ps(src + 8);
      const __m256 v2 = _mm256_loadu_ps(src + 16), v3 = _mm256_loadu_ps(src + 24);
      __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v0, abs_mask), _mm256_and_ps(v1, abs_mask)),
                                _mm256_max_ps(_mm256_and_ps(v2, abs_mask), _mm256_and_ps(v3, abs_mask)));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
      const float abs_max = _mm_cvtss_f32(m4);
      int8_t* dst = xq + r * k_pad + c0;
      if (!(abs_max >= kQ8ActivationMinAbsMax)) {
        x_scales[r * blocks + b] = 0.0f;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_setzero_si256());
        continue;
      }
      x_scales[r * blocks + b] = abs_max / 127.0f;
      const __m256 inv_scale = _mm256_set1_ps(127.0f / abs_max);
      const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, inv_scale));
      const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, inv_scale));
      const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, inv_scale));
      const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, inv_scale));
      const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_permutevar8x32_epi32(packed, order));
    }
  }
}

}  // namespace kernels
}  // namespace kite
