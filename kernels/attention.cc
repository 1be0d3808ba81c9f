// Attention kernel tables (filled from kernels/cpu_features.h), the argument
// check every kernel set shares, the tiled driver of the SIMD kernels (see
// attention_tiles.h) and the Q8 writer of K/V rows.
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/attention_tiles.h"
#include "kernels/cpu_features.h"

namespace kite {
namespace kernels {
namespace {

const AttentionKernels kReference = {"scalar", f32_attention__scalar};
#if defined(__x86_64__) || defined(_M_X64)
const AttentionKernels kAvx2 = {"avx2", f32_attention__avx2};
const AttentionKernels kAvx512 = {"avx512", f32_attention__avx512};
#endif
#if defined(__aarch64__)
const AttentionKernels kNeon = {"neon", f32_attention__neon};
#endif
#if defined(__wasm_simd128__)
const AttentionKernels kWasmSimd128 = {"wasm-simd128", f32_attention__wasm_simd128};
#endif

struct KernelList {
  const AttentionKernels* sets[kMaxAttentionKernelSets];
  int count;
};

KernelList DetectKernels() {
  KernelList list = {{&kReference}, 1};
#if defined(__x86_64__) || defined(_M_X64)
  if (DetectedCpuFeatures().avx2) list.sets[list.count++] = &kAvx2;
  if (DetectedCpuFeatures().avx512) list.sets[list.count++] = &kAvx512;
#endif
#if defined(__aarch64__)
  list.sets[list.count++] = &kNeon;
#endif
#if defined(__wasm_simd128__)
  list.sets[list.count++] = &kWasmSimd128;
#endif
  return list;
}

const KernelList& Detected() {
  static const KernelList list = DetectKernels();
  return list;
}

// The first key position p may see.
int64_t FirstKey(int64_t p, int64_t window) { return window > 0 ? std::max<int64_t>(0, p - window + 1) : 0; }

}  // namespace

const AttentionKernels& ReferenceAttentionKernels() { return kReference; }

const AttentionKernels& BestAttentionKernels() {
  const KernelList& list = Detected();
  return *list.sets[list.count - 1];
}

int AvailableAttentionKernels(const AttentionKernels** out, int capacity) {
  const KernelList& list = Detected();
  int stored = 0;
  for (; stored < list.count && stored < capacity; ++stored) out[stored] = list.sets[stored];
  return stored;
}

bool AttentionArgsValid(const AttentionArgs& a, const KvCacheView& kv) {
  if (a.n_heads <= 0 || a.n_kv_heads <= 0 || a.n_heads % a.n_kv_heads != 0 || a.head_dim <= 0) return false;
  if (a.m < 0 || a.pos0 < 0 || a.window < 0) return false;
  const int64_t kv_end = a.kv_head_end < 0 ? a.n_kv_heads : a.kv_head_end;
  if (a.kv_head_begin < 0 || a.kv_head_begin > kv_end || kv_end > a.n_kv_heads) return false;
  if (kv.k == nullptr || kv.v == nullptr || kv.row_stride < a.n_kv_heads * a.head_dim) return false;
  if (kv.format != KvFormat::kF32 && kv.format != KvFormat::kF16 && kv.format != KvFormat::kQ8) return false;
  if (kv.format == KvFormat::kQ8 &&
      (kv.k_scales == nullptr || kv.v_scales == nullptr || kv.scale_row_stride < a.n_kv_heads)) {
    return false;
  }
  // A ring must hold every key of the call at once: from the first row's first key to the last row.
  if (kv.ring_rows < 0) return false;
  if (kv.ring_rows > 0 && a.m > 0 && a.pos0 + a.m - FirstKey(a.pos0, a.window) > kv.ring_rows) return false;
  return true;
}

void QuantizeKvRowQ8(const float* x, int64_t n_kv_heads, int64_t head_dim, int8_t* codes, float* scales) {
  for (int64_t g = 0; g < n_kv_heads; ++g) {
    const float* head = x + g * head_dim;  // x: [n_kv_heads][head_dim]
    float abs_max = 0.0f;
    for (int64_t d = 0; d < head_dim; ++d) abs_max = std::max(abs_max, std::fabs(head[d]));
    scales[g] = abs_max / 127.0f;
    const float inv = abs_max > 0.0f ? 127.0f / abs_max : 0.0f;
    for (int64_t d = 0; d < head_dim; ++d) {
      codes[g * head_dim + d] = static_cast<int8_t>(std::nearbyint(std::clamp(head[d] * inv, -127.0f, 127.0f)));
    }
  }
}

void RunAttentionTiles(const AttentionArgs& a, const KvCacheView& kv, const float* q, float* out,
                       const AttentionTileOps& ops) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const int64_t kv_end = a.kv_head_end < 0 ? a.n_kv_heads : a.kv_head_end;
  // Keys per tile: a widened tile fills kAttentionTileFloats, in whole 8-key steps.
  const int64_t key_tile = std::clamp<int64_t>(kAttentionTileFloats / hd / 8 * 8, 8, kAttentionMaxKeyTile);
  alignas(64) float k_tile[kAttentionTileFloats];
  alignas(64) float v_tile[kAttentionTileFloats];
  alignas(64) float scores[kAttentionMaxLanes * kAttentionMaxKeyTile] = {};  // [lane][key_tile]
  alignas(64) float acc[kAttentionMaxLanes * kMaxAttentionHeadDim];            // [lane][hd]
  float running_max[kAttentionMaxLanes], running_sum[kAttentionMaxLanes], rescale[kAttentionMaxLanes];
  int64_t valid_begin[kAttentionMaxLanes], valid_end[kAttentionMaxLanes];
  const float* q_lane[kAttentionMaxLanes];
  float* out_lane[kAttentionMaxLanes];
  int64_t lane_row[kAttentionMaxLanes];  // query row of each lane

