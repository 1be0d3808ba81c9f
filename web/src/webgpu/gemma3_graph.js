// The Gemma 3 forward pass on WebGPU (Gemma3ForCausalLM): the same graph as
// runtime/model/gemma3_model.cc, one compute pass per batch of tokens:
//
//   x = embed(ids) * sqrt(hidden)                   host: rows decoded from the heap, f32 products
//   per layer l (local: sliding window and rope_local_base_freq; global: rope_theta and scaling):
//     xn = RMSNorm(x) * (1 + input_norm)
//     q, k, v = Wq xn (+ bq), Wk xn (+ bk), Wv xn (+ bv)
//     q, k = RMSNorm_head(q) * (1 + q_norm), ...      per head of hd
//     q, k = RoPE(q), RoPE(k)                          the layer kind's host cos/sin table
//     K[l][pos..], V[l][pos..] = k, v
//     attn = softmax(cap(q K^T * query_pre_attn_scalar^-1/2)) V   cap: attn_logit_softcapping
//     x += RMSNorm(Wo attn (+ bo)) * (1 + post_attention_norm)
//     xn = RMSNorm(x) * (1 + pre_feedforward_norm)
//     x += RMSNorm(Wdown (gelu_tanh(Wgate xn) * Wup xn)) * (1 + post_feedforward_norm)
//   logits = lm_head (RMSNorm(x[last]) * (1 + final_norm)), soft-capped on the host when
//            final_logit_softcapping is set
//
// The norm weights are stored zero-centred; 1 + w is computed once on the host, in f32 as the
// CPU does. Local layers keep a full-length cache here (the CPU keeps a ring of the window):
// attention reads only the window either way, so the numbers are the same.

import { ForwardGraph } from './forward_graph.js';
import { matrixSpec, vectorSpec, projectionSpecs, PROJECTIONS } from './model.js';
import { makeRopeTable } from './rope_table.js';

const onePlus = (w) => w.map((v) => Math.fround(1 + v));

