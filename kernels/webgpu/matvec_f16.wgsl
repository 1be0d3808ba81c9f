// y[t][row] (+)= sum_k W[row][k] * x[t][k]   (+ bias[row]);  W: f16 or bf16 [N][K]
// row-major, packed two per u32 (HALF_IS_BF16 selects the decoding, a generated
// constant). Decoded to f32 with unpack2x16float / a shift, so no shader-f16 is
// needed; accumulation is f32. When K is even a row starts on a word boundary and
// each invocation decodes whole words; odd K takes the per-element path.
// Same work split and dispatch as matvec_q8.wgsl.

@group(0) @binding(0) var<uniform> p: MatvecParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;

fn half_at(word: u32, e: u32) -> f32 {
  if (HALF_IS_BF16) { return bf16_at(word, e); }
  return f16_at(word, e);
}

@compute @workgroup_size(WG)
fn main(ids: Ids) {
  let m = select(step.n_tokens, 1u, (p.flags & MV_ONE_TOKEN) != 0u);
  let row0 = (ids.wg.x + ids.wg.z * ids.nwg.x) * ROWS;
  let t0 = ids.wg.y * TOKENS;
  var acc: array<array<f32, TOKENS>, ROWS>;
  var rows: array<u32, ROWS>;
  for (var r = 0u; r < ROWS; r = r + 1u) { rows[r] = min(row0 + r, p.n_rows - 1u); }
  var x_base: array<u32, TOKENS>;
  for (var t = 0u; t < TOKENS; t = t + 1u) { x_base[t] = min(t0 + t, m - 1u) * p.x_stride; }

  if (p.k % 2u == 0u) {
    let words = p.k / 2u;
    for (var wi = ids.lid; wi < words; wi = wi + WG) {
      var xv: array<vec2<f32>, TOKENS>;
      for (var t = 0u; t < TOKENS; t = t + 1u) { xv[t] = vec2<f32>(x[x_base[t] + 2u * wi], x[x_base[t] + 2u * wi + 1u]); }
      for (var r = 0u; r < ROWS; r = r + 1u) {
        let word = w[rows[r] * words + wi];
        let wv = vec2<f32>(half_at(word, 0u), half_at(word, 1u));
        for (var t = 0u; t < TOKENS; t = t + 1u) { acc[r][t] = acc[r][t] + dot(wv, xv[t]); }
      }
    }
  } else {
    for (var c = ids.lid; c < p.k; c = c + WG) {
      var xv: array<f32, TOKENS>;
      for (var t = 0u; t < TOKENS; t = t + 1u) { xv[t] = x[x_base[t] + c]; }
      for (var r = 0u; r < ROWS; r = r + 1u) {
        let e = rows[r] * p.k + c;
        let wv = half_at(w[e / 2u], e);
        for (var t = 0u; t < TOKENS; t = t + 1u) { acc[r][t] = acc[r][t] + wv * xv[t]; }
      }
    }
  }

  let total = wg_sum_tile(acc, ids);
  let row = row0 + ids.lid / TOKENS;
  let tok = t0 + ids.lid % TOKENS;
  if (ids.lid < ROWS * TOKENS && row < p.n_rows && tok < m) {
    var v = total;
    if ((p.flags & MV_BIAS) != 0u) { v = v + bias[p.y_row_offset + row]; }
    let yi = tok * p.y_stride + p.y_row_offset + row;
    if ((p.flags & MV_ACCUMULATE) != 0u) { v = v + y[yi]; }
    y[yi] = v;
  }
}
