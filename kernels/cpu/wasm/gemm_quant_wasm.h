// The quantized wasm gemm kernels' building blocks (gemm_wasm.cc): activation rows prepared once
// per call, the Q4 and Q8 block dots, and Q4's f16 group scales. gemm_wasm.cc is compiled twice,
// as the baseline SIMD128 set and (KITE_WASM_RELAXED) the relaxed one, and both objects are linked
// into one module: everything here is in an unnamed namespace so that each object keeps its own
// copy (a named namespace would let the linker merge the two variants' functions).
#pragma once

#include <cstdint>

#include "kernels/cpu/wasm/wasm_common.h"

namespace kite {
namespace kernels {
namespace {

// [sum(a0), sum(a1), sum(a2), sum(a3)] of int32 lanes.
KITE_WASM_INLINE v128_t ReduceFourI32(v128_t a0, v128_t a1, v128_t a2, v128_t a3) {
  const v128_t s01 = wasm_i32x4_add(wasm_i32x4_shuffle(a0, a1, 0, 2, 4, 6), wasm_i32x4_shuffle(a0, a1, 1, 3, 5, 7));
  const v128_t s23 = wasm_i32x4_add(wasm_i32x4_shuffle(a2, a3, 0, 2, 4, 6), wasm_i32x4_shuffle(a2, a3, 1, 3, 5, 7));
  return wasm_i32x4_add(wasm_i32x4_shuffle(s01, s23, 0, 2, 4, 6), wasm_i32x4_shuffle(s01, s23, 1, 3, 5, 7));
}

// ---- Quantized formats: one prepared activation row against 1 (decode) or 8 weight rows ----
//
// The weights are unpacked in place, as int16 lanes holding two weight bytes, without widening:
// one AND or shift per 8 weights, each weight left at a power-of-two multiple of its code (Q8:
// byte 2i as code * 256 by a left shift, byte 2i + 1 as code * 256 by masking; Q4: the four
// nibbles of a lane as code * 1, 16, 256 and 1). The activations are prepared once per row to
// match: int16, deinterleaved into even and odd columns and scaled so that every weight-activation
// product is 256 times the code product. i32x4.dot_i16x8_s then gives 256 times the exact int32
// block dot (|sum| <= 32 * 15 * 32768 for Q4, 32 * 128 * 256 * 128 for Q8: no overflow), and an
// exact arithmetic shift takes the 256 off again. Q4's -8 is taken off as 8 * sum(x) per block,
// prepared once per row. Per weight row and block that is 1 (Q4) or 2 (Q8) loads, 4 ANDs/shifts
// and 4 dots, where widening costs 6 to 7 instructions in V8 (extend_high is two on x64).
//
// The block dots of 4 weight rows are reduced into the lanes of one vector (lane c: row c), so the
// int-to-float conversion, the scale multiply and the add happen once per 4 rows and block. Q4's
// f16 group scales are converted (with the activation scale multiplied in) ahead of the dot loop,
// 4 blocks of a row per load, and transposed to match.
//
// Measured in node 20 (V8 11.3) on the SmolLM2-135M shapes against the kernels these replaced (4 x 4
// and 1 x 4 / 1 x 8 tiles widening both operands): decode gemv Q4 1.8x, Q8 1.2x; prefill (64 rows,
// the 4 x 4 tiles before) Q4 1.6x, Q8 1.3x.
//
// The relaxed Q4 variant (KITE_WASM_RELAXED) keeps the activations as int8 (x[b][0]: columns 0..15,
// x[b][1]: 16..31, the columns of a block's low and high nibbles) and unpacks a block with one AND
// and one shift + AND; two relaxed dots and one i16 add give 8 lanes of at most 4 * 15 * 127 in
// magnitude (no saturation): 7 instructions per row and block instead of 12, the dot exact without
// the factor 256. A standalone kernel of this shape ran 1.47x the baseline's in node 20 (22.5 vs
// 15.3 GB/s of Q4 weights, 49152 x 576). The int16 lanes of 4 blocks are summed pairwise twice
// before one widening (ReduceFourBlockDots): q4 decode +3% against a widening per block.
// The relaxed set also has a Q4 kernel over rows in transposed groups (kernels/quant_formats.h; the
// Engine rearranges the heap's weights into them when asked, Engine::RearrangeWeightsForKernels),
// which removes those reductions for whole groups of 4 blocks (Q4GroupStep); there decode and
// prefill both run the 2-row decode loop, and the last K % 128 columns keep the stored layout.
//
// The relaxed Q8 variant makes the activations the 7-bit operand: x = sign * |x| with |x| <= 127
// (the activation quantizer's codes are in [-127, 127]), so w . x = sum |x| * (w ^ s) + sum over
// x < 0 of |x|, where s is 0xff where x < 0 (w ^ 0xff = -w - 1). The activation row is prepared as
// |x| and s per 16 columns and that last sum per block; a block then costs 2 XORs, 2
// i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw: |x| * (w ^ s) pairs are at most 2 * 127 * 128 in
// magnitude, no int16 saturation), 2 widening dots with ones and an add instead of 2 shifts, 2 ANDs,
// 4 dots and 3 adds, exact like the baseline. (i32x4.relaxed_dot_i8x16_i7x16_add_s would save the
// widening, but the binaryen that Debian's emscripten runs rejects that opcode.)
#if defined(KITE_WASM_RELAXED)
constexpr bool kRelaxed = true;
constexpr int kDotShift = 0;  // the relaxed block dots are exact as they are
#else
constexpr bool kRelaxed = false;
constexpr int kDotShift = 8;  // the baseline's products are 256 x the code products
#endif
constexpr int kPreparedBlocks = 64;  // activation blocks prepared at a time (2048 columns, 4 KB)
// Weight rows per prefill tile (measured in node 20 when decode used it too: 8 beat 4, 12 and 16).
constexpr int kPrefillTileCols = 8;

// A whole group of 4 prepared blocks as the relaxed Q4 decode loop over transposed groups reads it
// (Q4GroupStep), all in one record so that one pointer walks the activations.
struct TransposedGroup {
  v128_t x[4][2];      // [v][0]: word v of the 4 blocks' low-nibble columns; [v][1]: of the high-nibble ones
  v128_t offset16;     // per int16 lane of the dots, -8 * the sum of the codes that meet it there
  v128_t scale_2p112;  // the 4 activation scales times 2^112, the factor the f16 conversion leaves out
};

struct PreparedRow {
  v128_t x[kPreparedBlocks][4];       // per block, the 4 int16 vectors its weights pair with
  int32_t offset[kPreparedBlocks];    // Q4: -256 * 8 * sum(x) (relaxed: -8 * sum(x)); relaxed Q8: the
                                      // sum of |x| over x < 0; baseline Q8: unused
  float scale[kPreparedBlocks];       // activation scales; 0 past the last block
  // Relaxed Q4 over transposed groups (kTransposed) only: the whole groups, and whether all their
  // scales are below 2^15 in magnitude, so that scale_2p112 is exact (finite, no rounding).
  TransposedGroup groups[kPreparedBlocks / 4];
  bool groups_scales_fold;
};

// Blocks [0, blocks) of one Q8 activation row (codes x, scales x_scales) into p, padded with zero
// blocks to a multiple of 4. Q8: x[2i] and x[2i + 1] of each 16 columns; Q4: 256 x[2i], 16 x[16 + 2i],
// x[2i + 1] and 256 x[17 + 2i] (the pairs of the masks in Q4BlockDot). kTransposed (relaxed Q4 only):
// also for weights in transposed groups, below.
template <bool kQ4, bool kTransposed = false>
KITE_WASM_INLINE void PrepareRow(const int8_t* x, const float* x_scales, int64_t blocks, PreparedRow* p) {
  const int64_t padded = (blocks + 3) & ~int64_t{3};
  for (int64_t b = 0; b < padded; ++b) {
    if (b >= blocks) {
      p->x[b][0] = p->x[b][1] = p->x[b][2] = p->x[b][3] = wasm_i16x8_splat(0);
      p->scale[b] = 0.0f;
      continue;
    }
    const v128_t lo = wasm_v128_load(x + 32 * b), hi = wasm_v128_load(x + 32 * b + 16);
    if (kQ4 && kRelaxed) {
      p->x[b][0] = lo;
      p->x[b][1] = hi;
      // The block's sum in 8 int16 lanes (for the -8 offset below); x[3] is unused.
      p->x[b][2] = wasm_i16x8_add(wasm_i16x8_extadd_pairwise_i8x16(lo), wasm_i16x8_extadd_pairwise_i8x16(hi));
      p->x[b][3] = wasm_i16x8_splat(0);
    } else if (kQ4) {
      p->x[b][0] = wasm_i16x8_shl(lo, 8);
      p->x[b][1] = wasm_i16x8_shr(wasm_i16x8_shl(hi, 8), 4);
      p->x[b][2] = wasm_i16x8_shr(lo, 8);
      p->x[b][3] = wasm_v128_and(hi, wasm_i16x8_splat(static_cast<int16_t>(0xff00)));
    } else if (kRelaxed) {
      p->x[b][0] = wasm_i8x16_abs(lo);
      p->x[b][1] = wasm_i8x16_abs(hi);
      p->x[b][2] = wasm_i8x16_shr(lo, 7);
      p->x[b][3] = wasm_i8x16_shr(hi, 7);
    } else {
      p->x[b][0] = wasm_i16x8_shr(wasm_i16x8_shl(lo, 8), 8);
      p->x[b][1] = wasm_i16x8_shr(lo, 8);
      p->x[b][2] = wasm_i16x8_shr(wasm_i16x8_shl(hi, 8), 8);
      p->x[b][3] = wasm_i16x8_shr(hi, 8);
    }
    p->scale[b] = x_scales[b];
  }
  for (int64_t b = 0; b < padded && (kQ4 || kRelaxed); b += 4) {
    v128_t sums[4];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 4; ++i) {
      const v128_t* v = p->x[b + i];
      if (kQ4 && kRelaxed) {  // 8 * sum(x): x[2] holds sums of 4 columns (|.| <= 4 * 128)
        sums[i] = wasm_i32x4_dot_i16x8(v[2], wasm_i16x8_splat(8));
        continue;
      }
      if (!kQ4) {  // relaxed Q8: the sum of |x| over x < 0
        const v128_t negative = wasm_i16x8_add(wasm_u16x8_extadd_pairwise_u8x16(wasm_v128_and(v[0], v[2])),
                                               wasm_u16x8_extadd_pairwise_u8x16(wasm_v128_and(v[1], v[3])));
        sums[i] = wasm_u32x4_extadd_pairwise_u16x8(negative);
        continue;
      }
      // 256 * 8 * sum(x): the prepared vectors hold 256 x, 16 x, x and 256 x.
      const v128_t d01 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(v[0], wasm_i16x8_splat(8)),
                                        wasm_i32x4_dot_i16x8(v[1], wasm_i16x8_splat(128)));
      const v128_t d23 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(v[2], wasm_i16x8_splat(2048)),
                                        wasm_i32x4_dot_i16x8(v[3], wasm_i16x8_splat(8)));
      sums[i] = wasm_i32x4_add(d01, d23);
    }
    const v128_t reduced = ReduceFourI32(sums[0], sums[1], sums[2], sums[3]);
    wasm_v128_store(p->offset + b, kQ4 ? wasm_i32x4_neg(reduced) : reduced);
  }
  // Each whole group of 4 blocks also as the weights' transposed groups pair with it (Q4GroupStep).
  // offset16: the relaxed dot adds the products of bytes 2i and 2i + 1 into int16 lane i, so lane i
  // of the 8 dots of a row and group meets the codes in bytes 2i and 2i + 1 of the 8 words; -8 times
  // their sum (|.| <= 8 * 16 * 127 = 16256) started in the lane makes the lane's sum that of the 16
  // products x * (n - 8), at most 16 * 8 * 127 in magnitude: int16 wraps through the additions
  // and ends exact, and no int32 offset add is left per row.
  p->groups_scales_fold = true;
  for (int64_t b = 0; b + 4 <= blocks && kQ4 && kRelaxed && kTransposed; b += 4) {
    TransposedGroup& g = p->groups[b / 4];
    _Pragma("clang loop unroll(full)")
    for (int h = 0; h < 2; ++h) {
      const v128_t a0 = p->x[b][h], a1 = p->x[b + 1][h], a2 = p->x[b + 2][h], a3 = p->x[b + 3][h];
      const v128_t t01l = wasm_i32x4_shuffle(a0, a1, 0, 4, 1, 5), t23l = wasm_i32x4_shuffle(a2, a3, 0, 4, 1, 5);
      const v128_t t01h = wasm_i32x4_shuffle(a0, a1, 2, 6, 3, 7), t23h = wasm_i32x4_shuffle(a2, a3, 2, 6, 3, 7);
      g.x[0][h] = wasm_i64x2_shuffle(t01l, t23l, 0, 2);
      g.x[1][h] = wasm_i64x2_shuffle(t01l, t23l, 1, 3);
      g.x[2][h] = wasm_i64x2_shuffle(t01h, t23h, 0, 2);
      g.x[3][h] = wasm_i64x2_shuffle(t01h, t23h, 1, 3);
    }
    v128_t codes = wasm_i16x8_splat(0);
    _Pragma("clang loop unroll(full)")
    for (int v = 0; v < 4; ++v) {
      codes = wasm_i16x8_add(codes, wasm_i16x8_add(wasm_i16x8_extadd_pairwise_i8x16(g.x[v][0]),
                                                   wasm_i16x8_extadd_pairwise_i8x16(g.x[v][1])));
    }
    g.offset16 = wasm_i16x8_mul(codes, wasm_i16x8_splat(-8));
    // 2^112 moves from each weight scale's conversion (FiniteHighHalfLanesToFloat) to the activation
    // scale: x * 2^112 is exact below 2^15 (NaN fails the test), and (x * 2^112) * (h / 2^112) rounds
    // the same real product x * h as before. Larger scales take the scalar path.
    const v128_t scale = wasm_v128_load(p->scale + b);
    g.scale_2p112 = wasm_f32x4_mul(scale, wasm_f32x4_splat(wasm::kHalfToFloatRebias));
    if (!wasm_i32x4_all_true(wasm_f32x4_lt(wasm_f32x4_abs(scale), wasm_f32x4_splat(32768.0f)))) {
      p->groups_scales_fold = false;
    }
  }
}

