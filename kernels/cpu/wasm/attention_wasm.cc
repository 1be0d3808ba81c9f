// WebAssembly SIMD128 tile operations of the attention driver (kernels/attention_tiles.h): the
// algorithm of kernels/cpu/neon/attention_neon.cc with 4-float wasm vectors and no FMA (baseline
// SIMD128 has none: multiply, then add). Scores 8 keys at a time per lane, a vectorized online
// softmax over the tile (Cephes-style exp, 0 below -87.3 so masked keys vanish; tanh through exp for
// soft-capping), the weighted value sum 64 dimensions per pass. f16 caches widen with integer
// shifts, 8 halves per load, exactly for finite halves; a tile holding Inf or NaN is widened again
// by wasm_common.h's exact conversion (decode +2% at 0-192 positions, +5% at 256-384 for q4). Q8
// caches widen by sign extension, conversion and the row's scale.
#include <cmath>
#include <cstdint>

#include "kernels/attention_tiles.h"
#include "kernels/cpu/wasm/wasm_common.h"

namespace kite {
namespace kernels {
namespace {

// Rows [0, n) of f16 values (hd each, stride apart) to f32, 8 at a time, exact for finite halves;
// false (out partly written) when one of them is Inf or NaN.
bool WidenFiniteHalfRows(const uint16_t* src, int64_t stride, int64_t n, int64_t hd, float* out) {
  const v128_t zero = wasm_i16x8_splat(0), exponent = wasm_i16x8_splat(0x7c00);
  v128_t special = zero;
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t d = 0; d < hd; d += 8) {
      const v128_t h = wasm_v128_load(src + j * stride + d);
      special = wasm_v128_or(special, wasm_i16x8_eq(wasm_v128_and(h, exponent), exponent));
      // Each half in the high 16 bits of a 32-bit lane.
      const v128_t lo = wasm_i16x8_shuffle(zero, h, 0, 8, 1, 9, 2, 10, 3, 11);
      const v128_t hi = wasm_i16x8_shuffle(zero, h, 4, 12, 5, 13, 6, 14, 7, 15);
      float* o = out + j * hd + d;
      wasm_v128_store(o, wasm::FiniteHighHalfLanesToFloat(lo));
      wasm_v128_store(o + 4, wasm::FiniteHighHalfLanesToFloat(hi));
    }
  }
  return !wasm_v128_any_true(special);
}

void LoadRows(const KvCacheView& kv, bool values, int64_t row0, int64_t n, int64_t kv_head, int64_t hd, float* out) {
  const int64_t offset = row0 * kv.row_stride + kv_head * hd;
  if (kv.format == KvFormat::kF16) {
    const uint16_t* src = static_cast<const uint16_t*>(values ? kv.v : kv.k) + offset;
    if (hd % 8 == 0 && WidenFiniteHalfRows(src, kv.row_stride, n, hd, out)) return;
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t d = 0; d < hd; d += 4) wasm_v128_store(out + j * hd + d, wasm::LoadHalf4(src + j * kv.row_stride + d));
    }
    return;
  }
  const int8_t* src = static_cast<const int8_t*>(values ? kv.v : kv.k) + offset;
  const float* scales = (values ? kv.v_scales : kv.k_scales) + row0 * kv.scale_row_stride + kv_head;
  for (int64_t j = 0; j < n; ++j) {
    const v128_t scale = wasm_f32x4_splat(scales[j * kv.scale_row_stride]);
    const int8_t* row = src + j * kv.row_stride;
    for (int64_t d = 0; d < hd; d += 4) {  // head_dim % 4 == 0
      const v128_t wide = wasm_i32x4_make(row[d], row[d + 1], row[d + 2], row[d + 3]);
      wasm_v128_store(out + j * hd + d, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wide), scale));
    }
  }
}

