// Decodes the tensors of a wasm engine's heap (kite_wasm_engine_info_json layout) into exact
// values for the JavaScript reference, independently of web/src/webgpu's decoders.

/** Exact values (and q8/q4 codes) of every tensor in the engine's heap, decoded here from the layout. */
export function weightsFromHeap(M, info, quantizedActivations, names = null) {
  const values = {}, quantized = {};
  const dv = new DataView(M.HEAPU8.buffer);
  for (const t of info.tensors) {
    if (names && !names(t.name)) continue;
    const [rows, cols] = t.shape.length === 2 ? t.shape : [1, t.shape[0]];
    const v = new Float64Array(rows * cols);
    if (t.dtype === 'f32') {
      for (let i = 0; i < v.length; ++i) v[i] = dv.getFloat32(t.ptr + 4 * i, true);
    } else if (t.dtype === 'f16' || t.dtype === 'bf16') {
      const h = new Uint16Array(M.HEAPU8.buffer.slice(t.ptr, t.ptr + 2 * v.length));
      if (t.dtype === 'f16') v.set(new Float16Array(h.buffer));
      else for (let i = 0; i < v.length; ++i) v[i] = new Float32Array(new Uint32Array([h[i] << 16]).buffer)[0];
    } else if (t.dtype === 'q8' || t.dtype === 'q4') {
      const codes = new Int8Array(rows * cols);
      const G = t.group_size, kPad = t.dtype === 'q8' ? Math.ceil(cols / 32) * 32 : Math.ceil(cols / G) * G;
      const groups = kPad / G;
      for (let r = 0; r < rows; ++r) {
        for (let c = 0; c < cols; ++c) {
          if (t.dtype === 'q8') codes[r * cols + c] = dv.getInt8(t.ptr + r * kPad + c);
          else {
            const byte = dv.getUint8(t.ptr + r * kPad / 2 + Math.floor(c / 32) * 16 + (c % 16));
            codes[r * cols + c] = ((c % 32) < 16 ? byte & 15 : byte >> 4) - 8;
          }
        }
      }
      const scale = t.dtype === 'q8'
        ? (r) => dv.getFloat32(t.scales_ptr + 4 * r, true)
        : (r, b) => new Float16Array(M.HEAPU8.buffer.slice(t.scales_ptr + 2 * (r * groups + Math.floor(b * 32 / G)), t.scales_ptr + 2 * (r * groups + Math.floor(b * 32 / G)) + 2))[0];
      for (let r = 0; r < rows; ++r) for (let c = 0; c < cols; ++c) v[r * cols + c] = codes[r * cols + c] * (t.dtype === 'q8' ? scale(r) : scale(r, Math.floor(c / 32)));
      quantized[t.name] = { rows, cols, codes, blockScale: scale };
    }
    values[t.name] = v;
  }
  // The embedding is a lookup (decoded row), never a product with quantized activations —
  // except as the tied output head, which the reference reads under lm_head's name.
  if (info.config.tie_word_embeddings && quantized['model.embed_tokens.weight']) quantized['lm_head.weight'] = quantized['model.embed_tokens.weight'];
  return { values, quantized: quantizedActivations ? quantized : null };
}