export class Gemma3Graph extends ForwardGraph {
  /** @param o  ForwardGraph's options and `table` (model.js tensorTable) */
  constructor(o) {
    super(o);
    const { ops, cfg: c, table } = o;
    const D = c.hidden_size, V = c.vocab_size, F = c.intermediate_size, H = c.num_heads, KV = c.num_kv_heads, hd = c.head_dim;

    const specs = [];
    this.embed = matrixSpec(table, 'model.embed_tokens.weight', V, D);
    const headSpec = c.tie_word_embeddings ? this.embed : matrixSpec(table, 'lm_head.weight', V, D);
    specs.push(headSpec);
    const layerSpecs = [];
    for (let l = 0; l < c.num_layers; ++l) {
      const p = `model.layers.${l}.`;
      const L = {
        inputNorm: vectorSpec(table, `${p}input_layernorm.weight`, D),
        postAttnNorm: vectorSpec(table, `${p}post_attention_layernorm.weight`, D),
        preFfnNorm: vectorSpec(table, `${p}pre_feedforward_layernorm.weight`, D),
        postFfnNorm: vectorSpec(table, `${p}post_feedforward_layernorm.weight`, D),
        qNorm: vectorSpec(table, `${p}self_attn.q_norm.weight`, hd),
        kNorm: vectorSpec(table, `${p}self_attn.k_norm.weight`, hd),
        ...projectionSpecs(table, p, c),
      };
      for (const k of PROJECTIONS) specs.push(L[k]);
      layerSpecs.push(L);
    }
    const finalNorm = vectorSpec(table, 'model.norm.weight', D);
    this.planUploads(specs);
    const vec = (t) => this.vector(t);
    const norm = (t) => this.vector(t, onePlus);
    const upload = (m) => this.upload(m);

    this.embedScale = Math.fround(Math.sqrt(D));
    this.finalSoftCap = Math.fround(c.final_logit_softcapping || 0);
    // Local layers: their own base, no scaling; global layers: rope_theta with rope_scaling.
    const localBase = c.rope_local_base_freq > 0 ? c.rope_local_base_freq : c.rope_theta;
    const cosSinLocal = this.ropeBuffer(makeRopeTable({ ...c, rope_theta: localBase, rope_scaling: null }, hd), 'cos_sin.local');
    const cosSinGlobal = this.ropeBuffer(makeRopeTable(c, hd), 'cos_sin.global');
    const scale = Math.fround(1 / Math.fround(Math.sqrt(c.query_pre_attn_scalar)));
    const softCap = c.attn_logit_softcapping > 0 ? c.attn_logit_softcapping : 0;
    const { x, xn, q, k, v, attn, gate, up, scores } = this;
    const qPre = this.activation(this.maxBatch * H * hd, 'q_pre_norm');
    const kPre = this.activation(this.maxBatch * KV * hd, 'k_pre_norm');

    const eps = c.norm_eps;
    const add = (op) => this.program.push(op);
    for (let l = 0; l < c.num_layers; ++l) {
      const L = layerSpecs[l];
      const sliding = Boolean(c.sliding_layers[l]);
      const cosSin = sliding ? cosSinLocal : cosSinGlobal;
      const kCache = this.kvCache(`k_cache.${l}`);
      const vCache = this.kvCache(`v_cache.${l}`);
      add(ops.rmsnorm(x, xn, norm(L.inputNorm), { n: D, eps, label: `l${l}.input_norm` }));
      const qkvQuant = this.quantFor(xn, D, [L.wq, L.wk, L.wv], { label: `l${l}.quantize_qkv` });
      add(ops.matvec(upload(L.wq), xn, qPre, { bias: vec(L.bq), quant: qkvQuant }));
      add(ops.matvec(upload(L.wk), xn, kPre, { bias: vec(L.bk), quant: qkvQuant }));
      add(ops.matvec(upload(L.wv), xn, v, { bias: vec(L.bv), quant: qkvQuant }));
      add(ops.rmsnorm(qPre, q, norm(L.qNorm), { n: hd, eps, rowsPerToken: H, label: `l${l}.q_norm` }));
      add(ops.rmsnorm(kPre, k, norm(L.kNorm), { n: hd, eps, rowsPerToken: KV, label: `l${l}.k_norm` }));
      add(ops.rope(q, cosSin, { heads: H, headDim: hd, label: `l${l}.rope_q` }));
      add(ops.rope(k, cosSin, { heads: KV, headDim: hd, label: `l${l}.rope_k` }));
      add(ops.kvStore(k, v, kCache, vCache, { kvDim: KV * hd, label: `l${l}.kv_store` }));
      add(ops.attention(q, kCache, vCache, scores, attn, { heads: H, kvHeads: KV, headDim: hd, context: this.contextTokens,
        window: sliding ? c.sliding_window : 0, scale, softCap, label: `l${l}.attention` }));
      // The block outputs land in xn, then their norm is added to x.
      const oQuant = this.quantFor(attn, H * hd, [L.wo], { label: `l${l}.quantize_o` });
      add(ops.matvec(upload(L.wo), attn, xn, { bias: vec(L.bo), quant: oQuant }));
      add(ops.rmsnorm(xn, x, norm(L.postAttnNorm), { n: D, eps, accumulate: true, label: `l${l}.post_attention_norm` }));
      add(ops.rmsnorm(x, xn, norm(L.preFfnNorm), { n: D, eps, label: `l${l}.pre_feedforward_norm` }));
      const upQuant = this.quantFor(xn, D, [L.gate, L.up], { label: `l${l}.quantize_gate_up` });
      add(ops.matvec(upload(L.gate), xn, gate, { bias: vec(L.bGate), quant: upQuant }));
      add(ops.matvec(upload(L.up), xn, up, { bias: vec(L.bUp), quant: upQuant }));
      add(ops.geluTanhMul(gate, up, { n: F, label: `l${l}.gelu_tanh_mul` }));
      const downQuant = this.quantFor(gate, F, [L.down], { label: `l${l}.quantize_down` });
      add(ops.matvec(upload(L.down), gate, xn, { bias: vec(L.bDown), quant: downQuant }));
      add(ops.rmsnorm(xn, x, norm(L.postFfnNorm), { n: D, eps, accumulate: true, label: `l${l}.post_feedforward_norm` }));
    }
    this.head.push(ops.rmsnorm(x, xn, norm(finalNorm), { n: D, eps, lastToken: true, label: 'final_norm' }));
    const headQuant = this.quantFor(xn, D, [headSpec], { oneToken: true, list: this.head, label: 'quantize_head' });
    this.head.push(ops.matvec(upload(headSpec), xn, this.logits, { oneToken: true, quant: headQuant }));
  }

  /** final_logit_softcapping: cap * tanh(logit / cap), each step rounded to f32 as the CPU's SoftCap. */
  finishLogits(logits) {
    const cap = this.finalSoftCap;
    if (cap > 0) for (let i = 0; i < logits.length; ++i) logits[i] = cap * Math.fround(Math.tanh(Math.fround(logits[i] / cap)));
    return logits;
  }
}
