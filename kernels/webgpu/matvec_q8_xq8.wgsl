// y[t][row] (+)= wscale[row] * sum_b xs[t][b] * sum_{j in block b} q8[row][j] * xq[t][j]   (+ bias[row])
// The CPU's quantized product (kernels/ref/gemm_ref.cc qs8_qd8_gemm): int8 weights
// (kernels/quant_formats.h Q8) times int8 activations from quantize_q8.wgsl, exact integer
// dot products of 4 (dot4I8Packed), scaled per 32-column block and accumulated in f32.
// The CPU adds the integer products of a whole block before scaling; here each word's
// product of 4 is scaled, which differs only by f32 rounding of the partial sums.
// Columns past K are zero in both operands, so whole blocks are read.
// Work split and dispatch as matvec_q8.wgsl.

@group(0) @binding(0) var<uniform> p: MatvecParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<f32>;
@group(0) @binding(4) var<storage, read> xq: array<u32>;
@group(0) @binding(5) var<storage, read> xs: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<storage, read> bias: array<f32>;

@compute @workgroup_size(WG)
fn main(ids: Ids) {
  let m = select(step.n_tokens, 1u, (p.flags & MV_ONE_TOKEN) != 0u);
  let row0 = (ids.wg.x + ids.wg.z * ids.nwg.x) * ROWS;
  let t0 = ids.wg.y * TOKENS;
  let blocks = (p.k + 31u) / 32u;
  let words = blocks * 8u;
  var acc: array<array<f32, TOKENS>, ROWS>;
  var row_base: array<u32, ROWS>;
  for (var r = 0u; r < ROWS; r = r + 1u) { row_base[r] = min(row0 + r, p.n_rows - 1u) * p.row_words; }
  var tok: array<u32, TOKENS>;
  for (var t = 0u; t < TOKENS; t = t + 1u) { tok[t] = min(t0 + t, m - 1u); }

  for (var wi = ids.lid; wi < words; wi = wi + WG) {
    var xw: array<u32, TOKENS>;
    var xsc: array<f32, TOKENS>;
    for (var t = 0u; t < TOKENS; t = t + 1u) {
      xw[t] = xq[tok[t] * words + wi];
      xsc[t] = xs[tok[t] * blocks + wi / 8u];
    }
    for (var r = 0u; r < ROWS; r = r + 1u) {
      let word = w[row_base[r] + wi];
      for (var t = 0u; t < TOKENS; t = t + 1u) {
        acc[r][t] = acc[r][t] + f32(dot4I8Packed(word, xw[t])) * xsc[t];
      }
    }
  }

  let total = wg_sum_tile(acc, ids);
  let row = row0 + ids.lid / TOKENS;
  let tk = t0 + ids.lid % TOKENS;
  if (ids.lid < ROWS * TOKENS && row < p.n_rows && tk < m) {
    var v = total * scales[row];
    if ((p.flags & MV_BIAS) != 0u) { v = v + bias[p.y_row_offset + row]; }
    let yi = tk * p.y_stride + p.y_row_offset + row;
    if ((p.flags & MV_ACCUMULATE) != 0u) { v = v + y[yi]; }
    y[yi] = v;
  }
}
