// WebAssembly SIMD128 gemm kernels for quantized weights (Q8, Q4): the baseline set every current
// browser has, and the relaxed-SIMD set.
//
// Relaxed SIMD: this file is compiled a second time with -DKITE_WASM_RELAXED by clang-19 with
// -mrelaxed-simd (emscripten 3.1.6's clang-14 has no relaxed int8 dot; kernels/CMakeLists.txt), and
// that object only defines qs8_gemm_f32__wasm_relaxed, qs4_gemm_f32__wasm_relaxed,
// qs4t_gemm_f32__wasm_relaxed and the kernel set kWasmRelaxedGemmKernels. Their block dots are
// i16x8.relaxed_dot_i8x16_i7x16_s (V8: one pmaddubsw on x86, sdot/smull on arm64) with the nibbles
// (Q4) or |activation codes| (Q8, kRelaxed in gemm_quant_wasm.h) as the 7-bit operand: 0..15 and
// 0..127 are inside every implementation's exact range, so the results are deterministic and equal
// to the baseline's. Only modules linked with that object (platforms/wasm: kite-relaxed.*) contain
// relaxed opcodes; the JS side loads them where WebAssembly.validate accepts relaxed SIMD (Chromium
// since 114; node 20 with --experimental-wasm-relaxed-simd). The float kernels (gemm_float_wasm.cc)
// and the activation quantizer (quantize_wasm.cc) are the same in both sets.
//
// One activation row at a time, against one weight row at a time in decode and against tiles of 8
// weight rows in prefill (see GemmRows). The only integer multiply-add of baseline SIMD128 is
// i32x4.dot_i16x8_s (V8: pmaddwd on x86, smull + addp on arm64), so every int8 or nibble has to sit
// in an int16 lane; how the kernels get there cheaply is described at PreparedRow
// (gemm_quant_wasm.h). Each block's int32 dot is exact and is scaled in f32 by the block's
// activation scale (and Q4's group scale), like the scalar reference; only the order of the f32
// additions differs from it.
#include <cstdint>

#include "kernels/cpu/wasm/gemm_quant_wasm.h"
#include "kernels/cpu/wasm/wasm_common.h"
#include "kernels/gemm_microkernels.h"
#include "kernels/gemm_tiling.h"
#include "kernels/quant_formats.h"
#include "kernels/quantize.h"

// The step loops run over compile-time shapes and must be fully unrolled: a rolled loop keeps the
// accumulators in memory (measured 2.5x slower in V8). Hence the unroll pragmas.
// V8 keeps wasm loads in program order but moves arithmetic down to its first use, so a loop body
// that loads much before computing spills (see PrefillTile's schedule_barrier).