// [sum(a0), sum(a1), sum(a2), sum(a3)]
KITE_WASM_INLINE v128_t ReduceFour(const v128_t* a) {
  const v128_t s01 = wasm_f32x4_add(wasm_i32x4_shuffle(a[0], a[1], 0, 2, 4, 6), wasm_i32x4_shuffle(a[0], a[1], 1, 3, 5, 7));
  const v128_t s23 = wasm_f32x4_add(wasm_i32x4_shuffle(a[2], a[3], 0, 2, 4, 6), wasm_i32x4_shuffle(a[2], a[3], 1, 3, 5, 7));
  return wasm_f32x4_add(wasm_i32x4_shuffle(s01, s23, 0, 2, 4, 6), wasm_i32x4_shuffle(s01, s23, 1, 3, 5, 7));
}

void Scores(const float* const* q, int lanes, const float* k, int64_t k_stride, int64_t n, int64_t hd, float* scores,
            int64_t stride) {
  for (int l = 0; l < lanes; ++l) {
    const float* ql = q[l];
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
      v128_t acc[8];
      _Pragma("clang loop unroll(full)") for (int u = 0; u < 8; ++u) acc[u] = wasm_f32x4_splat(0.0f);
      for (int64_t d = 0; d < hd; d += 4) {
        const v128_t qv = wasm_v128_load(ql + d);
        _Pragma("clang loop unroll(full)") for (int u = 0; u < 8; ++u) {
          acc[u] = wasm_f32x4_add(acc[u], wasm_f32x4_mul(qv, wasm_v128_load(k + (j + u) * k_stride + d)));
        }
      }
      wasm_v128_store(scores + l * stride + j, ReduceFour(acc));
      wasm_v128_store(scores + l * stride + j + 4, ReduceFour(acc + 4));
    }
    for (; j < n; ++j) {
      v128_t acc = wasm_f32x4_splat(0.0f);
      for (int64_t d = 0; d < hd; d += 4) {
        acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(ql + d), wasm_v128_load(k + j * k_stride + d)));
      }
      scores[l * stride + j] = wasm::HorizontalSum(acc);
    }
  }
}

// cap * tanh(x / cap)
KITE_WASM_INLINE v128_t SoftCap(v128_t x, float cap) {
  const v128_t y = wasm_f32x4_mul(x, wasm_f32x4_splat(1.0f / cap));
  const v128_t t = wasm::Exp(wasm_f32x4_mul(wasm_f32x4_abs(y), wasm_f32x4_splat(-2.0f)));  // e^(-2|y|) in (0, 1]
  const v128_t one = wasm_f32x4_splat(1.0f);
  const v128_t tanh_abs = wasm_f32x4_div(wasm_f32x4_sub(one, t), wasm_f32x4_add(one, t));
  const v128_t sign = wasm_v128_and(y, wasm_i32x4_splat(static_cast<int32_t>(0x80000000u)));
  return wasm_f32x4_mul(wasm_v128_or(tanh_abs, sign), wasm_f32x4_splat(cap));
}

void Softmax(float* scores, int64_t stride, int lanes, int64_t n, const int64_t* valid_begin, const int64_t* valid_end,
             float scale, float soft_cap, float* running_max, float* running_sum, float* rescale) {
  const float neg_inf = -__builtin_inff();
  const v128_t index0 = wasm_i32x4_make(0, 1, 2, 3);
  for (int l = 0; l < lanes; ++l) {
    float* s = scores + l * stride;
    const int64_t begin = valid_begin[l], end = valid_end[l];
    if (end <= begin) {  // no key of this tile is visible to the lane
      rescale[l] = 1.0f;
      for (int64_t j = 0; j < n; ++j) s[j] = 0.0f;
      continue;
    }
    const v128_t vb = wasm_i32x4_splat(static_cast<int32_t>(begin)), ve = wasm_i32x4_splat(static_cast<int32_t>(end));
    v128_t tile_max = wasm_f32x4_splat(neg_inf);
    for (int64_t j = 0; j < n; j += 4) {
      const v128_t index = wasm_i32x4_add(index0, wasm_i32x4_splat(static_cast<int32_t>(j)));
      const v128_t valid = wasm_v128_and(wasm_i32x4_ge(index, vb), wasm_i32x4_lt(index, ve));
      v128_t x = wasm_f32x4_mul(wasm_v128_load(s + j), wasm_f32x4_splat(scale));
      if (soft_cap > 0.0f) x = SoftCap(x, soft_cap);
      x = wasm_v128_bitselect(x, wasm_f32x4_splat(neg_inf), valid);
      wasm_v128_store(s + j, x);
      tile_max = wasm_f32x4_max(tile_max, x);
    }
    const float old_max = running_max[l];
    const float new_max = std::fmax(old_max, wasm::HorizontalMax(tile_max));
    // The vector exp here too: libm's expf, once per lane and tile, took about as much of a q8
    // decode step (perf, node 20) as the rest of this function.
    rescale[l] =
        old_max == neg_inf ? 0.0f : wasm_f32x4_extract_lane(wasm::Exp(wasm_f32x4_splat(old_max - new_max)), 0);
    const v128_t max_v = wasm_f32x4_splat(new_max);
    v128_t sum = wasm_f32x4_splat(0.0f);
    for (int64_t j = 0; j < n; j += 4) {
      const v128_t p = wasm::Exp(wasm_f32x4_sub(wasm_v128_load(s + j), max_v));  // invalid keys hold -inf: p = 0
      wasm_v128_store(s + j, p);
      sum = wasm_f32x4_add(sum, p);
    }
    running_sum[l] = running_sum[l] * rescale[l] + wasm::HorizontalSum(sum);
    running_max[l] = new_max;
  }
}

