// AVX2 + FMA + F16C gemm kernels. CMake compiles only the files of this
// folder with -mavx2 -mfma -mf16c, and kernels/gemm.cc calls them after a
// cpuid check. Everything here is C-style with internal linkage (static, in
// an anonymous namespace) and no inline functions from other headers, so no
// AVX2 code can be merged into a function another file calls unchecked.
// kernels/quant_formats.h is included for its constants only.
//
// Each kernel is a register-tile function (tm activation rows x tn weight
// rows, every dot product along all of K) driven by RunGemmTiles: 1 x 4 for
// decode; for prefill 4 x 3 (float weights) or 4 x 2 (int8/int4), where each
// weight vector loaded serves 4 activation rows. The prefill shapes were the
// fastest measured here (f32 4x2: 65 GFLOP/s, 4x3: 120; qs8 4x2 > 3x2 > 2x2).
//
// Integer dot products use the sign trick: _mm256_maddubs_epi16 multiplies
// unsigned by signed bytes, so it gets |w| and sign(w) * x. |w| <= 128 and
// |x| <= 127 (the activation quantizer never makes -128) keep each pair sum
// |w0 x0 + w1 x1| <= 32512, below the int16 saturation at 32767: exact.
#include <immintrin.h>

#include <cstdint>

#include "kernels/gemm_microkernels.h"
#include "kernels/gemm_tiling.h"
#include "kernels/quant_formats.h"

#define KITE_ALWAYS_INLINE inline __attribute__((always_inline))