// int32 lanes summing to 256 * sum(n x) over one Q4 block, n = code + 8 (the stored nibble), from
// its 16 bytes as 8 int16 lanes: lane i holds columns 2i, 16 + 2i (byte 2i) and 2i + 1, 17 + 2i.
// Relaxed: int16 lanes summing to sum(n x) itself, each at most 2 * 2 * 15 * 127 = 7620 in
// magnitude; ReduceFourBlockDots takes them to int32.
KITE_WASM_INLINE v128_t Q4BlockDot(v128_t raw, const v128_t* x) {
#if defined(KITE_WASM_RELAXED)
  const v128_t low = wasm_v128_and(raw, wasm_i8x16_splat(0x0f));
  const v128_t high = wasm_v128_and(wasm_u16x8_shr(raw, 4), wasm_i8x16_splat(0x0f));
  return wasm_i16x8_add(wasm_i16x8_relaxed_dot_i8x16_i7x16(x[0], low),
                        wasm_i16x8_relaxed_dot_i8x16_i7x16(x[1], high));
#endif
  const v128_t d0 = wasm_i32x4_dot_i16x8(wasm_v128_and(raw, wasm_i16x8_splat(0x000f)), x[0]);
  const v128_t d1 = wasm_i32x4_dot_i16x8(wasm_v128_and(raw, wasm_i16x8_splat(0x00f0)), x[1]);
  const v128_t d2 = wasm_i32x4_dot_i16x8(wasm_v128_and(raw, wasm_i16x8_splat(0x0f00)), x[2]);
  const v128_t d3 = wasm_i32x4_dot_i16x8(wasm_u16x8_shr(raw, 12), x[3]);
  return wasm_i32x4_add(wasm_i32x4_add(d0, d1), wasm_i32x4_add(d2, d3));
}