  for (int64_t g = a.kv_head_begin; g < kv_end; ++g) {
    for (int64_t h0 = g * group; h0 < (g + 1) * group; h0 += kAttentionMaxLanes) {
      const int64_t heads = std::min<int64_t>(kAttentionMaxLanes, (g + 1) * group - h0);
      const int64_t rows_per_block = std::max<int64_t>(1, kAttentionMaxLanes / heads);
      for (int64_t i0 = 0; i0 < a.m; i0 += rows_per_block) {
        const int64_t rows = std::min(rows_per_block, a.m - i0);
        const int lanes = static_cast<int>(rows * heads);
        for (int l = 0; l < lanes; ++l) {
          const int64_t i = i0 + l / heads, h = h0 + l % heads;
          q_lane[l] = q + (i * a.n_heads + h) * hd;  // q: [m][n_heads][hd]
          out_lane[l] = out + (i * a.n_heads + h) * hd;
          lane_row[l] = i;
          running_max[l] = -std::numeric_limits<float>::infinity();
          running_sum[l] = 0.0f;
          std::fill(acc + l * hd, acc + (l + 1) * hd, 0.0f);
        }
        const int64_t first = FirstKey(a.pos0 + i0, a.window), last = a.pos0 + i0 + rows - 1;
        for (int64_t j0 = first, j1 = 0; j0 <= last; j0 = j1) {
          j1 = std::min(last + 1, j0 + key_tile);
          int64_t row0 = j0;
          if (kv.ring_rows > 0) {  // keep the tile's rows contiguous: stop at the ring's end
            row0 = j0 % kv.ring_rows;
            j1 = std::min(j1, j0 + (kv.ring_rows - row0));
          }
          const int64_t n = j1 - j0;
          const float* k = k_tile;
          const float* v = v_tile;
          int64_t kv_stride = hd;
          if (kv.format == KvFormat::kF32) {
            k = static_cast<const float*>(kv.k) + row0 * kv.row_stride + g * hd;
            v = static_cast<const float*>(kv.v) + row0 * kv.row_stride + g * hd;
            kv_stride = kv.row_stride;
          } else {
            ops.load_rows(kv, false, row0, n, g, hd, k_tile);
          }
          ops.scores(q_lane, lanes, k, kv_stride, n, hd, scores, key_tile);
          for (int l = 0; l < lanes; ++l) {  // the causal limit and window of the lane's row, in tile terms
            const int64_t p = a.pos0 + lane_row[l];
            valid_begin[l] = std::clamp<int64_t>(FirstKey(p, a.window) - j0, 0, n);
            valid_end[l] = std::clamp<int64_t>(p + 1 - j0, 0, n);
          }
          ops.softmax(scores, key_tile, lanes, n, valid_begin, valid_end, a.scale, a.soft_cap, running_max,
                      running_sum, rescale);
          if (kv.format != KvFormat::kF32) ops.load_rows(kv, true, row0, n, g, hd, v_tile);
          ops.accumulate(scores, key_tile, lanes, v, kv_stride, n, hd, rescale, acc);
        }
        for (int l = 0; l < lanes; ++l) {  // every row sees at least its own key: sum >= 1
          const float inv = 1.0f / running_sum[l];
          for (int64_t d = 0; d < hd; ++d) out_lane[l][d] = acc[l * hd + d] * inv;
        }
      }
    }
  }
}

}  // namespace kernels
}  // namespace kite