// acc[0 .. 4 * chunks) of one lane += sum_j p[j] * v[j][0 .. 4 * chunks), after acc *= rescale.
template <int chunks>
KITE_WASM_INLINE void AccumulateChunks(const float* p, const float* v, int64_t v_stride, int64_t n, float rescale,
                                       float* acc) {
  v128_t sum[chunks];
  const v128_t r = wasm_f32x4_splat(rescale);
  _Pragma("clang loop unroll(full)") for (int u = 0; u < chunks; ++u) sum[u] = wasm_f32x4_mul(wasm_v128_load(acc + 4 * u), r);
  for (int64_t j = 0; j < n; ++j) {
    const v128_t w = wasm_f32x4_splat(p[j]);
    _Pragma("clang loop unroll(full)") for (int u = 0; u < chunks; ++u) {
      sum[u] = wasm_f32x4_add(sum[u], wasm_f32x4_mul(wasm_v128_load(v + j * v_stride + 4 * u), w));
    }
  }
  _Pragma("clang loop unroll(full)") for (int u = 0; u < chunks; ++u) wasm_v128_store(acc + 4 * u, sum[u]);
}

void Accumulate(const float* p, int64_t stride, int lanes, const float* v, int64_t v_stride, int64_t n, int64_t hd,
                const float* rescale, float* acc) {
  for (int l = 0; l < lanes; ++l) {
    for (int64_t d = 0; d < hd; d += 64) {
      const float* pl = p + l * stride;
      float* al = acc + l * hd + d;
      const int64_t chunks = (hd - d) >= 64 ? 16 : (hd - d) / 4;
      if (chunks == 16) {
        AccumulateChunks<16>(pl, v + d, v_stride, n, rescale[l], al);
      } else if (chunks >= 8) {  // 8..15: one 8-chunk pass, then the rest
        AccumulateChunks<8>(pl, v + d, v_stride, n, rescale[l], al);
        for (int64_t c = 8; c < chunks; ++c) AccumulateChunks<1>(pl, v + d + 4 * c, v_stride, n, rescale[l], al + 4 * c);
      } else {
        for (int64_t c = 0; c < chunks; ++c) AccumulateChunks<1>(pl, v + d + 4 * c, v_stride, n, rescale[l], al + 4 * c);
      }
    }
  }
}

const AttentionTileOps kOps = {LoadRows, Scores, Softmax, Accumulate};

}  // namespace

void f32_attention__wasm_simd128(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out) {
  if (!AttentionArgsValid(a, kv)) return;
  if (a.head_dim % 4 != 0 || a.head_dim > kMaxAttentionHeadDim) {  // outside the tiles' shapes
    f32_attention__scalar(a, kv, q, out);
    return;
  }
  RunAttentionTiles(a, kv, q, out, kOps);
}

}  // namespace kernels
}  // namespace kite