namespace kite {
namespace kernels {
namespace {

using wasm::FiniteHighHalfLanesToFloatOver2p112;
using wasm::HalfLanesToFloat;
using wasm::HorizontalSum;

// Blocks [pb, pb + 4) of Q4TileScales below (kFull: all 4 before `blocks`).
template <int kTileCols, int kBlocksPerGroup, bool kFull>
KITE_WASM_INLINE void Q4TileScales4(const PreparedRow& p, const uint16_t* const* w_scales, int64_t b0, int64_t pb,
                                    int64_t blocks, int64_t blocks_per_group, float (*out)[kTileCols]) {
  const v128_t x_scale = wasm_v128_load(p.scale + pb);  // 0 past the last block
  const int64_t b = b0 + pb;
  _Pragma("clang loop unroll(full)")
  for (int g = 0; g < kTileCols / 4; ++g) {
    v128_t v[4];  // v[c]: blocks pb .. pb + 3 of column 4g + c
    _Pragma("clang loop unroll(full)")
    for (int c = 0; c < 4; ++c) {
      const v128_t halves = Q4ScaleHalves4<kBlocksPerGroup, kFull>(w_scales[4 * g + c], b, pb, blocks,
                                                                    blocks_per_group);
      v[c] = wasm_f32x4_mul(HalfLanesToFloat(halves), x_scale);
    }
    // Transpose to [block][column]; rows past `blocks` land in out's padding.
    const v128_t t01lo = wasm_i32x4_shuffle(v[0], v[1], 0, 4, 1, 5), t01hi = wasm_i32x4_shuffle(v[0], v[1], 2, 6, 3, 7);
    const v128_t t23lo = wasm_i32x4_shuffle(v[2], v[3], 0, 4, 1, 5), t23hi = wasm_i32x4_shuffle(v[2], v[3], 2, 6, 3, 7);
    wasm_v128_store(&out[pb][4 * g], wasm_i64x2_shuffle(t01lo, t23lo, 0, 2));
    wasm_v128_store(&out[pb + 1][4 * g], wasm_i64x2_shuffle(t01lo, t23lo, 1, 3));
    wasm_v128_store(&out[pb + 2][4 * g], wasm_i64x2_shuffle(t01hi, t23hi, 0, 2));
    wasm_v128_store(&out[pb + 3][4 * g], wasm_i64x2_shuffle(t01hi, t23hi, 1, 3));
  }
}

// Q4: the products f16 scale * activation scale of prepared blocks [0, blocks) for the tile's
// kTileCols weight rows, [block][column] (4 columns per vector). Converting them ahead of the dot
// loop takes one 8-byte load per column and 4 blocks (each column's scales are contiguous) instead
// of 4 scalar loads per block, and keeps the conversion's registers out of the dot loop.
// kBlocksPerGroup: 1 or 2 (groups of 32 or 64 columns), or 0: any, blocks_per_group at run time.
template <int kTileCols, int kBlocksPerGroup>
KITE_WASM_INLINE void Q4TileScales(const PreparedRow& p, const uint16_t* const* w_scales, int64_t b0, int64_t blocks,
                                   int64_t blocks_per_group, float (*out)[kTileCols]) {
  int64_t pb = 0;
  for (; pb + 4 <= blocks; pb += 4) {
    Q4TileScales4<kTileCols, kBlocksPerGroup, true>(p, w_scales, b0, pb, blocks, blocks_per_group, out);
  }
  if (pb < blocks) Q4TileScales4<kTileCols, kBlocksPerGroup, false>(p, w_scales, b0, pb, blocks, blocks_per_group, out);
}

// out[c] = sum over blocks [b0, b0 + blocks) of weight rows n0 + c (c < kTileCols; columns past nr
// repeat the last one) of the scaled block dots with the prepared blocks [0, blocks). Q8: before the
// row scale.
template <int kTileCols, bool kQ4, int kBlocksPerGroup>
KITE_WASM_INLINE void PrefillTile(const GemmTile& t, const PreparedRow& p, int64_t b0, int64_t blocks, int64_t n0,
                                  int nr, float* out) {
  constexpr int kGroups = kTileCols / 4;
  const uint8_t* w[kTileCols];
  const uint16_t* w_scales[kTileCols];
  _Pragma("clang loop unroll(full)")
  for (int c = 0; c < kTileCols; ++c) {
    const int64_t n = n0 + (c < nr ? c : nr - 1);
    w[c] = static_cast<const uint8_t*>(t.w) + n * t.w_row_bytes + b0 * (kQ4 ? 16 : 32);
    w_scales[c] = static_cast<const uint16_t*>(t.w_scales) + n * t.w_scales_per_row;
  }
  alignas(16) float q4_scales[kQ4 ? kPreparedBlocks : 1][kTileCols];
  if (kQ4) Q4TileScales<kTileCols, kBlocksPerGroup>(p, w_scales, b0, blocks, t.blocks_per_group, q4_scales);
  v128_t acc[kGroups];
  _Pragma("clang loop unroll(full)")
  for (int g = 0; g < kGroups; ++g) acc[g] = wasm_f32x4_splat(0.0f);
  // V8 keeps wasm loads in program order and moves arithmetic down to its first use, so a block
  // would load all 8 rows' weights up front and spill them. Storing each row's block dot as soon as
  // it is computed (to a slot nobody reads) pins that arithmetic before the next row's load: Q4
  // decode 1.15x faster, Q8 1.1x (measured when this tile also ran decode; RowStep does the same).
  volatile v128_t schedule_barrier;
  (void)schedule_barrier;
  for (int64_t pb = 0; pb < blocks; ++pb) {
    const v128_t* x = p.x[pb];
    _Pragma("clang loop unroll(full)")
    for (int g = 0; g < kGroups; ++g) {
      v128_t d[4];
      _Pragma("clang loop unroll(full)")
      for (int c = 0; c < 4; ++c) {
        const uint8_t* wc = w[4 * g + c];
        d[c] = kQ4 ? Q4BlockDot(wasm_v128_load(wc + pb * 16), x)
                   : Q8BlockDot(wasm_v128_load(wc + pb * 32), wasm_v128_load(wc + pb * 32 + 16), x);
        schedule_barrier = d[c];
      }
      v128_t sums = ReduceFourBlockDots<kQ4>(d[0], d[1], d[2], d[3]);
      if (kQ4 || kRelaxed) sums = wasm_i32x4_add(sums, wasm_v128_load32_splat(p.offset + pb));
      // Exact: the baseline's sums are multiples of 256.
      const v128_t dots = wasm_f32x4_convert_i32x4(wasm_i32x4_shr(sums, kDotShift));
      const v128_t scale = kQ4 ? wasm_v128_load(&q4_scales[pb][4 * g]) : wasm_v128_load32_splat(p.scale + pb);
      acc[g] = wasm_f32x4_add(acc[g], wasm_f32x4_mul(dots, scale));
    }
  }
  _Pragma("clang loop unroll(full)")
  for (int g = 0; g < kGroups; ++g) wasm_v128_store(out + 4 * g, acc[g]);
}

// Prepared blocks [pb, pb + kBlocks) of one weight row added to acc (w: the row at block pb, ws:
// the row's Q4 scales, b: the row's block at pb): the block dots are reduced into the lanes of one
// vector, so the conversion, the scaling (4 activation scales, and Q4's 4 group scales, per load)
// and the add happen once per 4 blocks. kBlocks = 4 in the loop; 1 to 3 for a row's last blocks
// (K % 128 columns, e.g. 2 blocks at K = 576), which load only their own weights and scales and
// leave the other lanes 0 (the prepared activation scales are 0 there); with the count a template
// argument that step has no per-block branches (Q4 decode takes 1 or 2 such blocks of two rows
// together, Q4RowDotPair). The relaxed module converts Q4's f16
// scales for finite values only (4 instructions instead of 8); scale_exponents collects their
// exponent fields, and RowDot redoes a row that had an Inf or NaN scale (q4 decode +4.5%). The
// baseline module keeps the exact conversion: with its 4 activation vectors per block the extra
// live vector made its q4 decode 5% slower.
template <bool kQ4, int kBlocksPerGroup, int kBlocks>
KITE_WASM_INLINE void RowStep(const PreparedRow& p, const uint8_t* w, const uint16_t* ws, int64_t b, int64_t pb,
                              int64_t blocks_per_group, v128_t* acc, v128_t* scale_exponents,
                              volatile v128_t* schedule_barrier) {
  v128_t d[4];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < 4; ++i) {
    if (i >= kBlocks) {
      d[i] = wasm_i32x4_splat(0);
      continue;
    }
    const uint8_t* wb = w + i * (kQ4 ? 16 : 32);
    d[i] = kQ4 ? Q4BlockDot(wasm_v128_load(wb), p.x[pb + i])
               : Q8BlockDot(wasm_v128_load(wb), wasm_v128_load(wb + 16), p.x[pb + i]);
    *schedule_barrier = d[i];  // see PrefillTile
  }
  v128_t sums = ReduceFourBlockDots<kQ4>(d[0], d[1], d[2], d[3]);
  if (kQ4 || kRelaxed) sums = wasm_i32x4_add(sums, wasm_v128_load(p.offset + pb));
  const v128_t dots = wasm_f32x4_convert_i32x4(wasm_i32x4_shr(sums, kDotShift));
  v128_t scale = wasm_v128_load(p.scale + pb);
  if (kQ4) {
    scale = MulByScaleHalves(scale, Q4StepScaleHalves<kBlocksPerGroup, kBlocks>(ws, b, blocks_per_group),
                             scale_exponents);
  }
  *acc = wasm_f32x4_add(*acc, wasm_f32x4_mul(dots, scale));
}

// RowDot of a Q4 row whose group scales include Inf or NaN, which RowStep's conversion does not
// handle: the prefill tile's conversion does. A sum with an Inf or NaN term is the same Inf or NaN in
// any order, so the different summation order changes nothing.
template <int kBlocksPerGroup>
__attribute__((noinline)) float Q4RowDotWithSpecialScales(const GemmTile& t, const PreparedRow& p, int64_t b0,
                                                          int64_t blocks, int64_t n) {
  alignas(16) float out[kPrefillTileCols];
  PrefillTile<kPrefillTileCols, true, kBlocksPerGroup>(t, p, b0, blocks, n, 1, out);
  return out[0];
}

// The scaled block dots of weight row n over blocks [b0, b0 + blocks) with the prepared blocks
// [0, blocks), summed (Q8: before the row scale). Decode reads one weight row at a time: a 1-row
// tile keeps one address and a handful of registers live, where V8 spilled the 8-row tile's
// addresses every block.
template <bool kQ4, int kBlocksPerGroup>
KITE_WASM_INLINE float RowDot(const GemmTile& t, const PreparedRow& p, int64_t b0, int64_t blocks, int64_t n) {
  constexpr int64_t kStepBytes = 4 * (kQ4 ? 16 : 32);
  const uint8_t* w = static_cast<const uint8_t*>(t.w) + n * t.w_row_bytes + b0 * (kQ4 ? 16 : 32);
  const uint16_t* ws = static_cast<const uint16_t*>(t.w_scales) + n * t.w_scales_per_row;
  v128_t acc = wasm_f32x4_splat(0.0f);
  v128_t scale_exponents = wasm_i32x4_splat(0);  // relaxed Q4: the largest f16 exponent field seen
  volatile v128_t schedule_barrier;
  int64_t pb = 0;
  const int64_t bpg = t.blocks_per_group;
  for (; pb + 4 <= blocks; pb += 4, w += kStepBytes) {
    RowStep<kQ4, kBlocksPerGroup, 4>(p, w, ws, b0 + pb, pb, bpg, &acc, &scale_exponents, &schedule_barrier);
  }
  switch (blocks - pb) {
    case 1:
      RowStep<kQ4, kBlocksPerGroup, 1>(p, w, ws, b0 + pb, pb, bpg, &acc, &scale_exponents, &schedule_barrier);
      break;
    case 2:
      RowStep<kQ4, kBlocksPerGroup, 2>(p, w, ws, b0 + pb, pb, bpg, &acc, &scale_exponents, &schedule_barrier);
      break;
    case 3:
      RowStep<kQ4, kBlocksPerGroup, 3>(p, w, ws, b0 + pb, pb, bpg, &acc, &scale_exponents, &schedule_barrier);
      break;
    default:
      break;
  }
  if (kQ4 && HadSpecialScale(scale_exponents)) {
    return Q4RowDotWithSpecialScales<kBlocksPerGroup>(t, p, b0, blocks, n);
  }
  return HorizontalSum(acc);
}

// Q4 decode: the last 1 or 2 blocks (kRest) of rows n and n + 1 (weights wa, wb at block pb, scales
// wsa, wsb, b: the rows' block at pb) in one step, sharing one reduction and one scaling. Lanes:
// kRest = 2: [n, n, n + 1, n + 1]; kRest = 1: [n, 0, n + 1, 0].
template <int kBlocksPerGroup, int kRest>
KITE_WASM_INLINE v128_t Q4PairTail(const PreparedRow& p, const uint8_t* wa, const uint8_t* wb, const uint16_t* wsa,
                                   const uint16_t* wsb, int64_t b, int64_t pb, int64_t blocks_per_group,
                                   v128_t* scale_exponents, volatile v128_t* schedule_barrier) {
  v128_t d[4];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < 4; ++i) {
    const int row = kRest == 2 ? i / 2 : i;  // kRest = 2: a0 a1 b0 b1; kRest = 1: a0 b0 - -
    const int block = kRest == 2 ? i % 2 : 0;
    if (row > 1) {
      d[i] = wasm_i32x4_splat(0);
      continue;
    }
    d[i] = Q4BlockDot(wasm_v128_load((row == 0 ? wa : wb) + 16 * block), p.x[pb + block]);
    *schedule_barrier = d[i];  // see PrefillTile
  }
  v128_t sums = ReduceFourBlockDots<true>(d[0], d[1], d[2], d[3]);
  // Blocks pb and pb + 1 (padding with scale 0 when kRest = 1) for both rows.
  const v128_t offsets = wasm_v128_load64_splat(p.offset + pb);
  v128_t scale = wasm_v128_load64_splat(p.scale + pb);
  if (kRest == 2) {
    sums = wasm_i32x4_add(sums, offsets);
  } else {
    sums = wasm_i32x4_add(sums, wasm_i32x4_shuffle(offsets, offsets, 0, 0, 0, 0));
    sums = wasm_i32x4_shuffle(sums, sums, 0, 2, 1, 3);     // [a0, 0, b0, 0]
    scale = wasm_i32x4_shuffle(scale, scale, 0, 1, 0, 1);  // [s0, 0, s0, 0]
  }
  const v128_t dots = wasm_f32x4_convert_i32x4(wasm_i32x4_shr(sums, kDotShift));
  v128_t halves;
  if (kBlocksPerGroup == 1 && kRest == 2) {
    halves = wasm_u32x4_extend_low_u16x8(
        wasm_i32x4_shuffle(wasm_v128_load32_zero(wsa + b), wasm_v128_load32_zero(wsb + b), 0, 4, 2, 3));
  } else {
    const int64_t bpg = kBlocksPerGroup > 0 ? kBlocksPerGroup : blocks_per_group;
    const uint32_t ha = wsa[b / bpg], hb = wsb[b / bpg];
    halves = kRest == 2 ? wasm_u32x4_make(ha, wsa[(b + 1) / bpg], hb, wsb[(b + 1) / bpg])
                        : wasm_u32x4_make(ha, 0, hb, 0);
  }
  return wasm_f32x4_mul(dots, MulByScaleHalves(scale, halves, scale_exponents));
}

#if defined(KITE_WASM_RELAXED)
// The f16 scales of blocks b .. b + 3 (b a multiple of 4) of two Q4 rows (scales wsa, wsb): row a's
// in 16-bit lanes 0..3, row b's in lanes 4..7. Groups of 32 or 64 columns (1 or 2 blocks), or of a
// multiple of 128 (then one scale per row for all 4 blocks).
template <int kBlocksPerGroup>
KITE_WASM_INLINE v128_t Q4GroupScaleHalves(const uint16_t* wsa, const uint16_t* wsb, int64_t b,
                                           int64_t blocks_per_group) {
  if (kBlocksPerGroup == 1) return wasm_v128_load64_lane(wsb + b, wasm_v128_load64_zero(wsa + b), 1);
  if (kBlocksPerGroup == 2) {
    return wasm_i16x8_shuffle(wasm_v128_load32_zero(wsa + b / 2), wasm_v128_load32_zero(wsb + b / 2), 0, 0, 1, 1, 8,
                              8, 9, 9);
  }
  const int64_t g = b / blocks_per_group;  // 4 blocks per group: one scale per row
  return wasm_i16x8_shuffle(wasm_v128_load16_splat(wsa + g), wasm_v128_load16_splat(wsb + g), 0, 0, 0, 0, 8, 8, 8, 8);
}

// Relaxed Q4 decode: one whole group of 4 blocks (a transposed group, quant_formats.h) of rows a and
// b (weights wa, wb; their 8 scales in halves, Q4GroupScaleHalves), added to acc_a and acc_b with
// lane i for block i of the group. Word v of the 4 blocks is one 16-byte load; against g.x[v] its two
// relaxed dots give int16 lanes whose pairs belong to the 4 blocks, so the 4 loads of a row add into
// one int16 vector, started at g.offset16 (the -8 of the codes, PrepareRow), and one widening dot
// yields the 4 block dots: no per-block reduction and no offset add. Each activation vector serves
// both rows. One shuffle per row puts its 4 scales in the high halves of its lanes, and a shift and
// a mask make them f32 short of the factor 2^112, which g.scale_2p112 carries. The scales must be
// finite: RearrangeQ4ForKernels leaves matrices with Inf or NaN scales in the stored layout.
// Against RowStep on the stored layout (node 20, Intel Xeon VM, one thread): 3 matrices in L2 1.22x
// faster; from memory 576 x 576 matrices 1.06x, 1536 x 576 1.12x, 49152 x 576 1.13x.
KITE_WASM_INLINE void Q4GroupStep(const TransposedGroup& g, const uint8_t* wa, const uint8_t* wb, v128_t halves,
                                  v128_t* acc_a, v128_t* acc_b, volatile v128_t* schedule_barrier) {
  const v128_t nibble = wasm_i8x16_splat(0x0f);
  v128_t sum_a = g.offset16, sum_b = g.offset16;
  _Pragma("clang loop unroll(full)")
  for (int v = 0; v < 4; ++v) {
    const v128_t xl = g.x[v][0], xh = g.x[v][1];
    const v128_t ra = wasm_v128_load(wa + 16 * v), rb = wasm_v128_load(wb + 16 * v);
    sum_a = wasm_i16x8_add(sum_a, wasm_i16x8_add(
        wasm_i16x8_relaxed_dot_i8x16_i7x16(xl, wasm_v128_and(ra, nibble)),
        wasm_i16x8_relaxed_dot_i8x16_i7x16(xh, wasm_v128_and(wasm_u16x8_shr(ra, 4), nibble))));
    *schedule_barrier = sum_a;  // see PrefillTile; without these the loop ran 0.97x
    sum_b = wasm_i16x8_add(sum_b, wasm_i16x8_add(
        wasm_i16x8_relaxed_dot_i8x16_i7x16(xl, wasm_v128_and(rb, nibble)),
        wasm_i16x8_relaxed_dot_i8x16_i7x16(xh, wasm_v128_and(wasm_u16x8_shr(rb, 4), nibble))));
    *schedule_barrier = sum_b;
  }
  // A dot with ones instead of extadd_pairwise: V8 keeps the ones in a register but reloads
  // extadd's constant operand every time.
  const v128_t ones = wasm_i16x8_splat(1);
  const v128_t dots_a = wasm_f32x4_convert_i32x4(wasm_i32x4_dot_i16x8(sum_a, ones));
  const v128_t dots_b = wasm_f32x4_convert_i32x4(wasm_i32x4_dot_i16x8(sum_b, ones));
  const v128_t zero = wasm_i16x8_splat(0);
  const v128_t high_a = wasm_i16x8_shuffle(zero, halves, 0, 8, 1, 9, 2, 10, 3, 11);
  const v128_t high_b = wasm_i16x8_shuffle(zero, halves, 4, 12, 5, 13, 6, 14, 7, 15);
  const v128_t scale_a = wasm_f32x4_mul(g.scale_2p112, FiniteHighHalfLanesToFloatOver2p112(high_a));
  const v128_t scale_b = wasm_f32x4_mul(g.scale_2p112, FiniteHighHalfLanesToFloatOver2p112(high_b));
  *acc_a = wasm_f32x4_add(*acc_a, wasm_f32x4_mul(dots_a, scale_a));
  *acc_b = wasm_f32x4_add(*acc_b, wasm_f32x4_mul(dots_b, scale_b));
}

// The whole groups [g, end) of rows a and b (weights wa, wb from the first group on, in one row pair
// or the same row twice, whose groups are 128 bytes apart; scales wsa, wsb of the rows, b: the first
// group's block), as [a0 + a2, a1 + a3, b0 + b2, b1 + b3] of the lanes of Q4GroupStep's sums. Not
// inlined: on its own the loop keeps its few values in registers, where inlined into the row pair's
// code V8 spilled and reloaded 5 of them per step (1.06x in L2).
template <int kBlocksPerGroup>
__attribute__((noinline)) v128_t Q4GroupLoop(const TransposedGroup* g, const TransposedGroup* end, const uint8_t* wa,
                                             const uint8_t* wb, const uint16_t* wsa, const uint16_t* wsb, int64_t b,
                                             int64_t blocks_per_group) {
  volatile v128_t schedule_barrier;
  v128_t acc_a = wasm_f32x4_splat(0.0f), acc_b = acc_a;
  for (; g != end; ++g, wa += 128, wb += 128, b += 4) {
    Q4GroupStep(*g, wa, wb, Q4GroupScaleHalves<kBlocksPerGroup>(wsa, wsb, b, blocks_per_group), &acc_a, &acc_b,
                &schedule_barrier);
  }
  return wasm_f32x4_add(wasm_i32x4_shuffle(acc_a, acc_b, 0, 1, 4, 5), wasm_i32x4_shuffle(acc_a, acc_b, 2, 3, 6, 7));
}

// One relaxed Q4 row (rows in transposed groups) in scalar code, which converts every f16 exactly and
// takes any activation scale: for rows whose last blocks' scales include Inf or NaN, and for
// activation rows whose scales PrepareRow could not fold 2^112 into. Blocks [b0, b0 + blocks) of row
// n against the prepared blocks [0, blocks) (x[pb][0..1]: the activation codes as stored). A sum
// with an Inf or NaN term is the same Inf or NaN in any order, so the order of the additions changes
// nothing there.
__attribute__((noinline)) float Q4TransposedRowDotScalar(const GemmTile& t, const PreparedRow& p, int64_t b0,
                                                         int64_t blocks, int64_t n) {
  const uint8_t* w = static_cast<const uint8_t*>(t.w);
  const uint16_t* ws = static_cast<const uint16_t*>(t.w_scales) + n * t.w_scales_per_row;
  const int64_t transposed = t.blocks / 4 * 4;  // Q4TransposedBlocks(K): t.blocks is ceil(K / 32)
  float sum = 0.0f;
  for (int64_t pb = 0; pb < blocks; ++pb) {
    const int64_t b = b0 + pb;
    alignas(16) int8_t x[32];
    wasm_v128_store(x, p.x[pb][0]);
    wasm_v128_store(x + 16, p.x[pb][1]);
    int32_t dot = 0;
    for (int j = 0; j < 16; ++j) {
      const uint8_t byte = w[Q4TransposedByteOffset(n, b, j, transposed, t.w_row_bytes)];
      dot += ((byte & 0x0f) - 8) * x[j] + ((byte >> 4) - 8) * x[16 + j];
    }
    sum += static_cast<float>(dot) * (HalfToFloat(ws[b / t.blocks_per_group]) * p.scale[pb]);
  }
  return sum;
}
#endif

// Q4 decode, RowDot of rows n and n_b into out[0] and out[1] (n_b = n + 1, or n for a row alone;
// kTransposed: n even when n_b = n + 1, the rows of one pair):
// each row's 4-block steps as in RowDot (kTransposed, relaxed only: both rows' together over the
// transposed groups, Q4GroupStep), then their last 1 or 2 blocks (K % 128 = 32 or 64, e.g. K = 576)
// in one Q4PairTail, whose reduction and scaling would otherwise cost each row almost a whole step.
// Measured in node 20 on 1536 x 576 (30.2 -> 28.4 ns per row) and in q4 decode of SmolLM2-135M
// (+2-5%); Q8 rows in pairs were 1-8% slower, so Q8 keeps RowDot.
template <int kBlocksPerGroup, bool kTransposed>
KITE_WASM_INLINE void Q4RowDotPair(const GemmTile& t, const PreparedRow& p, int64_t b0, int64_t blocks, int64_t n,
                                   int64_t n_b, float* out) {
  const int64_t whole = blocks & ~int64_t{3}, rest = blocks - whole;
  const int64_t bpg = t.blocks_per_group;
  v128_t scale_exponents = wasm_i32x4_splat(0);
  volatile v128_t schedule_barrier;
  const uint8_t* w[2];
  const uint16_t* ws[2];
  v128_t acc[2];
  _Pragma("clang loop unroll(full)")
  for (int r = 0; r < 2; ++r) {
    const int64_t row = r == 0 ? n : n_b;
    w[r] = static_cast<const uint8_t*>(t.w) + row * t.w_row_bytes + b0 * 16;
    ws[r] = static_cast<const uint16_t*>(t.w_scales) + row * t.w_scales_per_row;
    acc[r] = wasm_f32x4_splat(0.0f);
  }
  v128_t groups = wasm_f32x4_splat(0.0f);  // kTransposed: Q4GroupLoop's lanes
#if defined(KITE_WASM_RELAXED)
  if (kTransposed) {
    if (!p.groups_scales_fold) {
      out[0] = Q4TransposedRowDotScalar(t, p, b0, blocks, n);
      out[1] = Q4TransposedRowDotScalar(t, p, b0, blocks, n_b);
      return;
    }
    // Rows n and n_b are one row pair (n even) or the same row (quant_formats.h). The offsets are
    // Q4TransposedByteOffset's, written out: calling it here, per row pair, ran 0.97x.
    const int64_t transposed = t.blocks / 4 * 4, rest_bytes = t.w_row_bytes - transposed * 16;
    const uint8_t* pair = static_cast<const uint8_t*>(t.w) + (n - n % 2) * t.w_row_bytes;
    groups = Q4GroupLoop<kBlocksPerGroup>(p.groups, p.groups + whole / 4, pair + b0 * 32 + n % 2 * 64,
                                          pair + b0 * 32 + n_b % 2 * 64, ws[0], ws[1], b0, bpg);
    w[0] = pair + 2 * transposed * 16 + n % 2 * rest_bytes;  // the rows' last blocks (b0 + whole = transposed)
    w[1] = pair + 2 * transposed * 16 + n_b % 2 * rest_bytes;
  }
#endif
  _Pragma("clang loop unroll(full)")
  for (int r = 0; r < 2; ++r) {
    for (int64_t pb = 0; pb < whole && !kTransposed; pb += 4, w[r] += 64) {
      RowStep<true, kBlocksPerGroup, 4>(p, w[r], ws[r], b0 + pb, pb, bpg, &acc[r], &scale_exponents,
                                        &schedule_barrier);
    }
    if (rest == 3) {
      RowStep<true, kBlocksPerGroup, 3>(p, w[r], ws[r], b0 + whole, whole, bpg, &acc[r], &scale_exponents,
                                        &schedule_barrier);
    }
  }
  // [a0 + a2, a1 + a3, b0 + b2, b1 + b3] plus the tail's lanes; then lanes 0 and 2 take 1 and 3.
  v128_t v = groups;
  if (!kTransposed || rest == 3) {
    v = wasm_f32x4_add(v, wasm_f32x4_add(wasm_i32x4_shuffle(acc[0], acc[1], 0, 1, 4, 5),
                                         wasm_i32x4_shuffle(acc[0], acc[1], 2, 3, 6, 7)));
  }
  if (rest == 2) {
    v = wasm_f32x4_add(v, Q4PairTail<kBlocksPerGroup, 2>(p, w[0], w[1], ws[0], ws[1], b0 + whole, whole, bpg,
                                                         &scale_exponents, &schedule_barrier));
  } else if (rest == 1) {
    v = wasm_f32x4_add(v, Q4PairTail<kBlocksPerGroup, 1>(p, w[0], w[1], ws[0], ws[1], b0 + whole, whole, bpg,
                                                         &scale_exponents, &schedule_barrier));
  }
  if (HadSpecialScale(scale_exponents)) {
#if defined(KITE_WASM_RELAXED)
    if (kTransposed) {
      out[0] = Q4TransposedRowDotScalar(t, p, b0, blocks, n);
      out[1] = Q4TransposedRowDotScalar(t, p, b0, blocks, n_b);
      return;
    }
#endif
    out[0] = Q4RowDotWithSpecialScales<kBlocksPerGroup>(t, p, b0, blocks, n);
    out[1] = Q4RowDotWithSpecialScales<kBlocksPerGroup>(t, p, b0, blocks, n_b);
    return;
  }
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  out[0] = wasm_f32x4_extract_lane(v, 0);
  out[1] = wasm_f32x4_extract_lane(v, 2);
}

// Decode reads a matrix's rows (this thread's share of them) as this many interleaved sequential
// streams, one row (Q4: one row pair) of each in turn: one core keeps more cache lines in flight
// over several streams than over one, and wasm has no prefetch instruction. Intel Xeon VM, one
// thread: a wasm read loop 7-9 GB/s as one stream, 12-16 as four; 2, 3, 6 and 8 streams were no
// better for decode. Native decode keeps one stream (it prefetches; platforms/wasm/README.md has
// what 4 streams did there).
constexpr int kDecodeStreams = 4;

// Rows [m0, m0 + mr) x columns [n_begin, n_end) of y, one activation row at a time: each row is
// prepared kPreparedBlocks blocks at a time and swept by kTileCols-wide tiles (kTileCols = 1: RowDot,
// one weight row at a time, or Q4RowDotPair for Q4); with K beyond one prepared chunk, y collects the chunks' partial sums.
template <int kTileCols, bool kQ4, int kBlocksPerGroup, bool kTransposed>
void SweepRows(const GemmTile& t, int64_t m0, int mr, int64_t n_begin, int64_t n_end) {
  const GemmArgs& a = *t.args;
  const float* row_scales = static_cast<const float*>(t.w_scales);
  PreparedRow p;
  for (int64_t m = m0; m < m0 + mr; ++m) {
    float* y = a.y + m * a.ldy;
    for (int64_t b0 = 0; b0 < t.blocks; b0 += kPreparedBlocks) {
      const int64_t blocks = t.blocks - b0 < kPreparedBlocks ? t.blocks - b0 : kPreparedBlocks;
      PrepareRow<kQ4, kTransposed>(static_cast<const int8_t*>(t.x) + m * t.x_row_elements + b0 * 32,
                                   t.x_scales + m * t.blocks + b0, blocks, &p);
      if constexpr (kTileCols == 1) {
        // Rows n .. n + kRowsPerStep - 1 into y (Q4 two at a time, Q4RowDotPair).
        const auto rows_at = [&](int64_t n) {
          if constexpr (kQ4) {
            float dots[2];
            Q4RowDotPair<kBlocksPerGroup, kTransposed>(t, p, b0, blocks, n, n + 1, dots);
            for (int r = 0; r < 2; ++r) y[n + r] = b0 == 0 ? dots[r] : y[n + r] + dots[r];
          } else {
            const float v = RowDot<kQ4, kBlocksPerGroup>(t, p, b0, blocks, n) * row_scales[n];
            y[n] = b0 == 0 ? v : y[n] + v;
          }
        };
        constexpr int64_t kRowsPerStep = kQ4 ? 2 : 1;
        // Rows in transposed groups pair up as stored, from an even row: an odd first row goes alone.
        const auto row_alone = [&](int64_t n) {
          float dot;
          if constexpr (kQ4 && kTransposed) {
            float dots[2];
            Q4RowDotPair<kBlocksPerGroup, kTransposed>(t, p, b0, blocks, n, n, dots);
            dot = dots[0];
          } else {
            dot = RowDot<kQ4, kBlocksPerGroup>(t, p, b0, blocks, n);
          }
          y[n] = b0 == 0 ? dot : y[n] + dot;
        };
        int64_t first = n_begin;
        if (kTransposed && first % 2 != 0 && first < n_end) row_alone(first++);
        // kDecodeStreams streams, one row (pair) from each in turn, then the rows left over.
        const int64_t per_stream = (n_end - first) / (kDecodeStreams * kRowsPerStep) * kRowsPerStep;
        for (int64_t i = 0; i < per_stream; i += kRowsPerStep) {
          for (int s = 0; s < kDecodeStreams; ++s) rows_at(first + s * per_stream + i);
        }
        int64_t n = first + kDecodeStreams * per_stream;
        for (; n + kRowsPerStep <= n_end; n += kRowsPerStep) rows_at(n);
        if (kQ4 && n < n_end) row_alone(n);  // an odd last Q4 row
      } else {
        for (int64_t n0 = n_begin; n0 < n_end; n0 += kTileCols) {
          const int nr = n_end - n0 < kTileCols ? static_cast<int>(n_end - n0) : kTileCols;
          alignas(16) float out[kTileCols];
          static_assert(!kTransposed, "the prefill tiles read the stored layout");
          PrefillTile<kTileCols, kQ4, kBlocksPerGroup>(t, p, b0, blocks, n0, nr, out);
          for (int c = 0; c < nr; ++c) {
            const float v = kQ4 ? out[c] : out[c] * row_scales[n0 + c];
            y[n0 + c] = b0 == 0 ? v : y[n0 + c] + v;
          }
        }
      }
    }
  }
}

// All rows of y, for any M. M = 1 (decode) reads one weight row at a time (RowDot). With M >= 2 the
// activation rows run against 8-row tiles (kTransposed: each against the decode loop over the
// transposed groups; q4 pp128 of SmolLM2-135M ran 1.32x the 8-row tiles' speed over the stored
// layout, median of 10 alternating runs), and the columns go in blocks of about
// kGemmColumnBlockBytes of weights, each swept by every activation row while it sits in L2 (as
// RunGemmTiles does); the rows share no registers, so this costs M weight passes from L2 per block
// instead of M / 4 with register tiles of 4 rows, but the in-place unpacking and 4-column reductions
// make one pass cheaper than a 4 x 4 tile's share.
template <bool kQ4, int kBlocksPerGroup, bool kTransposed = false>
void GemmRows(const GemmTile& t) {
  const GemmArgs& a = *t.args;
  if (a.m <= 0 || a.n_end <= a.n_begin) return;
  int64_t block_columns = a.n_end - a.n_begin;
  if (a.m >= 2) {
    const int64_t fit = kGemmColumnBlockBytes / (t.w_row_bytes > 0 ? t.w_row_bytes : 1) / kPrefillTileCols;
    block_columns = (fit > 1 ? fit : 1) * kPrefillTileCols;
  }
  for (int64_t nb = a.n_begin; nb < a.n_end; nb += block_columns) {
    const int64_t ne = a.n_end - nb < block_columns ? a.n_end : nb + block_columns;
    if (a.m == 1) {
      SweepRows<1, kQ4, kBlocksPerGroup, kTransposed>(t, 0, 1, nb, ne);
    } else if constexpr (kTransposed) {  // each activation row as in decode
      SweepRows<1, kQ4, kBlocksPerGroup, kTransposed>(t, 0, static_cast<int>(a.m), nb, ne);
    } else {
      SweepRows<kPrefillTileCols, kQ4, kBlocksPerGroup, false>(t, 0, static_cast<int>(a.m), nb, ne);
    }
  }
}

// Q4 through GemmRows, specialized for groups of 32 and 64 columns (the relaxed and the baseline
// objects each instantiate it with their own Q4BlockDot). kTransposed: rows in transposed groups
// (relaxed only).
template <bool kTransposed = false>
void Q4GemmRows(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16, int64_t group_size,
                const int8_t* xq, const float* x_scales) {
  const GemmTile t = MakeQuantGemmTile(a, w, w_scales_f16, group_size, xq, x_scales);
  if (t.blocks_per_group == 1) return GemmRows<true, 1, kTransposed>(t);
  if (t.blocks_per_group == 2) return GemmRows<true, 2, kTransposed>(t);
  GemmRows<true, 0, kTransposed>(t);
}

}  // namespace

