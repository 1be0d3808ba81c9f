// y[t][row] (+)= sum_k scale[row][k / G] * q4[row][k] * x[t][k]   (+ bias[row])
// Weights: kernels/quant_formats.h Q4 — each 32-column block of a row is 16 bytes
// = 4 u32 words; byte j of the block holds column j (low nibble) and column j + 16
// (high nibble), stored as q + 8. Scales: one f16 per group of G in {32, 64, 128}
// columns, [N][groups_per_row], packed two per u32 and decoded with
// unpack2x16float (no shader-f16 needed). Activations and accumulation are f32.
// Invocation work item: one word = 8 columns (4 low, 4 high) of one block.
// Dispatch as matvec_q8.wgsl.

@group(0) @binding(0) var<uniform> p: MatvecParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;

fn q4_scale(row: u32, block: u32, group_size: u32) -> f32 {
  let s = row * p.groups_per_row + (block * 32u) / group_size;
  return f16_at(scales[s / 2u], s);
}

// Codes of the 4 low-nibble (cols 4i..4i+3) and 4 high-nibble (cols 16+4i..) columns of a word.
fn q4_lo(word: u32) -> vec4<f32> {
  return vec4<f32>(f32(extractBits(word, 0u, 4u)), f32(extractBits(word, 8u, 4u)),
                   f32(extractBits(word, 16u, 4u)), f32(extractBits(word, 24u, 4u))) - vec4<f32>(8.0);
}
fn q4_hi(word: u32) -> vec4<f32> {
  return vec4<f32>(f32(extractBits(word, 4u, 4u)), f32(extractBits(word, 12u, 4u)),
                   f32(extractBits(word, 20u, 4u)), f32(extractBits(word, 28u, 4u))) - vec4<f32>(8.0);
}

@compute @workgroup_size(WG)
fn main(ids: Ids) {
  let m = select(step.n_tokens, 1u, (p.flags & MV_ONE_TOKEN) != 0u);
  let row0 = (ids.wg.x + ids.wg.z * ids.nwg.x) * ROWS;
  let t0 = ids.wg.y * TOKENS;
  let group_size = (p.row_words * 8u) / p.groups_per_row;  // K_pad / groups
  var acc: array<array<f32, TOKENS>, ROWS>;
  var rows: array<u32, ROWS>;
  for (var r = 0u; r < ROWS; r = r + 1u) { rows[r] = min(row0 + r, p.n_rows - 1u); }
  var x_base: array<u32, TOKENS>;
  for (var t = 0u; t < TOKENS; t = t + 1u) { x_base[t] = min(t0 + t, m - 1u) * p.x_stride; }

  // Whole blocks: every column < K.
  let full_words = (p.k / 32u) * 4u;
  for (var wi = ids.lid; wi < full_words; wi = wi + WG) {
    let block = wi / 4u;
    let lo_col = block * 32u + (wi % 4u) * 4u;
    var xlo: array<vec4<f32>, TOKENS>;
    var xhi: array<vec4<f32>, TOKENS>;
    for (var t = 0u; t < TOKENS; t = t + 1u) {
      let b = x_base[t] + lo_col;
      xlo[t] = vec4<f32>(x[b], x[b + 1u], x[b + 2u], x[b + 3u]);
      xhi[t] = vec4<f32>(x[b + 16u], x[b + 17u], x[b + 18u], x[b + 19u]);
    }
    for (var r = 0u; r < ROWS; r = r + 1u) {
      let word = w[rows[r] * p.row_words + wi];
      let s = q4_scale(rows[r], block, group_size);
      let wl = q4_lo(word);
      let wh = q4_hi(word);
      for (var t = 0u; t < TOKENS; t = t + 1u) {
        acc[r][t] = acc[r][t] + s * (dot(wl, xlo[t]) + dot(wh, xhi[t]));
      }
    }
  }
  // The partial last block (K % 32 != 0): columns >= K are padding (code 8 = 0.0),
  // and x is not read there.
  if (p.k % 32u != 0u && ids.lid < 4u) {
    let block = p.k / 32u;
    let wi = block * 4u + ids.lid;
    for (var r = 0u; r < ROWS; r = r + 1u) {
      let word = w[rows[r] * p.row_words + wi];
      let s = q4_scale(rows[r], block, group_size);
      let wl = q4_lo(word);
      let wh = q4_hi(word);
      for (var j = 0u; j < 4u; j = j + 1u) {
        let cl = block * 32u + ids.lid * 4u + j;
        let ch = cl + 16u;
        for (var t = 0u; t < TOKENS; t = t + 1u) {
          if (cl < p.k) { acc[r][t] = acc[r][t] + s * wl[j] * x[x_base[t] + cl]; }
          if (ch < p.k) { acc[r][t] = acc[r][t] + s * wh[j] * x[x_base[t] + ch]; }
        }
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
