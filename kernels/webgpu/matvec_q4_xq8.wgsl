// y[t][row] (+)= sum_b wscale[row][32b / G] * xs[t][b] * sum_{j in block b} q4[row][j] * xq[t][j]   (+ bias[row])
// The CPU's quantized product (kernels/ref/gemm_ref.cc qs4_qd8_gemm): Q4 weights
// (kernels/quant_formats.h; codes stored as q + 8 in nibbles) times int8 activations from
// quantize_q8.wgsl. A weight word holds columns 4i..4i+3 (low nibbles) and 16+4i..19+4i
// (high nibbles) of its block; with the codes c = q + 8 in [0, 15] packed as bytes,
//   sum q * x = dot4I8Packed(c, x) - 8 * dot4I8Packed(0x01010101, x),
// exact in i32. Scaled per block by f16 weight scale (unpack2x16float) times the
// activation block scale, accumulated in f32.
// Only the activation's blocks are read (K_pad32 columns); a weight row padded to a
// larger group (G = 64, 128) has zero codes past them. Dispatch as matvec_q8.wgsl.

@group(0) @binding(0) var<uniform> p: MatvecParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read> xq: array<u32>;
@group(0) @binding(5) var<storage, read> xs: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<storage, read> bias: array<f32>;

fn q4_scale(row: u32, block: u32, group_size: u32) -> f32 {
  let s = row * p.groups_per_row + (block * 32u) / group_size;
  return f16_at(scales[s / 2u], s);
}

@compute @workgroup_size(WG)
fn main(ids: Ids) {
  let m = select(step.n_tokens, 1u, (p.flags & MV_ONE_TOKEN) != 0u);
  let row0 = (ids.wg.x + ids.wg.z * ids.nwg.x) * ROWS;
  let t0 = ids.wg.y * TOKENS;
  let group_size = (p.row_words * 8u) / p.groups_per_row;
  let blocks = (p.k + 31u) / 32u;
  let x_words = blocks * 8u;
  let w_words = blocks * 4u;
  var acc: array<array<f32, TOKENS>, ROWS>;
  var rows: array<u32, ROWS>;
  for (var r = 0u; r < ROWS; r = r + 1u) { rows[r] = min(row0 + r, p.n_rows - 1u); }
  var tok: array<u32, TOKENS>;
  for (var t = 0u; t < TOKENS; t = t + 1u) { tok[t] = min(t0 + t, m - 1u); }

  for (var wi = ids.lid; wi < w_words; wi = wi + WG) {
    let block = wi / 4u;
    let i = wi % 4u;
    var xlo: array<u32, TOKENS>;
    var xhi: array<u32, TOKENS>;
    var corr: array<i32, TOKENS>;
    var xsc: array<f32, TOKENS>;
    for (var t = 0u; t < TOKENS; t = t + 1u) {
      let xb = tok[t] * x_words + block * 8u;
      xlo[t] = xq[xb + i];
      xhi[t] = xq[xb + 4u + i];
      corr[t] = 8 * (dot4I8Packed(0x01010101u, xlo[t]) + dot4I8Packed(0x01010101u, xhi[t]));
      xsc[t] = xs[tok[t] * blocks + block];
    }
    for (var r = 0u; r < ROWS; r = r + 1u) {
      let word = w[rows[r] * p.row_words + wi];
      let s = q4_scale(rows[r], block, group_size);
      let lo = word & 0x0f0f0f0fu;
      let hi = (word >> 4u) & 0x0f0f0f0fu;
      for (var t = 0u; t < TOKENS; t = t + 1u) {
        let d = dot4I8Packed(lo, xlo[t]) + dot4I8Packed(hi, xhi[t]) - corr[t];
        acc[r][t] = acc[r][t] + f32(d) * (s * xsc[t]);
      }
    }
  }

  let total = wg_sum_tile(acc, ids);
  let row = row0 + ids.lid / TOKENS;
  let tk = t0 + ids.lid % TOKENS;
  if (ids.lid < ROWS * TOKENS && row < p.n_rows && tk < m) {
    var v = total;
    if ((p.flags & MV_BIAS) != 0u) { v = v + bias[p.y_row_offset + row]; }
    let yi = tk * p.y_stride + p.y_row_offset + row;
    if ((p.flags & MV_ACCUMULATE) != 0u) { v = v + y[yi]; }
    y[yi] = v;
  }
}
