// Random test data in Kite's stored layouts (kernels/quant_formats.h), built from the
// values up: each generator returns the stored bytes AND the exact values they encode,
// so references never decode with the code under test.

export function rng(seed) {
  // mulberry32: small, seeded, reproducible.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomFloats(rand, n, scale = 1) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; ++i) out[i] = (rand() * 2 - 1) * scale;
  return out;
}

function roundUp(x, m) { return Math.ceil(x / m) * m; }

/**
 * A random weight [rows, cols] stored as dtype.
 * @returns {{dtype, rows, cols, groupSize, data: Uint8Array, scales: Uint8Array|null, values: Float64Array}}
 *   values[r * cols + c] is the exact number the bytes encode.
 */
export function randomMatrix(rand, dtype, rows, cols, { groupSize = 0, scale = 1 } = {}) {
  const values = new Float64Array(rows * cols);
  if (dtype === 'f32') {
    const f = randomFloats(rand, rows * cols, scale);
    values.set(f);
    return { dtype, rows, cols, groupSize, data: new Uint8Array(f.buffer), scales: null, values };
  }
  if (dtype === 'f16') {
    const h = new Float16Array(rows * cols);  // Chromium has Float16Array: an independent f16 codec
    for (let i = 0; i < h.length; ++i) { h[i] = (rand() * 2 - 1) * scale; values[i] = h[i]; }
    return { dtype, rows, cols, groupSize, data: new Uint8Array(h.buffer), scales: null, values };
  }
  if (dtype === 'bf16') {
    const f = randomFloats(rand, rows * cols, scale);
    const u = new Uint32Array(f.buffer);
    const bits = new Uint16Array(rows * cols);
    for (let i = 0; i < bits.length; ++i) {
      bits[i] = u[i] >>> 16;
      u[i] &= 0xffff0000;
      values[i] = f[i];
    }
    return { dtype, rows, cols, groupSize, data: new Uint8Array(bits.buffer), scales: null, values };
  }
  if (dtype === 'q8') {
    const kPad = roundUp(cols, 32);
    const data = new Int8Array(rows * kPad);
    const s = new Float32Array(rows);
    const codes = new Int8Array(rows * cols);
    for (let r = 0; r < rows; ++r) {
      s[r] = (0.5 + rand()) * scale / 127;
      for (let c = 0; c < cols; ++c) {
        const q = Math.floor(rand() * 255) - 127;
        data[r * kPad + c] = q;
        codes[r * cols + c] = q;
        values[r * cols + c] = q * s[r];
      }
    }
    return { dtype, rows, cols, groupSize, data: new Uint8Array(data.buffer), scales: new Uint8Array(s.buffer), values,
      codes, blockScale: (r) => s[r] };
  }
  if (dtype === 'q4') {
    const kPad = roundUp(cols, groupSize);
    const groups = kPad / groupSize;
    const data = new Uint8Array(rows * kPad / 2).fill(0x88);  // code 8 = 0.0 in the padding
    const s = new Float16Array(rows * groups);
    const codes = new Int8Array(rows * cols);
    for (let r = 0; r < rows; ++r) {
      for (let g = 0; g < groups; ++g) s[r * groups + g] = (0.5 + rand()) * scale / 8;
      for (let c = 0; c < cols; ++c) {
        const q = Math.floor(rand() * 16) - 8;
        const block = Math.floor(c / 32), j = c % 32;
        const byte = r * kPad / 2 + block * 16 + (j % 16);
        if (j < 16) data[byte] = (data[byte] & 0xf0) | (q + 8);
        else data[byte] = (data[byte] & 0x0f) | ((q + 8) << 4);
        codes[r * cols + c] = q;
        values[r * cols + c] = q * s[r * groups + Math.floor(c / groupSize)];
      }
    }
    return { dtype, rows, cols, groupSize, data, scales: new Uint8Array(s.buffer), values,
      codes, blockScale: (r, b) => s[r * groups + Math.floor((b * 32) / groupSize)] };
  }
  throw new Error(`fixture dtype ${dtype}`);
}

/** Normalized mean squared error sum((a-b)^2) / sum(b^2) (llama.cpp test-backend-ops), b the reference. */
export function nmse(a, b) {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; ++i) { const d = a[i] - b[i]; num += d * d; den += b[i] * b[i]; }
  if (!Number.isFinite(num)) return Infinity;
  return den === 0 ? num : num / den;
}

export function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < b.length; ++i) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function argmax(a) {
  let best = 0;
  for (let i = 1; i < a.length; ++i) if (a[i] > a[best]) best = i;
  return best;
}