namespace kite {
namespace kernels {
namespace {

enum FloatFormat { kF32, kF16, kBf16 };

KITE_ALWAYS_INLINE float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

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

// Decode streams the weights once, so the tile prefetches them: the same offset in the rows of a
// later tile (rows are contiguous), at least kPrefetchAheadBytes of the stream ahead. The hardware
// prefetcher alone does poorly on 4 interleaved short rows: measured here at M = 1 from DRAM,
// f16/bf16/qs8 went from 15-20 to 29-34 GB/s, f32 from 24-31 to 28-36 GB/s (2048..16384 ahead were
// within noise of each other). Prefetches never fault, so running past the last row is harmless.
// Prefill reuses weights from cache: no prefetch.
constexpr int64_t kPrefetchAheadBytes = 4096;
KITE_ALWAYS_INLINE int64_t DecodePrefetchOffset(const GemmTile& t, const int tm, const int tn) {
  if (tm != 1) return 0;
  const int64_t tile_bytes = tn * t.w_row_bytes;
  return (kPrefetchAheadBytes + tile_bytes - 1) / tile_bytes * tile_bytes;
}

// out[i * tn + j] = sum_k xr[i][k] * wr[j][k]. tm, tn, format are constants after inlining, so the
// accumulator arrays become registers.
KITE_ALWAYS_INLINE void FloatDotTile(const int tm, const int tn, const int format, const float* const* xr,
                                     const char* const* wr, int64_t k, int64_t prefetch, float* out) {
  const int64_t element_bytes = format == kF32 ? 4 : 2;
  // A 1-row tile has only tn FMA chains; two accumulator sets hide the FMA latency.
  const int unroll = tm == 1 ? 2 : 1;
  __m256 acc[2][4][4];
  for (int u = 0; u < unroll; ++u)
    for (int i = 0; i < tm; ++i)
      for (int j = 0; j < tn; ++j) acc[u][i][j] = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 * unroll <= k; c += 8 * unroll) {
    for (int j = 0; j < tn && tm == 1; ++j) _mm_prefetch(wr[j] + c * element_bytes + prefetch, _MM_HINT_T0);
    for (int u = 0; u < unroll; ++u) {
      __m256 wv[4];
      for (int j = 0; j < tn; ++j) wv[j] = LoadWeights8(wr[j] + (c + 8 * u) * element_bytes, format);
      for (int i = 0; i < tm; ++i) {
        const __m256 xv = _mm256_loadu_ps(xr[i] + c + 8 * u);
        for (int j = 0; j < tn; ++j) acc[u][i][j] = _mm256_fmadd_ps(xv, wv[j], acc[u][i][j]);
      }
    }
  }
  for (; c + 8 <= k; c += 8) {  // the one 8-column step the unrolled loop may leave
    for (int j = 0; j < tn; ++j) {
      const __m256 wv = LoadWeights8(wr[j] + c * element_bytes, format);
      for (int i = 0; i < tm; ++i) acc[0][i][j] = _mm256_fmadd_ps(_mm256_loadu_ps(xr[i] + c), wv, acc[0][i][j]);
    }
  }
  for (int i = 0; i < tm; ++i) {
    for (int j = 0; j < tn; ++j) {
      __m256 v = acc[0][i][j];
      if (unroll == 2) v = _mm256_add_ps(v, acc[1][i][j]);
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
KITE_FLOAT_TILE(F32Tile1x4, 1, 4, kF32)
KITE_FLOAT_TILE(F32Tile4x3, 4, 3, kF32)
KITE_FLOAT_TILE(F16Tile1x4, 1, 4, kF16)
KITE_FLOAT_TILE(F16Tile4x3, 4, 3, kF16)
KITE_FLOAT_TILE(Bf16Tile1x4, 1, 4, kBf16)
KITE_FLOAT_TILE(Bf16Tile4x3, 4, 3, kBf16)
#undef KITE_FLOAT_TILE

// The 8 int32 partial sums of one 32-column block: w . x, exact (see the file comment).
KITE_ALWAYS_INLINE __m256i BlockDot(__m256i w_abs, __m256i w, __m256i x) {
  const __m256i pairs = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x, w));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

// Q8 weights against Q8 activations. out[i * tn + j] = sum over blocks of x_scale * int_dot; the
// row scale is applied by the caller.
KITE_ALWAYS_INLINE void Qs8DotTile(const int tm, const int tn, const int8_t* const* xr, const float* const* xsr,
                                   const uint8_t* const* wr, int64_t blocks, int64_t prefetch, float* out) {
  __m256 acc[4][4];
  for (int i = 0; i < tm; ++i)
    for (int j = 0; j < tn; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    if (tm == 1 && (b & 1) == 0) {  // one prefetch per 64-byte line
      for (int j = 0; j < tn; ++j) _mm_prefetch(reinterpret_cast<const char*>(wr[j]) + b * 32 + prefetch, _MM_HINT_T0);
    }
    __m256i w[4], w_abs[4];
    for (int j = 0; j < tn; ++j) {
      w[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[j] + b * 32));
      w_abs[j] = _mm256_abs_epi8(w[j]);
    }
    for (int i = 0; i < tm; ++i) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xr[i] + b * 32));
      const __m256 x_scale = _mm256_set1_ps(xsr[i][b]);
      for (int j = 0; j < tn; ++j) {
        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(BlockDot(w_abs[j], w[j], x)), x_scale, acc[i][j]);
      }
    }
  }
  for (int i = 0; i < tm; ++i)
    for (int j = 0; j < tn; ++j) out[i * tn + j] = HorizontalSum(acc[i][j]);
}

// The f16 scales of the groups that 8 blocks (starting at a multiple of 8) fall into: 8, 4 or 2 of
// them for 1, 2 or 4 blocks per group. Reads exactly those, so never past the row.
KITE_ALWAYS_INLINE __m256 LoadGroupScales(const uint16_t* p, int64_t blocks_per_group) {
  __m128i h;
  if (blocks_per_group == 1) {
    h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  } else if (blocks_per_group == 2) {
    h = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  } else {
    int two;
    __builtin_memcpy(&two, p, sizeof(two));
    h = _mm_cvtsi32_si128(two);
  }
  return _mm256_cvtph_ps(h);
}