// int32 lanes summing to 256 * (w . x) over one Q8 block (two 16-byte halves). Relaxed: to
// w . x - (the block's offset), see kRelaxed.
KITE_WASM_INLINE v128_t Q8BlockDot(v128_t w0, v128_t w1, const v128_t* x) {
#if defined(KITE_WASM_RELAXED)
  const v128_t ones = wasm_i16x8_splat(1);
  const v128_t d0 = wasm_i16x8_relaxed_dot_i8x16_i7x16(wasm_v128_xor(w0, x[2]), x[0]);
  const v128_t d1 = wasm_i16x8_relaxed_dot_i8x16_i7x16(wasm_v128_xor(w1, x[3]), x[1]);
  return wasm_i32x4_add(wasm_i32x4_dot_i16x8(d0, ones), wasm_i32x4_dot_i16x8(d1, ones));
#else
  const v128_t high_byte = wasm_i16x8_splat(static_cast<int16_t>(0xff00));
  const v128_t d0 = wasm_i32x4_dot_i16x8(wasm_i16x8_shl(w0, 8), x[0]);
  const v128_t d1 = wasm_i32x4_dot_i16x8(wasm_v128_and(w0, high_byte), x[1]);
  const v128_t d2 = wasm_i32x4_dot_i16x8(wasm_i16x8_shl(w1, 8), x[2]);
  const v128_t d3 = wasm_i32x4_dot_i16x8(wasm_v128_and(w1, high_byte), x[3]);
  return wasm_i32x4_add(wasm_i32x4_add(d0, d1), wasm_i32x4_add(d2, d3));
#endif
}

