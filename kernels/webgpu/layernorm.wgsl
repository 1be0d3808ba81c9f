// dst[r][i] = (src[r][i] - mean) / sqrt(var + eps) * w[i] + b[i]   for rows r of n floats
// (GPT-2's LayerNorm). Two passes like the CPU's: the mean is subtracted before squaring, so
// nothing cancels; the CPU sums in f64, this in f32 (relative difference ~1e-7 at these widths).
// One workgroup per row; NORM_LAST_TOKEN: the batch's last token only (the final norm).
// Dispatch: x = n_tokens (or 1 with NORM_LAST_TOKEN).

struct NormParams {
  n: u32,      // floats per row
  pad0: u32,
  flags: u32,
  eps: f32,
}
const NORM_LAST_TOKEN: u32 = 1u;  // read the batch's last row, write row 0

@group(0) @binding(0) var<uniform> p: NormParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read> b: array<f32>;

@compute @workgroup_size(WG)
fn main(ids: Ids) {
  let row = ids.wg.x;
  var src_row = row;
  if ((p.flags & NORM_LAST_TOKEN) != 0u) { src_row = step.n_tokens - 1u; }
  let s = src_row * p.n;
  let d = row * p.n;
  var sum = 0.0;
  for (var i = ids.lid; i < p.n; i = i + WG) { sum = sum + src[s + i]; }
  let mean = wg_sum(sum, ids) / f32(p.n);
  var ss = 0.0;
  for (var i = ids.lid; i < p.n; i = i + WG) { let c = src[s + i] - mean; ss = ss + c * c; }
  let inv = 1.0 / sqrt(wg_sum(ss, ids) / f32(p.n) + p.eps);
  for (var i = ids.lid; i < p.n; i = i + WG) { dst[d + i] = (src[s + i] - mean) * inv * w[i] + b[i]; }
}