// One step of Qs4DotTile: blocks b and b + 1; `single`: b is the last block and its partner is zero.
//   32 weight bytes hold both blocks; their low nibbles are columns 0..15 of each block, the high
//   nibbles columns 16..31, so x is regrouped the same way ([b 0..15 | b+1 0..15], [b 16..31 | ...])
//   and two maddubs cover 64 columns. The nibbles stay unsigned: (u - 8) . x = u . x - 8 (sum x),
//   the second term once per activation row (|int16 partial sums| <= 7620 + 4064: exact).
//   The int32 result has block b in lanes 0-3 and b + 1 in lanes 4-7; so do the scale vectors:
//   tm == 1: scales[j] = x_scale * w_scale of row j; tm > 1: x_pair[i] * scales[j] (w_scale).
KITE_ALWAYS_INLINE void Qs4PairStep(const int tm, const int tn, const bool single, const int8_t* const* xr,
                                    const uint8_t* const* wr, int64_t b, const __m256* x_pair,
                                    const __m256* scales, __m256 (*acc)[4]) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256i lo[4], hi[4];
  for (int j = 0; j < tn; ++j) {
    const __m128i* p = reinterpret_cast<const __m128i*>(wr[j] + b * 16);
    const __m256i v = single ? _mm256_set_m128i(_mm_setzero_si128(), _mm_loadu_si128(p))
                             : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    lo[j] = _mm256_and_si256(v, low4);
    hi[j] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
  }
  for (int i = 0; i < tm; ++i) {
    const int8_t* x = xr[i] + b * 32;
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
    const __m256i x1 = single ? _mm256_setzero_si256() : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32));
    const __m256i xa = _mm256_permute2x128_si256(x0, x1, 0x20);
    const __m256i xb = _mm256_permute2x128_si256(x0, x1, 0x31);
    const __m256i eight = _mm256_set1_epi8(8);
    const __m256i offset = _mm256_add_epi16(_mm256_maddubs_epi16(eight, xa), _mm256_maddubs_epi16(eight, xb));
    for (int j = 0; j < tn; ++j) {
      const __m256i sums = _mm256_add_epi16(_mm256_maddubs_epi16(lo[j], xa), _mm256_maddubs_epi16(hi[j], xb));
      const __m256i dot = _mm256_madd_epi16(_mm256_sub_epi16(sums, offset), _mm256_set1_epi16(1));
      const __m256 scale = tm == 1 ? scales[j] : _mm256_mul_ps(x_pair[i], scales[j]);
      acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc[i][j]);
    }
  }
}