// The sums of 4 block dots (Q4BlockDot / Q8BlockDot results d0..d3) in lanes 0..3. The relaxed Q4
// dots are int16 lanes of at most 7620: two rounds of adding lane pairs stay within int16 (15240,
// then 30480), so 4 blocks need 2 64-bit unpacks, 2 shuffles, 3 adds and one widening dot instead of
// a widening per block and ReduceFourI32.
template <bool kQ4>
KITE_WASM_INLINE v128_t ReduceFourBlockDots(v128_t d0, v128_t d1, v128_t d2, v128_t d3) {
  if (!(kQ4 && kRelaxed)) return ReduceFourI32(d0, d1, d2, d3);
  // 32-bit units [d0, d0, d1, d1] and [d2, d2, d3, d3], each unit 2 int16 partial sums.
  const v128_t p01 = wasm_i16x8_add(wasm_i64x2_shuffle(d0, d1, 0, 2), wasm_i64x2_shuffle(d0, d1, 1, 3));
  const v128_t p23 = wasm_i16x8_add(wasm_i64x2_shuffle(d2, d3, 0, 2), wasm_i64x2_shuffle(d2, d3, 1, 3));
  const v128_t p0123 = wasm_i16x8_add(wasm_i32x4_shuffle(p01, p23, 0, 2, 4, 6), wasm_i32x4_shuffle(p01, p23, 1, 3, 5, 7));
  return wasm_i32x4_extadd_pairwise_i16x8(p0123);
}

