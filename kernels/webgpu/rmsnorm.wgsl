// dst[r][i] = src[r][i] / sqrt(mean_i(src[r]^2) + eps) * w[i]     for rows r of n floats.
// Serves the block norms (rows = tokens), Qwen3's per-head q/k norm (rows = tokens x
// heads, n = head_dim), the final norm of the last token only (NORM_LAST_TOKEN) and
// Gemma's norms of a block's output added to the residual stream (NORM_ACCUMULATE: dst +=).
// One workgroup per row; the sum of squares is f32 (the CPU reference uses f64:
// relative difference ~1e-7 for the row lengths models use).
// Dispatch: x = rows_per_token * n_tokens (or rows_per_token with NORM_LAST_TOKEN).

struct NormParams {
  n: u32,               // floats per row
  rows_per_token: u32,  // 1, or heads for the q/k norm
  flags: u32,
  eps: f32,
}
const NORM_LAST_TOKEN: u32 = 1u;  // read the batch's last token's rows, write rows from 0
const NORM_ACCUMULATE: u32 = 2u;  // dst += the normed row (dst must not be src)

@group(0) @binding(0) var<uniform> p: NormParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;

@compute @workgroup_size(WG)
fn main(ids: Ids) {
  let row = ids.wg.x;
  var src_row = row;
  if ((p.flags & NORM_LAST_TOKEN) != 0u) { src_row = (step.n_tokens - 1u) * p.rows_per_token + row; }
  let s = src_row * p.n;
  let d = row * p.n;
  var ss = 0.0;
  for (var i = ids.lid; i < p.n; i = i + WG) { let v = src[s + i]; ss = ss + v * v; }
  let total = wg_sum(ss, ids);
  let inv = 1.0 / sqrt(total / f32(p.n) + p.eps);
  let accumulate = (p.flags & NORM_ACCUMULATE) != 0u;
  for (var i = ids.lid; i < p.n; i = i + WG) {
    let v = src[s + i] * inv * w[i];
    dst[d + i] = select(v, dst[d + i] + v, accumulate);
  }
}