// Q4 weights x Q8 activations, two blocks per step. Scales are handled 8 blocks at a time as vectors
// (one permute per step picks a block pair's lanes); the last < 8 blocks build them from scalars.
// out[i * tn + j] = sum over blocks of x_scale * w_scale * (q4 . x); blocks_per_group in {1, 2, 4}.
KITE_ALWAYS_INLINE void Qs4DotTile(const int tm, const int tn, const int8_t* const* xr, const float* const* xsr,
                                   const uint8_t* const* wr, const uint16_t* const* wsr, int64_t blocks,
                                   int64_t blocks_per_group, int64_t prefetch, float* out) {
  __m256 acc[4][4];
  for (int i = 0; i < tm; ++i)
    for (int j = 0; j < tn; ++j) acc[i][j] = _mm256_setzero_ps();
  const int shift = blocks_per_group == 1 ? 0 : blocks_per_group == 2 ? 1 : 2;  // block -> group, no idiv
  // Lane l of a chunk's weight-scale vector holds the scale of block b0 + l: group l / bpg of the chunk.
  const __m256i expand = _mm256_srli_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), shift);
  __m256 x_scales[4], w_scales[4], x_pair[4], scales[4];
  int64_t b0 = 0;
  for (; b0 + 8 <= blocks; b0 += 8) {
    for (int i = 0; i < tm; ++i) x_scales[i] = _mm256_loadu_ps(xsr[i] + b0);
    for (int j = 0; j < tn; ++j) {
      const __m256 group_scales = LoadGroupScales(wsr[j] + (b0 >> shift), blocks_per_group);
      w_scales[j] = _mm256_permutevar8x32_ps(group_scales, expand);
      if (tm == 1) w_scales[j] = _mm256_mul_ps(x_scales[0], w_scales[j]);
    }
    for (int j = 0; j < tn && tm == 1; ++j) {  // this chunk is 128 bytes of each row
      const char* p = reinterpret_cast<const char*>(wr[j]) + b0 * 16 + prefetch;
      _mm_prefetch(p, _MM_HINT_T0);
      _mm_prefetch(p + 64, _MM_HINT_T0);
    }
    for (int lane = 0; lane < 8; lane += 2) {
      const __m256i lanes = _mm256_setr_epi32(lane, lane, lane, lane, lane + 1, lane + 1, lane + 1, lane + 1);
      for (int i = 0; i < tm; ++i) x_pair[i] = _mm256_permutevar8x32_ps(x_scales[i], lanes);
      for (int j = 0; j < tn; ++j) scales[j] = _mm256_permutevar8x32_ps(w_scales[j], lanes);
      Qs4PairStep(tm, tn, false, xr, wr, b0 + lane, x_pair, scales, acc);
    }
  }
  for (int64_t b = b0; b < blocks; b += 2) {  // the last 1..7 blocks
    const bool single = b + 1 == blocks;
    for (int i = 0; i < tm; ++i) {
      x_pair[i] = _mm256_set_m128(_mm_set1_ps(single ? 0.0f : xsr[i][b + 1]), _mm_set1_ps(xsr[i][b]));
    }
    for (int j = 0; j < tn; ++j) {
      const float w0 = _cvtsh_ss(wsr[j][b >> shift]), w1 = single ? 0.0f : _cvtsh_ss(wsr[j][(b + 1) >> shift]);
      scales[j] = _mm256_set_m128(_mm_set1_ps(w1), _mm_set1_ps(w0));
      if (tm == 1) scales[j] = _mm256_mul_ps(x_pair[0], scales[j]);
    }
    Qs4PairStep(tm, tn, single, xr, wr, b, x_pair, scales, acc);
  }
  for (int i = 0; i < tm; ++i)
    for (int j = 0; j < tn; ++j) out[i * tn + j] = HorizontalSum(acc[i][j]);
}

KITE_ALWAYS_INLINE void QuantTile(const GemmTile& t, int64_t m0, int mr, int64_t n0, int nr, const int tm,
                                  const int tn, const bool q4) {
  const GemmArgs& a = *t.args;
  const int8_t* xr[4];
  const float* xsr[4];
  const uint8_t* wr[4];
  const uint16_t* wsr[4];
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
  float out[16];
  if (q4) {
    Qs4DotTile(tm, tn, xr, xsr, wr, wsr, t.blocks, t.blocks_per_group, DecodePrefetchOffset(t, tm, tn), out);
  } else {
    Qs8DotTile(tm, tn, xr, xsr, wr, t.blocks, DecodePrefetchOffset(t, tm, tn), out);
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
KITE_QUANT_TILE(Qs8Tile1x4, 1, 4, false)
KITE_QUANT_TILE(Qs8Tile4x2, 4, 2, false)
KITE_QUANT_TILE(Qs4Tile1x4, 1, 4, true)
KITE_QUANT_TILE(Qs4Tile4x2, 4, 2, true)
#undef KITE_QUANT_TILE

}  // namespace

void f32_gemm_f32__avx2(const GemmArgs& a, const float* w, const float* x) {
  RunGemmTiles(MakeFloatGemmTile(a, w, 4, x), GemmTiling{F32Tile1x4, 4, F32Tile4x3, 4, 3});
}

void f16_gemm_f32__avx2(const GemmArgs& a, const uint16_t* w, const float* x) {
  RunGemmTiles(MakeFloatGemmTile(a, w, 2, x), GemmTiling{F16Tile1x4, 4, F16Tile4x3, 4, 3});
}

void bf16_gemm_f32__avx2(const GemmArgs& a, const uint16_t* w, const float* x) {
  RunGemmTiles(MakeFloatGemmTile(a, w, 2, x), GemmTiling{Bf16Tile1x4, 4, Bf16Tile4x3, 4, 3});
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
