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
// Buffers are planned once for (context, max batch); a forward writes the step
// uniform, the embeddings and the cos/sin rows, records one command encoder per
// batch and reads back only the logits.

import { uploadMatrix, storageBufferFrom, dequantizeRow } from './weights.js';
import { matrixSpec, vectorSpec } from './model.js';
import { makeRopeTable, fillCosSin } from './rope_table.js';

export class LlamaGraph {
  /**
   * @param {{device, ops: import('./ops.js').Ops, cfg, table, contextTokens: number, maxBatch: number, maxBindingBytes: number,
   *          activations: 'q8'|'f32', kvStorage: 'f32'|'f16'|'f16-packed', onProgress?: (done:number,total:number)=>void}} o
   *   activations 'q8': q8/q4 weights multiply int8 activations quantized per 32 columns, exactly as
   *   the CPU kernels do (same numbers as the wasm backend); 'f32': they multiply f32 activations.
   *   kvStorage must be the pipelines' (PipelineCache kvStorage); both f16 storages halve the cache.
   */
  constructor({ device, ops, cfg, table, contextTokens, maxBatch, maxBindingBytes, activations = 'q8', kvStorage = 'f32', onProgress }) {
    this.device = device;
    this.ops = ops;
    this.cfg = cfg;
    this.contextTokens = contextTokens;
    this.maxBatch = maxBatch;
    this.buffers = [];
    const c = cfg;
    const D = c.hidden_size, V = c.vocab_size, F = c.intermediate_size, H = c.num_heads, KV = c.num_kv_heads, hd = c.head_dim;

    // ---- weights: bind names and shapes, then upload (progress counts bytes) ----
    const specs = [];
    const embedSpec = matrixSpec(table, 'model.embed_tokens.weight', V, D);
    const headSpec = c.tie_word_embeddings ? embedSpec : matrixSpec(table, 'lm_head.weight', V, D);
    specs.push(headSpec);
    const layerSpecs = [];
    for (let l = 0; l < c.num_layers; ++l) {
      const p = `model.layers.${l}.`;
      const L = {
        attnNorm: vectorSpec(table, `${p}input_layernorm.weight`, D),
        ffnNorm: vectorSpec(table, `${p}post_attention_layernorm.weight`, D),
        wq: matrixSpec(table, `${p}self_attn.q_proj.weight`, H * hd, D),
        wk: matrixSpec(table, `${p}self_attn.k_proj.weight`, KV * hd, D),
        wv: matrixSpec(table, `${p}self_attn.v_proj.weight`, KV * hd, D),
        wo: matrixSpec(table, `${p}self_attn.o_proj.weight`, D, H * hd),
        bq: vectorSpec(table, `${p}self_attn.q_proj.bias`, H * hd, false),
        bk: vectorSpec(table, `${p}self_attn.k_proj.bias`, KV * hd, false),
        bv: vectorSpec(table, `${p}self_attn.v_proj.bias`, KV * hd, false),
        bo: vectorSpec(table, `${p}self_attn.o_proj.bias`, D, false),
        qNorm: vectorSpec(table, `${p}self_attn.q_norm.weight`, hd, false),
        kNorm: vectorSpec(table, `${p}self_attn.k_norm.weight`, hd, false),
        gate: matrixSpec(table, `${p}mlp.gate_proj.weight`, F, D),
        up: matrixSpec(table, `${p}mlp.up_proj.weight`, F, D),
        down: matrixSpec(table, `${p}mlp.down_proj.weight`, D, F),
        bGate: vectorSpec(table, `${p}mlp.gate_proj.bias`, F, false),
        bUp: vectorSpec(table, `${p}mlp.up_proj.bias`, F, false),
        bDown: vectorSpec(table, `${p}mlp.down_proj.bias`, D, false),
      };
      if (Boolean(L.qNorm) !== Boolean(L.kNorm)) throw new Error(`WebGPU: layer ${l} has only one of q_norm / k_norm`);
      for (const k of ['wq', 'wk', 'wv', 'wo', 'gate', 'up', 'down']) specs.push(L[k]);
      layerSpecs.push(L);
    }
    const finalNorm = vectorSpec(table, 'model.norm.weight', D);
    this.embed = embedSpec;

    const totalBytes = specs.reduce((s, m) => s + m.tensor.bytes + m.tensor.scalesBytes, 0);
    let doneBytes = 0;
    const upload = (m) => {
      const w = uploadMatrix(device, { name: m.name, dtype: m.dtype, rows: m.rows, cols: m.cols, groupSize: m.groupSize,
        data: m.tensor.data(), scales: m.tensor.scales() }, maxBindingBytes);
      for (const part of w.parts) this.buffers.push(part.data, ...(part.scales ? [part.scales] : []));
      doneBytes += m.tensor.bytes + m.tensor.scalesBytes;
      if (onProgress) onProgress(doneBytes, totalBytes);
      return w;
    };
    const vec = (t) => {
      if (!t) return null;
      const b = storageBufferFrom(device, t.data(), t.name);
      this.buffers.push(b);
      return b;
    };
    this.weightBytes = totalBytes;

    // ---- activations and caches ----
    const B = maxBatch;
    const act = (floats, label) => {
      const b = device.createBuffer({ label, size: Math.max(16, floats * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
      this.buffers.push(b);
      return b;
    };
    const qkNorm = layerSpecs.some((L) => L.qNorm);
    this.x = act(B * D, 'x');
    const xn = act(B * D, 'xn');
    const q = act(B * H * hd, 'q');
    const k = act(B * KV * hd, 'k');
    const v = act(B * KV * hd, 'v');
    const qPre = qkNorm ? act(B * H * hd, 'q_pre_norm') : q;
    const kPre = qkNorm ? act(B * KV * hd, 'k_pre_norm') : k;
    const attn = act(B * H * hd, 'attn');
    const gate = act(B * F, 'gate');
    const up = act(B * F, 'up');
    this.cosSin = act(B * hd, 'cos_sin');
    const scores = act(B * H * contextTokens, 'scores');
    this.logits = act(V, 'logits');
    this.readback = device.createBuffer({ label: 'logits.readback', size: V * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.buffers.push(this.readback);
    const kvElementBytes = kvStorage === 'f32' ? 4 : 2;
    // One layer's K (or V) cache; storage bindings are sized in whole u32 words.
    const kvBufferBytes = Math.max(16, Math.ceil(contextTokens * KV * hd * kvElementBytes / 4) * 4);
    const kvCache = (label) => {
      const b = device.createBuffer({ label, size: kvBufferBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
      this.buffers.push(b);
      return b;
    };
    this.kvBytes = 2 * c.num_layers * kvBufferBytes;

    // ---- the op list, in execution order ----
    const eps = c.norm_eps;
    this.program = [];
    const add = (op) => this.program.push(op);
    this.activations = activations;
    // Quantized activations of x (width k) for the quantized weights among `weights`, or null
    // when none is quantized or activations stay f32. The quantize op is appended here, so
    // call it right before the products that read it.
    const quantCache = new Map();
    const quantFor = (x, k, weights, { oneToken = false, list = this.program, label }) => {
      if (activations !== 'q8' || !weights.some((m) => m.dtype === 'q8' || m.dtype === 'q4')) return null;
      if (!quantCache.has(k)) quantCache.set(k, ops.quantBuffers(k, B, `xq${k}`));
      const quant = quantCache.get(k);
      list.push(ops.quantizeQ8(x, quant, { k, oneToken, label }));
      return quant;
    };
    for (let l = 0; l < c.num_layers; ++l) {
      const L = layerSpecs[l];
      const kCache = kvCache(`k_cache.${l}`);
      const vCache = kvCache(`v_cache.${l}`);
      const window = c.sliding_layers[l] ? c.sliding_window : 0;
      add(ops.rmsnorm(this.x, xn, vec(L.attnNorm), { n: D, eps, label: `l${l}.attn_norm` }));
      const qkvQuant = quantFor(xn, D, [L.wq, L.wk, L.wv], { label: `l${l}.quantize_qkv` });
      add(ops.matvec(upload(L.wq), xn, qPre, { bias: vec(L.bq), quant: qkvQuant }));
      add(ops.matvec(upload(L.wk), xn, kPre, { bias: vec(L.bk), quant: qkvQuant }));
      add(ops.matvec(upload(L.wv), xn, v, { bias: vec(L.bv), quant: qkvQuant }));
      if (L.qNorm) {
        add(ops.rmsnorm(qPre, q, vec(L.qNorm), { n: hd, eps, rowsPerToken: H, label: `l${l}.q_norm` }));
        add(ops.rmsnorm(kPre, k, vec(L.kNorm), { n: hd, eps, rowsPerToken: KV, label: `l${l}.k_norm` }));
      } else if (qkNorm) {
        throw new Error(`WebGPU: layer ${l} lacks the q/k norm other layers have`);
      }
      add(ops.rope(q, this.cosSin, { heads: H, headDim: hd, label: `l${l}.rope_q` }));
      add(ops.rope(k, this.cosSin, { heads: KV, headDim: hd, label: `l${l}.rope_k` }));
      add(ops.kvStore(k, v, kCache, vCache, { kvDim: KV * hd, label: `l${l}.kv_store` }));
      add(ops.attention(q, kCache, vCache, scores, attn, { heads: H, kvHeads: KV, headDim: hd, context: contextTokens, window,
        scale: 1 / Math.sqrt(hd), label: `l${l}.attention` }));
      const oQuant = quantFor(attn, H * hd, [L.wo], { label: `l${l}.quantize_o` });
      add(ops.matvec(upload(L.wo), attn, this.x, { bias: vec(L.bo), accumulate: true, quant: oQuant }));
      add(ops.rmsnorm(this.x, xn, vec(L.ffnNorm), { n: D, eps, label: `l${l}.ffn_norm` }));
      const upQuant = quantFor(xn, D, [L.gate, L.up], { label: `l${l}.quantize_gate_up` });
      add(ops.matvec(upload(L.gate), xn, gate, { bias: vec(L.bGate), quant: upQuant }));
      add(ops.matvec(upload(L.up), xn, up, { bias: vec(L.bUp), quant: upQuant }));
      add(ops.siluMul(gate, up, { n: F, label: `l${l}.silu_mul` }));
      const downQuant = quantFor(gate, F, [L.down], { label: `l${l}.quantize_down` });
      add(ops.matvec(upload(L.down), gate, this.x, { bias: vec(L.bDown), accumulate: true, quant: downQuant }));
    }
    this.head = [ops.rmsnorm(this.x, xn, vec(finalNorm), { n: D, eps, lastToken: true, label: 'final_norm' })];
    const headQuant = quantFor(xn, D, [headSpec], { oneToken: true, list: this.head, label: 'quantize_head' });
    this.head.push(ops.matvec(upload(headSpec), xn, this.logits, { oneToken: true, quant: headQuant }));
    this.rope = makeRopeTable(c, hd);
    this.embedRow = new Float32Array(D);
  }

  /** Logits [vocab] of the last of ids, evaluated at positions startPos.. Calls run one at a time. */
  forward(ids, startPos) {
    const run = (this.queueTail || Promise.resolve()).then(() => this.forwardNow(ids, startPos));
    this.queueTail = run.catch(() => {});
    return run;
  }

  async forwardNow(ids, startPos) {
    const c = this.cfg;
    const n = ids.length;
    if (n <= 0) throw new Error('WebGPU forward: no tokens');
    if (!(startPos >= 0) || startPos + n > this.contextTokens) {
      throw new Error(`WebGPU forward: ${n} tokens at position ${startPos} exceed the context of ${this.contextTokens}`);
    }
    for (let i = 0; i < n; ++i) {
      if (!(ids[i] >= 0 && ids[i] < c.vocab_size)) throw new Error(`WebGPU forward: token id ${ids[i]} at index ${i} is outside [0, ${c.vocab_size})`);
    }
    const D = c.hidden_size, hd = c.head_dim;
    const queue = this.device.queue;
    for (let done = 0; done < n; done += this.maxBatch) {
      const b = Math.min(this.maxBatch, n - done);
      const pos = startPos + done;
      const last = done + b === n;
      // Embedding rows decoded on the host from the heap: a gather of b rows, no GPU copy of the table.
      const x = new Float32Array(b * D);
      const t = this.embed.tensor;
      const data = t.data(), scales = t.scales();
      for (let i = 0; i < b; ++i) x.set(dequantizeRow(t.dtype, data, scales, D, t.groupSize, ids[done + i], this.embedRow), i * D);
      queue.writeBuffer(this.x, 0, x);
      queue.writeBuffer(this.cosSin, 0, fillCosSin(this.rope, pos, b, new Float32Array(b * hd)));
      this.ops.setStep(pos, b);
      const encoder = this.device.createCommandEncoder({ label: 'kite.forward' });
      const pass = encoder.beginComputePass();
      for (const op of this.program) op.encode(pass, b);
      if (last) for (const op of this.head) op.encode(pass, b);
      pass.end();
      if (last) encoder.copyBufferToBuffer(this.logits, 0, this.readback, 0, c.vocab_size * 4);
      queue.submit([encoder.finish()]);
    }
    await this.readback.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(this.readback.getMappedRange().slice(0));
    this.readback.unmap();
    return out;
  }

  destroy() {
    for (const b of this.buffers) b.destroy();
    this.buffers = [];
  }
}
