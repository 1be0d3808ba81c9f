// A Llama-family forward pass in f64 JavaScript over exact weight values, one token at a
// time with its own KV cache: the definition runtime/model/llama_model.cc implements,
// written out plainly for the whole-model parity suite.

import * as ref from './reference.js';

export class ReferenceLlama {
  /**
   * @param cfg normalized config; @param w {name -> Float64Array values}
   * @param quantized optional {name -> {rows, cols, codes, blockScale}} of q8/q4 weights: their products
   *   then quantize activations like the CPU kernels (ref.matvecQ8Activations)
   * @param kvHalf  store K and V rounded to f16 (round-to-nearest-even), as an f16 KV cache does
   */
  constructor(cfg, w, quantized = null, { kvHalf = false } = {}) {
    this.cfg = cfg;
    this.w = w;
    this.quantized = quantized;
    this.kvHalf = kvHalf;
    this.k = [];
    this.v = [];
    for (let l = 0; l < cfg.num_layers; ++l) { this.k.push([]); this.v.push([]); }
    this.inv = ref.invFreq(cfg.rope_theta, cfg.head_dim);
  }

  mv(name, x, rows, cols) {
    const q = this.quantized && this.quantized[name];
    if (q) return ref.matvecQ8Activations(q, Float32Array.from(x), 1);
    return ref.matvec(this.w[name], rows, cols, x, 1);
  }

  addBias(y, name) {
    const b = this.w[name];
    if (b) for (let i = 0; i < y.length; ++i) y[i] += b[i];
  }

  /** Logits of token id at position pos (positions must come in order 0, 1, 2, ...). */
  step(id, pos) {
    const c = this.cfg, w = this.w;
    const D = c.hidden_size, H = c.num_heads, KV = c.num_kv_heads, hd = c.head_dim, F = c.intermediate_size, V = c.vocab_size;
    const x = Float64Array.from(w['model.embed_tokens.weight'].subarray(id * D, id * D + D));
    for (let l = 0; l < c.num_layers; ++l) {
      const p = `model.layers.${l}.`;
      const xn = ref.rmsnorm(x, w[`${p}input_layernorm.weight`], D, 1, c.norm_eps);
      let q = this.mv(`${p}self_attn.q_proj.weight`, xn, H * hd, D);
      let k = this.mv(`${p}self_attn.k_proj.weight`, xn, KV * hd, D);
      const v = this.mv(`${p}self_attn.v_proj.weight`, xn, KV * hd, D);
      this.addBias(q, `${p}self_attn.q_proj.bias`);
      this.addBias(k, `${p}self_attn.k_proj.bias`);
      this.addBias(v, `${p}self_attn.v_proj.bias`);
      if (w[`${p}self_attn.q_norm.weight`]) {
        q = ref.rmsnorm(q, w[`${p}self_attn.q_norm.weight`], hd, H, c.norm_eps);
        k = ref.rmsnorm(k, w[`${p}self_attn.k_norm.weight`], hd, KV, c.norm_eps);
      }
      q = ref.rope(q, 1, H, hd, pos, this.inv);
      k = ref.rope(k, 1, KV, hd, pos, this.inv);
      this.k[l][pos] = this.kvHalf ? Float64Array.from(Float16Array.from(k)) : k;
      this.v[l][pos] = this.kvHalf ? Float64Array.from(Float16Array.from(v)) : v;
      const kCache = new Float64Array((pos + 1) * KV * hd), vCache = new Float64Array((pos + 1) * KV * hd);
      for (let j = 0; j <= pos; ++j) { kCache.set(this.k[l][j], j * KV * hd); vCache.set(this.v[l][j], j * KV * hd); }
      const window = c.sliding_layers[l] ? c.sliding_window : 0;
      const attn = ref.attention(q, kCache, vCache, 1, pos, H, KV, hd, window);
      const o = this.mv(`${p}self_attn.o_proj.weight`, attn, D, H * hd);
      this.addBias(o, `${p}self_attn.o_proj.bias`);
      for (let i = 0; i < D; ++i) x[i] += o[i];
      const xn2 = ref.rmsnorm(x, w[`${p}post_attention_layernorm.weight`], D, 1, c.norm_eps);
      const g = this.mv(`${p}mlp.gate_proj.weight`, xn2, F, D);
      const u = this.mv(`${p}mlp.up_proj.weight`, xn2, F, D);
      this.addBias(g, `${p}mlp.gate_proj.bias`);
      this.addBias(u, `${p}mlp.up_proj.bias`);
      const h = ref.siluMul(g, u);
      const d = this.mv(`${p}mlp.down_proj.weight`, h, D, F);
      this.addBias(d, `${p}mlp.down_proj.bias`);
      for (let i = 0; i < D; ++i) x[i] += d[i];
    }
    const xf = ref.rmsnorm(x, w['model.norm.weight'], D, 1, c.norm_eps);
    const head = c.tie_word_embeddings && !(this.quantized && this.quantized['lm_head.weight']) ? 'model.embed_tokens.weight' : 'lm_head.weight';
    return this.mv(head, xf, V, D);
  }
}
