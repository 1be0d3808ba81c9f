// Plain JavaScript references of every WebGPU op, in f64 (JS numbers), written from the
// op definitions in kernels/ref/transformer_ops.cc and runtime/model/llama_model.cc, not
// from the shaders. Weights come as exact values (fixtures.js).

/** y[t][r] = sum_c W[r][c] x[t][c] (+ bias[r]) (+ yIn[t][r]) */
export function matvec(values, rows, cols, x, m, { bias = null, yIn = null } = {}) {
  const y = new Float64Array(m * rows);
  for (let t = 0; t < m; ++t) {
    for (let r = 0; r < rows; ++r) {
      let s = 0;
      for (let c = 0; c < cols; ++c) s += values[r * cols + c] * x[t * cols + c];
      if (bias) s += bias[r];
      if (yIn) s += yIn[t * rows + r];
      y[t * rows + r] = s;
    }
  }
  return y;
}

/** Each row of n: x / sqrt(mean(x^2) + eps) * w */
export function rmsnorm(x, w, n, rows, eps) {
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; ++r) {
    let ss = 0;
    for (let i = 0; i < n; ++i) ss += x[r * n + i] ** 2;
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; ++i) y[r * n + i] = x[r * n + i] * inv * w[i];
  }
  return y;
}

/** HF default inverse frequencies, f32-rounded as the CPU's table stores them. */
export function invFreq(theta, hd) {
  const f = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; ++i) f[i] = 1 / Math.fround(theta) ** ((2 * i) / hd);
  return f;
}

/** Rotate-half RoPE of buf [m][heads][hd] for positions pos.. (default scaling). */
export function rope(buf, m, heads, hd, pos, inv) {
  const y = Float64Array.from(buf);
  const half = hd / 2;
  for (let t = 0; t < m; ++t) {
    for (let h = 0; h < heads; ++h) {
      const base = (t * heads + h) * hd;
      for (let i = 0; i < half; ++i) {
        const ang = (pos + t) * inv[i];
        const c = Math.cos(ang), s = Math.sin(ang);
        const a = buf[base + i], b = buf[base + half + i];
        y[base + i] = a * c - b * s;
        y[base + half + i] = b * c + a * s;
      }
    }
  }
  return y;
}

/**
 * Causal GQA attention for queries at positions pos..pos+m-1 over caches holding
 * positions 0..pos+m-1. q: [m][H][hd]; caches: [>= pos+m][KV][hd]. Scores are q.k * scale,
 * then softCap * tanh(score / softCap) when softCap > 0.
 */
export function attention(q, kCache, vCache, m, pos, H, KV, hd, window = 0, { scale = 1 / Math.sqrt(hd), softCap = 0 } = {}) {
  const out = new Float64Array(m * H * hd);
  const group = H / KV;
  for (let t = 0; t < m; ++t) {
    const qp = pos + t;
    const lo = window > 0 ? Math.max(0, qp - window + 1) : 0;
    for (let h = 0; h < H; ++h) {
      const kvh = Math.floor(h / group);
      const scores = [];
      for (let j = lo; j <= qp; ++j) {
        let s = 0;
        for (let d = 0; d < hd; ++d) s += q[(t * H + h) * hd + d] * kCache[(j * KV + kvh) * hd + d];
        const scaled = s * scale;
        scores.push(softCap > 0 ? softCap * Math.tanh(scaled / softCap) : scaled);
      }
      const mx = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - mx));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let d = 0; d < hd; ++d) {
        let acc = 0;
        for (let j = lo; j <= qp; ++j) acc += e[j - lo] * vCache[(j * KV + kvh) * hd + d];
        out[(t * H + h) * hd + d] = acc / sum;
      }
    }
  }
  return out;
}

export function siluMul(gate, up) {
  const y = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; ++i) y[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
  return y;
}

/** GeGLU: gelu_tanh(gate) * up, gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2 / pi) (g + 0.044715 g^3))). */
export function geluTanhMul(gate, up) {
  const y = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; ++i) {
    const g = gate[i];
    y[i] = 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g * g * g))) * up[i];
  }
  return y;
}

/** GPT-2's GELU (tanh approximation), elementwise. */
export function geluTanh(x) {
  return geluTanhMul(x, new Float64Array(x.length).fill(1));
}

/** Each row of n: (x - mean) / sqrt(var + eps) * w + b (two passes, like the CPU's). */
export function layerNorm(x, w, b, n, rows, eps) {
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; ++r) {
    let sum = 0;
    for (let i = 0; i < n; ++i) sum += x[r * n + i];
    const mean = sum / n;
    let ss = 0;
    for (let i = 0; i < n; ++i) ss += (x[r * n + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(ss / n + eps);
    for (let i = 0; i < n; ++i) y[r * n + i] = (x[r * n + i] - mean) * inv * w[i] + b[i];
  }
  return y;
}

/** Round half to even (std::nearbyint in the default rounding mode). */
function roundEven(v) {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The CPU's activation quantization (kernels/ref/gemm_ref.cc f32_qd8_quantize__scalar), f32 steps
 * rounded with Math.fround: codes [m][kPad] (Int8Array) and scales [m][kPad/32].
 */
export function quantizeQ8(x, m, k) {
  const kPad = Math.ceil(k / 32) * 32, blocks = kPad / 32;
  const codes = new Int8Array(m * kPad), scales = new Float32Array(m * blocks);
  for (let r = 0; r < m; ++r) {
    for (let b = 0; b < blocks; ++b) {
      const count = Math.min(32, k - b * 32);
      let amax = 0;
      for (let j = 0; j < count; ++j) amax = Math.max(amax, Math.abs(x[r * k + b * 32 + j]));
      if (!(amax >= 1e-30)) continue;
      scales[r * blocks + b] = Math.fround(amax / 127);
      const inv = Math.fround(127 / amax);
      for (let j = 0; j < count; ++j) codes[r * kPad + b * 32 + j] = roundEven(Math.fround(x[r * k + b * 32 + j] * inv));
    }
  }
  return { codes, scales, kPad, blocks };
}

/** The CPU's int8 x int8 product: y[t][r] = sum_b (int dot of block b) * wscale(r, b) * xs[t][b] (+ bias) (+ yIn). */
export function matvecQ8Activations(w, x, m, { bias = null, yIn = null } = {}) {
  const { rows, cols } = w;
  const { codes, scales, kPad, blocks } = quantizeQ8(x, m, cols);
  const y = new Float64Array(m * rows);
  for (let t = 0; t < m; ++t) {
    for (let r = 0; r < rows; ++r) {
      let acc = 0;
      for (let b = 0; b < blocks; ++b) {
        let dot = 0;
        for (let j = b * 32; j < Math.min(cols, b * 32 + 32); ++j) dot += w.codes[r * cols + j] * codes[t * kPad + j];
        acc += dot * w.blockScale(r, b) * scales[t * blocks + b];
      }
      if (bias) acc += bias[r];
      if (yIn) acc += yIn[t * rows + r];
      y[t * rows + r] = acc;
    }
  }
  return y;
}
