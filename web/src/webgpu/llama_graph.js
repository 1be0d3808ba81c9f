// The Llama-family forward pass on WebGPU (Llama, Mistral, Qwen2, Qwen3): the same
// graph as runtime/model/llama_model.cc, one compute pass per batch of tokens:
//
//   x = embed(ids)                                  host: rows decoded from the heap
//   per layer l:
//     xn = RMSNorm(x) * attn_norm
//     q, k, v = Wq xn + bq, Wk xn + bk, Wv xn + bv  [n][H*hd], [n][KV*hd] x2
//     q, k = RMSNorm_head(q) * q_norm, ... (Qwen3)   per head of hd
//     q, k = RoPE(q), RoPE(k)                        rotate-half, host cos/sin table
//     K[l][pos..], V[l][pos..] = k, v                f16 (as f16, or packed in u32) or f32 cache
//     attn = softmax(q K^T / sqrt(hd)) V            causal, GQA, optional window
//     x += Wo attn + bo
//     xn = RMSNorm(x) * ffn_norm
//     x += Wdown (silu(Wgate xn + bg) * (Wup xn + bu)) + bd
//   logits = lm_head (RMSNorm(x[last]) * final_norm)
//
// Buffers are planned once for (context, max batch); a forward (forward_graph.js) writes the
// step uniform, the embeddings and the cos/sin rows, records one command encoder per batch and
// reads back only the logits.

import { ForwardGraph } from './forward_graph.js';
import { matrixSpec, vectorSpec, projectionSpecs, PROJECTIONS } from './model.js';
import { makeRopeTable } from './rope_table.js';

export class LlamaGraph extends ForwardGraph {
  /** @param o  ForwardGraph's options and `table` (model.js tensorTable) */
  constructor(o) {
    super(o);
    const { ops, cfg: c, table } = o;
    const D = c.hidden_size, V = c.vocab_size, F = c.intermediate_size, H = c.num_heads, KV = c.num_kv_heads, hd = c.head_dim;

    // ---- weights: bind names and shapes, then upload (progress counts bytes) ----
    const specs = [];
    this.embed = matrixSpec(table, 'model.embed_tokens.weight', V, D);
    const headSpec = c.tie_word_embeddings ? this.embed : matrixSpec(table, 'lm_head.weight', V, D);
    specs.push(headSpec);
    const layerSpecs = [];
    for (let l = 0; l < c.num_layers; ++l) {
      const p = `model.layers.${l}.`;
      const L = {
        attnNorm: vectorSpec(table, `${p}input_layernorm.weight`, D),
        ffnNorm: vectorSpec(table, `${p}post_attention_layernorm.weight`, D),
        qNorm: vectorSpec(table, `${p}self_attn.q_norm.weight`, hd, false),
        kNorm: vectorSpec(table, `${p}self_attn.k_norm.weight`, hd, false),
        ...projectionSpecs(table, p, c),
      };
      if (Boolean(L.qNorm) !== Boolean(L.kNorm)) throw new Error(`WebGPU: layer ${l} has only one of q_norm / k_norm`);
      for (const k of PROJECTIONS) specs.push(L[k]);
      layerSpecs.push(L);
    }
    const finalNorm = vectorSpec(table, 'model.norm.weight', D);
    this.planUploads(specs);
    const vec = (t) => this.vector(t);
    const upload = (m) => this.upload(m);

    // ---- activations: the shared ones (ForwardGraph), the pre-norm q/k of Qwen3, one RoPE table ----
    const qkNorm = layerSpecs.some((L) => L.qNorm);
    const { x, xn, q, k, v, attn, gate, up, scores } = this;
    const qPre = qkNorm ? this.activation(this.maxBatch * H * hd, 'q_pre_norm') : q;
    const kPre = qkNorm ? this.activation(this.maxBatch * KV * hd, 'k_pre_norm') : k;
    const cosSin = this.ropeBuffer(makeRopeTable(c, hd));

    // ---- the op list, in execution order ----
    const eps = c.norm_eps;
    const add = (op) => this.program.push(op);
    for (let l = 0; l < c.num_layers; ++l) {
      const L = layerSpecs[l];
      const kCache = this.kvCache(`k_cache.${l}`);
      const vCache = this.kvCache(`v_cache.${l}`);
      const window = c.sliding_layers[l] ? c.sliding_window : 0;
      add(ops.rmsnorm(x, xn, vec(L.attnNorm), { n: D, eps, label: `l${l}.attn_norm` }));
      const qkvQuant = this.quantFor(xn, D, [L.wq, L.wk, L.wv], { label: `l${l}.quantize_qkv` });
      add(ops.matvec(upload(L.wq), xn, qPre, { bias: vec(L.bq), quant: qkvQuant }));
      add(ops.matvec(upload(L.wk), xn, kPre, { bias: vec(L.bk), quant: qkvQuant }));
      add(ops.matvec(upload(L.wv), xn, v, { bias: vec(L.bv), quant: qkvQuant }));
      if (L.qNorm) {
        add(ops.rmsnorm(qPre, q, vec(L.qNorm), { n: hd, eps, rowsPerToken: H, label: `l${l}.q_norm` }));
        add(ops.rmsnorm(kPre, k, vec(L.kNorm), { n: hd, eps, rowsPerToken: KV, label: `l${l}.k_norm` }));
      } else if (qkNorm) {
        throw new Error(`WebGPU: layer ${l} lacks the q/k norm other layers have`);
      }
      add(ops.rope(q, cosSin, { heads: H, headDim: hd, label: `l${l}.rope_q` }));
      add(ops.rope(k, cosSin, { heads: KV, headDim: hd, label: `l${l}.rope_k` }));
      add(ops.kvStore(k, v, kCache, vCache, { kvDim: KV * hd, label: `l${l}.kv_store` }));
      add(ops.attention(q, kCache, vCache, scores, attn, { heads: H, kvHeads: KV, headDim: hd, context: this.contextTokens, window,
        scale: 1 / Math.sqrt(hd), label: `l${l}.attention` }));
      const oQuant = this.quantFor(attn, H * hd, [L.wo], { label: `l${l}.quantize_o` });
      add(ops.matvec(upload(L.wo), attn, x, { bias: vec(L.bo), accumulate: true, quant: oQuant }));
      add(ops.rmsnorm(x, xn, vec(L.ffnNorm), { n: D, eps, label: `l${l}.ffn_norm` }));
      const upQuant = this.quantFor(xn, D, [L.gate, L.up], { label: `l${l}.quantize_gate_up` });
      add(ops.matvec(upload(L.gate), xn, gate, { bias: vec(L.bGate), quant: upQuant }));
      add(ops.matvec(upload(L.up), xn, up, { bias: vec(L.bUp), quant: upQuant }));
      add(ops.siluMul(gate, up, { n: F, label: `l${l}.silu_mul` }));
      const downQuant = this.quantFor(gate, F, [L.down], { label: `l${l}.quantize_down` });
      add(ops.matvec(upload(L.down), gate, x, { bias: vec(L.bDown), accumulate: true, quant: downQuant }));
    }
    this.head.push(ops.rmsnorm(x, xn, vec(finalNorm), { n: D, eps, lastToken: true, label: 'final_norm' }));
    const headQuant = this.quantFor(xn, D, [headSpec], { oneToken: true, list: this.head, label: 'quantize_head' });
    this.head.push(ops.matvec(upload(headSpec), xn, this.logits, { oneToken: true, quant: headQuant }));
  }
}
