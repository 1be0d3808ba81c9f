// Rotary cos/sin tables computed on the host, the way runtime/model/rope.cc does:
// inverse frequencies in f64 (then stored as f32), per-position angles in f64, results
// rounded to f32. The GPU only applies the rotation (kernels/webgpu/rope.wgsl), so
// every scaling type costs the same and matches the CPU's table.

function yarnMscale(scale, mscale) {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

/**
 * @param config  the engine's config (rope_theta, rope_scaling{type, factor, ...}, max_position_embeddings)
 * @param rotaryDim  head_dim for the Llama family
 * @returns {{invFreq: Float32Array, attentionScaling: number}}
 */
export function makeRopeTable(config, rotaryDim) {
  if (!(rotaryDim > 0) || rotaryDim % 2) throw new Error('rotary dimension must be even and positive');
  const theta = Math.fround(config.rope_theta ?? 10000);
  const s = config.rope_scaling || {};
  const half = rotaryDim / 2;
  const freq = new Float64Array(half);
  for (let i = 0; i < half; ++i) freq[i] = 1 / theta ** ((2 * i) / rotaryDim);
  let attentionScaling = 1;
  const type = s.type || 'default';
  if (type === 'default') {
    // nothing
  } else if (type === 'linear') {
    if (!(s.factor > 0)) throw new Error('rope_scaling.factor must be positive');
    for (let i = 0; i < half; ++i) freq[i] /= Math.fround(s.factor);
  } else if (type === 'llama3') {
    const factor = Math.fround(s.factor), low = Math.fround(s.low_freq_factor ?? 1), high = Math.fround(s.high_freq_factor ?? 4);
    const oldLen = s.original_max_position_embeddings;
    if (!(factor > 0) || !(oldLen > 0) || !(high > low)) throw new Error('rope_scaling (llama3) has invalid fields');
    const lowWavelen = oldLen / low, highWavelen = oldLen / high;
    for (let i = 0; i < half; ++i) {
      const f = freq[i];
      const wavelen = (2 * Math.PI) / f;
      let scaled = wavelen > lowWavelen ? f / factor : f;
      const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
      if (medium) {
        const smooth = (oldLen / wavelen - low) / (high - low);
        scaled = ((1 - smooth) * scaled) / factor + smooth * scaled;
      }
      freq[i] = scaled;
    }
  } else if (type === 'yarn') {
    const factor = Math.fround(s.factor);
    const oldLen = s.original_max_position_embeddings > 0 ? s.original_max_position_embeddings : config.max_position_embeddings;
    if (!(factor > 0) || !(oldLen > 0)) throw new Error('rope_scaling (yarn) has invalid fields');
    const correctionDim = (rot) => (rotaryDim * Math.log(oldLen / (rot * 2 * Math.PI))) / (2 * Math.log(theta));
    let low = Math.floor(correctionDim(Math.fround(s.beta_fast ?? 32)));
    let high = Math.ceil(correctionDim(Math.fround(s.beta_slow ?? 1)));
    low = Math.max(low, 0);
    high = Math.min(high, rotaryDim - 1);
    if (low === high) high += 0.001;
    for (let i = 0; i < half; ++i) {
      const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
      const extrapolation = 1 - ramp;
      freq[i] = (freq[i] / factor) * (1 - extrapolation) + freq[i] * extrapolation;
    }
    if (s.attention_factor > 0) attentionScaling = Math.fround(s.attention_factor);
    else if (s.mscale_all_dim > 0) attentionScaling = Math.fround(yarnMscale(factor, Math.fround(s.mscale ?? 1)) / yarnMscale(factor, Math.fround(s.mscale_all_dim)));
    else attentionScaling = Math.fround(yarnMscale(factor, 1));
  } else {
    throw new Error(`WebGPU: rope_scaling type '${type}' is not supported (default, linear, llama3, yarn)`);
  }
  return { invFreq: Float32Array.from(freq), attentionScaling };
}

/** Writes [n][cos hd/2 | sin hd/2] for positions pos..pos+n-1 into out. */
export function fillCosSin(table, pos, n, out) {
  const half = table.invFreq.length;
  for (let t = 0; t < n; ++t) {
    for (let i = 0; i < half; ++i) {
      const angle = (pos + t) * table.invFreq[i];
      out[t * 2 * half + i] = Math.cos(angle) * table.attentionScaling;
      out[t * 2 * half + half + i] = Math.sin(angle) * table.attentionScaling;
    }
  }
  return out;
}