#if !defined(KITE_WASM_RELAXED)
void qs8_gemm_f32__wasm_simd128(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                                const float* x_scales) {
  GemmRows<false, 0>(MakeQuantGemmTile(a, w, w_scales, 0, xq, x_scales));
}

void qs4_gemm_f32__wasm_simd128(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                int64_t group_size, const int8_t* xq, const float* x_scales) {
  Q4GemmRows(a, w, w_scales_f16, group_size, xq, x_scales);
}

#else  // KITE_WASM_RELAXED: the relaxed Q4 kernel and the set that uses it

void qs4_gemm_f32__wasm_relaxed(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                int64_t group_size, const int8_t* xq, const float* x_scales) {
  Q4GemmRows(a, w, w_scales_f16, group_size, xq, x_scales);
}

// The same over rows in transposed groups (kernels/quant_formats.h).
void qs4t_gemm_f32__wasm_relaxed(const GemmArgs& a, const uint8_t* w, const uint16_t* w_scales_f16,
                                 int64_t group_size, const int8_t* xq, const float* x_scales) {
  Q4GemmRows<true>(a, w, w_scales_f16, group_size, xq, x_scales);
}

void qs8_gemm_f32__wasm_relaxed(const GemmArgs& a, const int8_t* w, const float* w_scales, const int8_t* xq,
                                const float* x_scales) {
  GemmRows<false, 0>(MakeQuantGemmTile(a, w, w_scales, 0, xq, x_scales));
}

// The float formats and the quantizer are the baseline's (in the module's other, clang-14 object).
extern const GemmKernels kWasmRelaxedGemmKernels = {
    "wasm-relaxed-simd", f32_gemm_f32__wasm_simd128, f16_gemm_f32__wasm_simd128, bf16_gemm_f32__wasm_simd128,
    qs8_gemm_f32__wasm_relaxed, qs4_gemm_f32__wasm_relaxed, f32_qd8_quantize__wasm_simd128, 4, nullptr, nullptr,
    qs4t_gemm_f32__wasm_relaxed};

#endif  // KITE_WASM_RELAXED

}  // namespace kernels
}  // namespace kite
