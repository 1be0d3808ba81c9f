// The GPT-2 forward pass on WebGPU (GPT2LMHeadModel): the same graph as
// runtime/model/gpt2_model.cc, one compute pass per batch of tokens:
//
//   x = wte(ids) + wpe(positions)                  host: rows decoded from the heap, f32 sums
//   per layer l:
//     xn = LayerNorm(x; ln_1)
//     q, k, v = Wq xn + bq, Wk xn + bk, Wv xn + bv  (the converter split c_attn and transposed Conv1D)
//     K[l][pos..], V[l][pos..] = k, v
//     attn = softmax(q K^T * s) V                   s = query_pre_attn_scalar (or head_dim)^-1/2,
//                                                   / (l + 1) with scale_attn_by_inverse_layer_idx
//     x += Wo attn + bo
//     x += Wproj gelu_tanh(Wfc LayerNorm(x; ln_2) + bfc) + bproj
//   logits = lm_head LayerNorm(x[last]; ln_f)       (lm_head: wte unless untied)
//
// No RoPE: positions come from wpe, so the context cannot exceed max_position_embeddings.

import { ForwardGraph } from './forward_graph.js';
import { matrixSpec, vectorSpec } from './model.js';

export class Gpt2Graph extends ForwardGraph {
  /** @param o  ForwardGraph's options and `table` (model.js tensorTable) */
  constructor(o) {
    const c = o.cfg;
    if (o.contextTokens > c.max_position_embeddings) {
      throw new Error(`WebGPU: a context of ${o.contextTokens} tokens exceeds GPT-2's ${c.max_position_embeddings} learned positions`);
    }
    super(o);
    const { ops, table } = o;
    const D = c.hidden_size, V = c.vocab_size, F = c.intermediate_size, H = c.num_heads, hd = c.head_dim;

    const specs = [];
    this.embed = matrixSpec(table, 'wte.weight', V, D);
    this.positionEmbed = matrixSpec(table, 'wpe.weight', c.max_position_embeddings, D);
    const headSpec = c.tie_word_embeddings ? this.embed : matrixSpec(table, 'lm_head.weight', V, D);
    specs.push(headSpec);
    const layerSpecs = [];
    for (let l = 0; l < c.num_layers; ++l) {
      const p = `h.${l}.`;
      const L = {
        ln1w: vectorSpec(table, `${p}ln_1.weight`, D),
        ln1b: vectorSpec(table, `${p}ln_1.bias`, D),
        wq: matrixSpec(table, `${p}attn.q_proj.weight`, D, D),
        wk: matrixSpec(table, `${p}attn.k_proj.weight`, D, D),
        wv: matrixSpec(table, `${p}attn.v_proj.weight`, D, D),
        bq: vectorSpec(table, `${p}attn.q_proj.bias`, D),
        bk: vectorSpec(table, `${p}attn.k_proj.bias`, D),
        bv: vectorSpec(table, `${p}attn.v_proj.bias`, D),
        wo: matrixSpec(table, `${p}attn.c_proj.weight`, D, D),
        bo: vectorSpec(table, `${p}attn.c_proj.bias`, D),
        ln2w: vectorSpec(table, `${p}ln_2.weight`, D),
        ln2b: vectorSpec(table, `${p}ln_2.bias`, D),
        fc: matrixSpec(table, `${p}mlp.c_fc.weight`, F, D),
        bfc: vectorSpec(table, `${p}mlp.c_fc.bias`, F),
        proj: matrixSpec(table, `${p}mlp.c_proj.weight`, D, F),
        bproj: vectorSpec(table, `${p}mlp.c_proj.bias`, D),
      };
      for (const k of ['wq', 'wk', 'wv', 'wo', 'fc', 'proj']) specs.push(L[k]);
      layerSpecs.push(L);
    }
    const lnfw = vectorSpec(table, 'ln_f.weight', D), lnfb = vectorSpec(table, 'ln_f.bias', D);
    this.planUploads(specs);
    const vec = (t) => this.vector(t);
    const upload = (m) => this.upload(m);

    const scalar = c.query_pre_attn_scalar > 0 ? c.query_pre_attn_scalar : hd;
    const baseScale = Math.fround(1 / Math.fround(Math.sqrt(scalar)));
    const { x, xn, q, k, v, attn, gate, scores } = this;
    const eps = c.norm_eps;
    const add = (op) => this.program.push(op);
    for (let l = 0; l < c.num_layers; ++l) {
      const L = layerSpecs[l];
      const kCache = this.kvCache(`k_cache.${l}`);
      const vCache = this.kvCache(`v_cache.${l}`);
      add(ops.layerNorm(x, xn, vec(L.ln1w), vec(L.ln1b), { n: D, eps, label: `l${l}.ln_1` }));
      const qkvQuant = this.quantFor(xn, D, [L.wq, L.wk, L.wv], { label: `l${l}.quantize_qkv` });
      add(ops.matvec(upload(L.wq), xn, q, { bias: vec(L.bq), quant: qkvQuant }));
      add(ops.matvec(upload(L.wk), xn, k, { bias: vec(L.bk), quant: qkvQuant }));
      add(ops.matvec(upload(L.wv), xn, v, { bias: vec(L.bv), quant: qkvQuant }));
      add(ops.kvStore(k, v, kCache, vCache, { kvDim: D, label: `l${l}.kv_store` }));
      const scale = c.scale_attn_by_inverse_layer_idx ? Math.fround(baseScale / (l + 1)) : baseScale;
      add(ops.attention(q, kCache, vCache, scores, attn, { heads: H, kvHeads: H, headDim: hd, context: this.contextTokens,
        scale, label: `l${l}.attention` }));
      const oQuant = this.quantFor(attn, D, [L.wo], { label: `l${l}.quantize_o` });
      add(ops.matvec(upload(L.wo), attn, x, { bias: vec(L.bo), accumulate: true, quant: oQuant }));
      add(ops.layerNorm(x, xn, vec(L.ln2w), vec(L.ln2b), { n: D, eps, label: `l${l}.ln_2` }));
      const fcQuant = this.quantFor(xn, D, [L.fc], { label: `l${l}.quantize_fc` });
      add(ops.matvec(upload(L.fc), xn, gate, { bias: vec(L.bfc), quant: fcQuant }));
      add(ops.geluTanh(gate, { n: F, label: `l${l}.gelu_tanh` }));
      const projQuant = this.quantFor(gate, F, [L.proj], { label: `l${l}.quantize_proj` });
      add(ops.matvec(upload(L.proj), gate, x, { bias: vec(L.bproj), accumulate: true, quant: projQuant }));
    }
    this.head.push(ops.layerNorm(x, xn, vec(lnfw), vec(lnfb), { n: D, eps, lastToken: true, label: 'ln_f' }));
    const headQuant = this.quantFor(xn, D, [headSpec], { oneToken: true, list: this.head, label: 'quantize_head' });
    this.head.push(ops.matvec(upload(headSpec), xn, this.logits, { oneToken: true, quant: headQuant }));
  }
}
