// y[t][row] (+)= scale[row] * sum_k q8[row][k] * x[t][k]   (+ bias[row])
// Weights: kernels/quant_formats.h Q8 — int8 [N][K_pad] read as u32 words (four
// columns per word), f32 scale per row. Activations stay f32 (no activation
// quantization, unlike the CPU kernels): f32 accumulation throughout.
// Each workgroup computes ROWS rows for TOKENS tokens, so one read of a weight
// word serves TOKENS tokens (prefill) and one read of x serves ROWS rows.
// Dispatch: x * z = ceil(N / ROWS) row blocks (z when x would exceed 65535), y = ceil(M / TOKENS).

@group(0) @binding(0) var<uniform> p: MatvecParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;

@compute @workgroup_size(WG)
fn main(ids: Ids) {
  let m = select(step.n_tokens, 1u, (p.flags & MV_ONE_TOKEN) != 0u);
  let row0 = (ids.wg.x + ids.wg.z * ids.nwg.x) * ROWS;
  let t0 = ids.wg.y * TOKENS;
  var acc: array<array<f32, TOKENS>, ROWS>;
  // Out-of-range rows/tokens are clamped for the loads and dropped at the store,
  // so every invocation reaches the reductions (uniform control flow).
  var row_base: array<u32, ROWS>;
  for (var r = 0u; r < ROWS; r = r + 1u) { row_base[r] = min(row0 + r, p.n_rows - 1u) * p.row_words; }
  var x_base: array<u32, TOKENS>;
  for (var t = 0u; t < TOKENS; t = t + 1u) { x_base[t] = min(t0 + t, m - 1u) * p.x_stride; }

  let full_words = p.k / 4u;
  for (var wi = ids.lid; wi < full_words; wi = wi + WG) {
    var xv: array<vec4<f32>, TOKENS>;
    for (var t = 0u; t < TOKENS; t = t + 1u) {
      let b = x_base[t] + wi * 4u;
      xv[t] = vec4<f32>(x[b], x[b + 1u], x[b + 2u], x[b + 3u]);
    }
    for (var r = 0u; r < ROWS; r = r + 1u) {
      let word = w[row_base[r] + wi];
      let wv = vec4<f32>(i8_at(word, 0u), i8_at(word, 1u), i8_at(word, 2u), i8_at(word, 3u));
      for (var t = 0u; t < TOKENS; t = t + 1u) { acc[r][t] = acc[r][t] + dot(wv, xv[t]); }
    }
  }
  // The last K % 4 columns (never read x past K: it may hold the next token's row).
  if (ids.lid == 0u) {
    for (var c = full_words * 4u; c < p.k; c = c + 1u) {
      for (var r = 0u; r < ROWS; r = r + 1u) {
        let wq = i8_at(w[row_base[r] + c / 4u], c % 4u);
        for (var t = 0u; t < TOKENS; t = t + 1u) { acc[r][t] = acc[r][t] + wq * x[x_base[t] + c]; }
      }
    }
  }

  let total = wg_sum_tile(acc, ids);
  let row = row0 + ids.lid / TOKENS;
  let tok = t0 + ids.lid % TOKENS;
  if (ids.lid < ROWS * TOKENS && row < p.n_rows && tok < m) {
    var v = total * scales[row];
    if ((p.flags & MV_BIAS) != 0u) { v = v + bias[p.y_row_offset + row]; }
    let yi = tok * p.y_stride + p.y_row_offset + row;
    if ((p.flags & MV_ACCUMULATE) != 0u) { v = v + y[yi]; }
    y[yi] = v;
  }
}
