// Weight layouts (kernels/quant_formats.h), their upload into GPU storage buffers, and
// host-side dequantization of single rows (the embedding lookup).
//
// A matrix [rows = out, cols = in] becomes one or more row "parts", each in buffers of
// its own, so that no binding exceeds the device's maxStorageBufferBindingSize.

export const DTYPES = ['f32', 'f16', 'bf16', 'q8', 'q4'];
export const QUANT_BLOCK = 32;

export function roundUp(x, m) { return Math.ceil(x / m) * m; }

/** Bytes of one stored row of data and of scales. */
export function rowBytes(dtype, cols, groupSize) {
  switch (dtype) {
    case 'f32': return { data: 4 * cols, scales: 0 };
    case 'f16': case 'bf16': return { data: 2 * cols, scales: 0 };
    case 'q8': return { data: roundUp(cols, QUANT_BLOCK), scales: 4 };
    case 'q4': {
      if (![32, 64, 128].includes(groupSize)) throw new Error(`q4 group_size must be 32, 64 or 128, got ${groupSize}`);
      const padded = roundUp(cols, groupSize);
      return { data: padded / 2, scales: 2 * (padded / groupSize) };
    }
    default: throw new Error(`unsupported weight dtype '${dtype}'`);
  }
}

/** A storage buffer holding a copy of bytes (padded to a multiple of 4). */
export function storageBufferFrom(device, bytes, label) {
  const size = Math.max(16, roundUp(bytes.byteLength, 4));
  const buffer = device.createBuffer({ label, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(bytes);
  buffer.unmap();
  return buffer;
}

/**
 * Uploads a matrix. data / scales: Uint8Array views of the stored bytes (e.g. into the wasm heap).
 * @returns {{dtype, rows, cols, groupSize, parts: {rowOffset, rows, data: GPUBuffer, scales: GPUBuffer|null}[], bytes}}
 */
export function uploadMatrix(device, { name, dtype, rows, cols, groupSize = 0, data, scales = null }, maxBindingBytes) {
  const rb = rowBytes(dtype, cols, groupSize);
  if (data.byteLength < rb.data * rows) throw new Error(`tensor '${name}': ${data.byteLength} data bytes, expected ${rb.data * rows}`);
  if (rb.scales && (!scales || scales.byteLength < rb.scales * rows)) {
    throw new Error(`tensor '${name}': ${scales ? scales.byteLength : 0} scale bytes, expected ${rb.scales * rows}`);
  }
  let rowsPerPart = Math.max(1, Math.floor(maxBindingBytes / Math.max(rb.data, rb.scales, 1)));
  // Odd-width halves: a part must start on a word boundary, so its first element must be even.
  if ((dtype === 'f16' || dtype === 'bf16') && cols % 2 === 1 && rowsPerPart > 1) rowsPerPart -= rowsPerPart % 2;
  const parts = [];
  for (let r0 = 0; r0 < rows; r0 += rowsPerPart) {
    const n = Math.min(rowsPerPart, rows - r0);
    parts.push({
      rowOffset: r0,
      rows: n,
      data: storageBufferFrom(device, data.subarray(r0 * rb.data, (r0 + n) * rb.data), `${name}[${r0}:]`),
      scales: rb.scales ? storageBufferFrom(device, scales.subarray(r0 * rb.scales, (r0 + n) * rb.scales), `${name}.scales[${r0}:]`) : null,
    });
  }
  return { name, dtype, rows, cols, groupSize, parts, bytes: rows * (rb.data + rb.scales) };
}

// ---- host-side decoding -------------------------------------------------------------------

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half bits -> number. */
export function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** bf16 bits -> number. */
export function bf16ToFloat(h) {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0];
}

/**
 * Decodes row `row` of a stored matrix into out (Float32Array of cols), as the CPU's
 * DequantizeRow does. data / scales: Uint8Array views of the whole tensor.
 */
export function dequantizeRow(dtype, data, scales, cols, groupSize, row, out) {
  const rb = rowBytes(dtype, cols, groupSize);
  const base = data.byteOffset + row * rb.data;
  const dv = new DataView(data.buffer);
  switch (dtype) {
    case 'f32':
      for (let i = 0; i < cols; ++i) out[i] = dv.getFloat32(base + 4 * i, true);
      break;
    case 'f16':
      for (let i = 0; i < cols; ++i) out[i] = halfToFloat(dv.getUint16(base + 2 * i, true));
      break;
    case 'bf16':
      for (let i = 0; i < cols; ++i) out[i] = bf16ToFloat(dv.getUint16(base + 2 * i, true));
      break;
    case 'q8': {
      const s = new DataView(scales.buffer).getFloat32(scales.byteOffset + 4 * row, true);
      for (let i = 0; i < cols; ++i) out[i] = Math.fround(dv.getInt8(base + i) * s);
      break;
    }
    case 'q4': {
      const groups = rb.scales / 2;
      const sv = new DataView(scales.buffer);
      for (let i = 0; i < cols; ++i) {
        const block = Math.floor(i / 32), j = i % 32;
        const byte = dv.getUint8(base + block * 16 + (j % 16));
        const q = (j < 16 ? byte & 15 : byte >> 4) - 8;
        const s = halfToFloat(sv.getUint16(scales.byteOffset + 2 * (row * groups + Math.floor(i / groupSize)), true));
        out[i] = Math.fround(q * s);
      }
      break;
    }
    default: throw new Error(`unsupported dtype '${dtype}'`);
  }
  return out;
}
