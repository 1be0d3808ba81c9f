// Activation quantization to the CPU's Q8 activation layout (kernels/quant_formats.h,
// kernels/ref/gemm_ref.cc f32_qd8_quantize__scalar), so that quantized weights see the
// same int8 activations on the GPU as on the CPU:
//   per 32-column block: amax = max|x|; scale = amax / 127; q = round(x * (127 / amax)),
//   ties to even (WGSL round); amax < 1e-30 (or NaN) -> scale 0, codes 0. Columns K..K_pad
//   are zero codes.
// x: [n_tokens][k] f32; xq: [n_tokens][K_pad / 4] u32 (4 codes per word, little-endian);
// xs: [n_tokens][K_pad / 32] f32. One invocation per block.
// WGSL's f32 division may be off by 2.5 ULP (SwiftShader's is, by one, on some blocks),
// and an inv one ULP off moves x * inv across a rounding boundary about once per 10^5
// codes: enough to change a small model's logits at 1e-5 NMSE. So both quotients are
// made correctly rounded (div_rn) and the bytes equal the CPU's.
// Dispatch: x = ceil(blocks * tokens / WG) (tokens = 1 with QUANT_ONE_TOKEN).

struct QuantParams {
  k: u32,
  flags: u32,
  pad0: u32,
  pad1: u32,
}
const QUANT_ONE_TOKEN: u32 = 1u;  // token row 0 only

@group(0) @binding(0) var<uniform> p: QuantParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> xq: array<u32>;
@group(0) @binding(4) var<storage, read_write> xs: array<f32>;

// Rounding error of the f32 product p = a * b (a * b - p exactly, Dekker's TwoProduct with
// Veltkamp splitting; needs no fma, and a, b < 2^115 so the split does not overflow).
fn product_error(a: f32, b: f32, p: f32) -> f32 {
  let ca = 4097.0 * a;
  let ah = ca - (ca - a);
  let al = a - ah;
  let cb = 4097.0 * b;
  let bh = cb - (cb - b);
  let bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

// n / d correctly rounded for positive finite n, d: among the quotient WGSL gives and its
// neighbours within 3 ULP, the one whose product with d is nearest n (exact residuals).
fn div_rn(n: f32, d: f32) -> f32 {
  let q0 = n / d;
  if (!(q0 < 1e30) || !(d < 1e30)) { return q0; }
  var best = q0;
  var best_res = 3.402823e38;
  for (var k = -3; k <= 3; k = k + 1) {
    let q = bitcast<f32>(bitcast<u32>(q0) + bitcast<u32>(k));
    let p = q * d;
    let res = abs((p - n) + product_error(q, d, p));
    if (res < best_res) { best = q; best_res = res; }
  }
  return best;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let blocks = (p.k + 31u) / 32u;
  let m = select(step.n_tokens, 1u, (p.flags & QUANT_ONE_TOKEN) != 0u);
  if (gid.x >= blocks * m) { return; }
  let t = gid.x / blocks;
  let b = gid.x % blocks;
  let c0 = b * 32u;
  let count = min(32u, p.k - c0);
  let src = t * p.k + c0;
  var amax = 0.0;
  for (var j = 0u; j < count; j = j + 1u) { amax = max(amax, abs(x[src + j])); }
  let out_word = t * blocks * 8u + b * 8u;
  if (!(amax >= 1e-30)) {
    xs[t * blocks + b] = 0.0;
    for (var i = 0u; i < 8u; i = i + 1u) { xq[out_word + i] = 0u; }
    return;
  }
  xs[t * blocks + b] = div_rn(amax, 127.0);
  let inv = div_rn(127.0, amax);
  for (var i = 0u; i < 8u; i = i + 1u) {
    var word = 0u;
    for (var j = 0u; j < 4u; j = j + 1u) {
      let c = i * 4u + j;
      var q = 0;
      if (c < count) { q = i32(round(x[src + c] * inv)); }
      word = word | ((bitcast<u32>(q) & 0xffu) << (8u * j));
    }
    xq[out_word + i] = word;
  }
}