// The f16 group scales of blocks b .. b + 3 of one Q4 row (ws: the row's scales), in the low 16 bits
// of 4 lanes. kFull: all 4 before `blocks` (counted from pb = the prepared block of b); otherwise the
// lanes past it are 0, and nothing past the row's scales is read.
template <int kBlocksPerGroup, bool kFull>
KITE_WASM_INLINE v128_t Q4ScaleHalves4(const uint16_t* ws, int64_t b, int64_t pb, int64_t blocks,
                                       int64_t blocks_per_group) {
  if (kFull && kBlocksPerGroup == 1) return wasm_u32x4_load16x4(ws + b);  // 4 blocks' scales in one load
  if (kFull && kBlocksPerGroup == 2) return wasm_u32x4_make(ws[b / 2], ws[b / 2], ws[b / 2 + 1], ws[b / 2 + 1]);
  // Other groups, and the last K % 128 columns.
  const int64_t bpg = kBlocksPerGroup > 0 ? kBlocksPerGroup : blocks_per_group;
  uint32_t h[4];
  for (int i = 0; i < 4; ++i) h[i] = kFull || pb + i < blocks ? ws[(b + i) / bpg] : 0;
  return wasm_u32x4_make(h[0], h[1], h[2], h[3]);
}

// scale x the f16 group scales in the low 16 bits of halves' lanes. The relaxed module converts
// finite values only (4 instructions instead of 8) and keeps the largest exponent field seen in
// scale_exponents, for HadSpecialScale.
KITE_WASM_INLINE v128_t MulByScaleHalves(v128_t scale, v128_t halves, v128_t* scale_exponents) {
  if (!kRelaxed) return wasm_f32x4_mul(scale, wasm::HalfLanesToFloat(halves));
  // 16-bit lanes, as Q4GroupStep collects them (there 8 halves per vector).
  *scale_exponents = wasm_u16x8_max(*scale_exponents, wasm_v128_and(halves, wasm_i32x4_splat(0x7c00)));
  return wasm_f32x4_mul(scale, wasm::FiniteHalfLanesToFloat(halves));
}

