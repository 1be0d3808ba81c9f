// What every WebGPU forward graph shares (llama_graph.js, gemma3_graph.js, gpt2_graph.js):
// weight uploads with progress, the activation buffers and KV caches, the int8 activation
// quantization the q8/q4 products read, and the forward pass itself:
//
//   host: embedding rows of the batch (decoded from the wasm heap; GPT-2 adds its position rows)
//         and each RoPE cos/sin table
//   GPU:  this.program for every batch, then this.head (final norm, output head) for the last one
//   host: the logits read back, then finishLogits (Gemma's final soft-capping)
//
// A subclass names its weights (matrixSpec / vectorSpec), calls planUploads once with all of
// them, then appends ops to this.program and this.head.

import { uploadMatrix, storageBufferFrom, dequantizeRow } from './weights.js';
import { fillCosSin } from './rope_table.js';

export class ForwardGraph {
  /**
   * @param {{device, ops: import('./ops.js').Ops, cfg, contextTokens: number, maxBatch: number, maxBindingBytes: number,
   *          activations: 'q8'|'f32', kvStorage: 'f32'|'f16'|'f16-packed', onProgress?: (done:number,total:number)=>void}} o
   *   activations 'q8': q8/q4 weights multiply int8 activations quantized per 32 columns, exactly as
   *   the CPU kernels do (same numbers as the wasm backend); 'f32': they multiply f32 activations.
   *   kvStorage must be the pipelines' (PipelineCache kvStorage); both f16 storages halve the cache.
   */
  constructor({ device, ops, cfg, contextTokens, maxBatch, maxBindingBytes, activations = 'q8', kvStorage = 'f32', onProgress }) {
    this.device = device;
    this.ops = ops;
    this.cfg = cfg;
    this.contextTokens = contextTokens;
    this.maxBatch = maxBatch;
    this.maxBindingBytes = maxBindingBytes;
    this.activations = activations;
    this.kvStorage = kvStorage;
    this.onProgress = onProgress;
    this.buffers = [];
    this.program = [];
    this.head = [];
    this.ropeTables = [];  // [{table, buffer}]: cos/sin rows written per batch
    this.embedScale = 1;   // the embedding rows are multiplied by it (Gemma: sqrt(hidden))
    this.positionEmbed = null;  // a [positions, hidden] matrixSpec added to the rows (GPT-2's wpe)
    this.quantCache = new Map();

    const c = cfg;
    const D = c.hidden_size, V = c.vocab_size, F = c.intermediate_size, H = c.num_heads, KV = c.num_kv_heads, hd = c.head_dim;
    const B = maxBatch;
    this.x = this.activation(B * D, 'x');
    this.xn = this.activation(B * D, 'xn');
    this.q = this.activation(B * H * hd, 'q');
    this.k = this.activation(B * KV * hd, 'k');
    this.v = this.activation(B * KV * hd, 'v');
    this.attn = this.activation(B * H * hd, 'attn');
    this.gate = this.activation(B * F, 'gate');
    this.up = this.activation(B * F, 'up');
    this.scores = this.activation(B * H * contextTokens, 'scores');
    this.logits = this.activation(V, 'logits');
    this.readback = device.createBuffer({ label: 'logits.readback', size: V * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.buffers.push(this.readback);
    const kvElementBytes = kvStorage === 'f32' ? 4 : 2;
    // One layer's K (or V) cache; storage bindings are sized in whole u32 words.
    this.kvBufferBytes = Math.max(16, Math.ceil(contextTokens * KV * hd * kvElementBytes / 4) * 4);
    this.kvBytes = 2 * c.num_layers * this.kvBufferBytes;
    this.embedRow = new Float32Array(D);
    this.positionRow = new Float32Array(D);
  }

  /** An f32 activation buffer of `floats` elements. */
  activation(floats, label) {
    const b = this.device.createBuffer({ label, size: Math.max(16, floats * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    this.buffers.push(b);
    return b;
  }

  /** One layer's K or V cache. */
  kvCache(label) {
    const b = this.device.createBuffer({ label, size: this.kvBufferBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    this.buffers.push(b);
    return b;
  }

  /** A cos/sin buffer for a RoPE table (rope_table.js), filled for every batch. */
  ropeBuffer(table, label = 'cos_sin') {
    const buffer = this.activation(this.maxBatch * this.cfg.head_dim, label);
    this.ropeTables.push({ table, buffer });
    return buffer;
  }

  /** Records the matrices upload() will send, so progress counts bytes of the whole model. */
  planUploads(specs) {
    this.totalBytes = specs.reduce((s, m) => s + m.tensor.bytes + m.tensor.scalesBytes, 0);
    this.doneBytes = 0;
    this.weightBytes = this.totalBytes;
  }

  /** Uploads one matrix (from matrixSpec) in its stored layout. */
  upload(m) {
    const w = uploadMatrix(this.device, { name: m.name, dtype: m.dtype, rows: m.rows, cols: m.cols, groupSize: m.groupSize,
      data: m.tensor.data(), scales: m.tensor.scales() }, this.maxBindingBytes);
    for (const part of w.parts) this.buffers.push(part.data, ...(part.scales ? [part.scales] : []));
    this.doneBytes += m.tensor.bytes + m.tensor.scalesBytes;
    if (this.onProgress) this.onProgress(this.doneBytes, this.totalBytes);
    return w;
  }

  /** A vector (from vectorSpec) as a storage buffer, or null; map(values) transforms it first. */
  vector(t, map = null) {
    if (!t) return null;
    let bytes = t.data();
    if (map) {
      const values = map(new Float32Array(bytes.slice().buffer));
      bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    }
    const b = storageBufferFrom(this.device, bytes, t.name);
    this.buffers.push(b);
    return b;
  }

  /**
   * Quantized activations of x (width k) for the quantized weights among `weights`, or null when
   * none is quantized or activations stay f32. The quantize op is appended to `list` here, so call
   * it right before the products that read it.
   */
  quantFor(x, k, weights, { oneToken = false, list = this.program, label }) {
    if (this.activations !== 'q8' || !weights.some((m) => m.dtype === 'q8' || m.dtype === 'q4')) return null;
    if (!this.quantCache.has(k)) this.quantCache.set(k, this.ops.quantBuffers(k, this.maxBatch, `xq${k}`));
    const quant = this.quantCache.get(k);
    list.push(this.ops.quantizeQ8(x, quant, { k, oneToken, label }));
    return quant;
  }

  /** The logits as read back; subclasses transform them in place (soft-capping). */
  finishLogits(logits) { return logits; }

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
      for (let i = 0; i < b; ++i) {
        const row = dequantizeRow(t.dtype, data, scales, D, t.groupSize, ids[done + i], this.embedRow);
        if (this.embedScale !== 1) for (let j = 0; j < D; ++j) row[j] *= this.embedScale;  // f32 products, as the CPU's
        if (this.positionEmbed) {
          const p = this.positionEmbed.tensor;
          const prow = dequantizeRow(p.dtype, p.data(), p.scales(), D, p.groupSize, pos + i, this.positionRow);
          for (let j = 0; j < D; ++j) row[j] += prow[j];  // f32 sums, as the CPU's
        }
        x.set(row, i * D);
      }
      queue.writeBuffer(this.x, 0, x);
      for (const { table, buffer } of this.ropeTables) queue.writeBuffer(buffer, 0, fillCosSin(table, pos, b, new Float32Array(b * hd)));
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
    return this.finishLogits(out);
  }

  destroy() {
    for (const b of this.buffers) b.destroy();
    this.buffers = [];
  }
}