// Whether MulByScaleHalves met an Inf or NaN scale (relaxed module only): its conversion was wrong
// for that lane, and the row is redone by Q4RowDotWithSpecialScales.
KITE_WASM_INLINE bool HadSpecialScale(v128_t scale_exponents) {
  return kRelaxed && wasm_v128_any_true(wasm_i16x8_eq(scale_exponents, wasm_i16x8_splat(0x7c00)));
}

// The f16 group scales of the kBlocks blocks b .. b + kBlocks - 1 of one Q4 row (ws: the row's
// scales, b a multiple of 4), in the low 16 bits of lanes 0 .. kBlocks - 1; the other lanes 0. Only
// those scales are read: a row's last scales may end the heap.
template <int kBlocksPerGroup, int kBlocks>
KITE_WASM_INLINE v128_t Q4StepScaleHalves(const uint16_t* ws, int64_t b, int64_t blocks_per_group) {
  if (kBlocks == 4) return Q4ScaleHalves4<kBlocksPerGroup, true>(ws, b, 0, 4, blocks_per_group);
  if (kBlocksPerGroup == 1 && kBlocks >= 2) {  // 2 scales in one 4-byte load, widened to lanes 0, 1
    const v128_t two = wasm_u32x4_extend_low_u16x8(wasm_v128_load32_zero(ws + b));
    return kBlocks == 2 ? two : wasm_i32x4_replace_lane(two, 2, ws[b + 2]);
  }
  if (kBlocksPerGroup == 2) {  // blocks b, b + 1 share scale b / 2 (b is even), block b + 2 has the next
    const uint32_t h0 = ws[b / 2];
    return wasm_u32x4_make(h0, kBlocks >= 2 ? h0 : 0, kBlocks == 3 ? ws[b / 2 + 1] : 0, 0);
  }
  const int64_t bpg = kBlocksPerGroup > 0 ? kBlocksPerGroup : blocks_per_group;
  uint32_t h[4];
  for (int i = 0; i < 4; ++i) h[i] = i < kBlocks ? ws[(b + i) / bpg] : 0;
  return wasm_u32x4_make(h[0], h[1], h[2], h[3]);
}

}  // namespace
}  // namespace kernels
}  // namespace kite
