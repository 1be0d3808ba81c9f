// One object per op instance of the graph: its parameter buffer, its bind group(s) and
// how it is dispatched for a batch of n tokens. Used by the model graphs (llama_graph.js,
// gemma3_graph.js) and, op by op, by the parity tests (tests/browser/webgpu/).

import { WORKGROUP_SIZE } from './shaders.js';

const MV_BIAS = 1, MV_ACCUMULATE = 2, MV_ONE_TOKEN = 4;
const NORM_LAST_TOKEN = 1, NORM_ACCUMULATE = 2;
const GELU_GATED = 1;
const MAX_DISPATCH = 65535;
// Rows per matvec workgroup, and tokens per workgroup for batches (prefill): one x read
// serves 16 rows and one weight read 4 tokens. 16 rows also keeps the workgroup count low,
// which is what SwiftShader (a CPU emulation) pays for most. ROWS * TOKENS <= WG (64) for
// the reduction epilogue (wg_sum_tile).
// Decode: 16 rows x 1 token; batches: 8 rows x 4 tokens (the reduction tile, ROWS * TOKENS * WG
// floats of workgroup memory, stays within the default 16 KiB limit).
export const MATVEC_ROWS = 16;
export const MATVEC_BATCH_ROWS = 8;
export const MATVEC_BATCH_TOKENS = 4;

function ceilDiv(a, b) { return Math.floor((a + b - 1) / b); }

export class Ops {
  /** @param {GPUDevice} device @param {import('./shaders.js').PipelineCache} pipelines */
  constructor(device, pipelines) {
    this.device = device;
    this.pipelines = pipelines;
    this.step = device.createBuffer({ label: 'kite.step', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.dummy = device.createBuffer({ label: 'kite.dummy', size: 16, usage: GPUBufferUsage.STORAGE });
    this.owned = [this.step, this.dummy];
    // Workgroups per dispatch dimension (the WebGPU default limit); row blocks beyond it go to z.
    // Tests lower it to exercise the x * z split on small shapes.
    this.maxDispatchX = MAX_DISPATCH;
  }

  /** Position of the batch's first token and its length; queued before the submit that uses it. */
  setStep(pos, nTokens) {
    this.device.queue.writeBuffer(this.step, 0, new Uint32Array([pos, nTokens, 0, 0]));
  }

  uniform(words, label) {
    const buffer = this.device.createBuffer({ label, size: 32, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
    const u32 = new Uint32Array(buffer.getMappedRange());
    const f32 = new Float32Array(u32.buffer);
    words.forEach((w, i) => {
      if (typeof w === 'object') f32[i] = w.f32; else u32[i] = w;
    });
    buffer.unmap();
    this.owned.push(buffer);
    return buffer;
  }

  bindGroup(op, buffers, label) {
    return this.device.createBindGroup({
      label,
      layout: this.pipelines.bindGroupLayout(op),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  /**
   * Quantizes x [n][k] to the CPU's Q8 activation layout: xq [n][K_pad/4] words, xs [n][K_pad/32].
   * Buffers for it: quantBuffers(k, maxTokens).
   */
  quantizeQ8(x, { xq, xs }, { k, oneToken = false, label = 'quantize_q8' }) {
    const params = this.uniform([k, oneToken ? 1 : 0, 0, 0], `${label}.params`);
    const bindGroup = this.bindGroup('quantize_q8', [params, this.step, x, xq, xs], label);
    const blocks = Math.ceil(k / 32);
    return {
      encode: (pass, nTokens) => {
        pass.setPipeline(this.pipelines.get('quantize_q8'));
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(ceilDiv(blocks * (oneToken ? 1 : nTokens), WORKGROUP_SIZE));
      },
    };
  }

  /** Buffers for quantized activations of width k, maxTokens rows. */
  quantBuffers(k, maxTokens, label = 'xq') {
    const blocks = Math.ceil(k / 32);
    const make = (bytes, l) => {
      const b = this.device.createBuffer({ label: l, size: Math.max(16, bytes), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
      this.owned.push(b);
      return b;
    };
    return { k, xq: make(maxTokens * blocks * 32, `${label}.codes`), xs: make(maxTokens * blocks * 4, `${label}.scales`) };
  }

  /**
   * y[t] (+)= W x[t] (+ bias) for every token of the batch, or token row 0 only (oneToken).
   * With quant (from quantBuffers, filled by a quantizeQ8 op of x) and a q8/q4 weight, the
   * product is the CPU's int8 x int8 one; otherwise x is read as f32.
   * @param weight  from uploadMatrix
   */
  matvec(weight, x, y, { bias = null, accumulate = false, oneToken = false, xStride = weight.cols, yStride = weight.rows, quant = null, label = weight.name } = {}) {
    const int8 = Boolean(quant) && (weight.dtype === 'q8' || weight.dtype === 'q4');
    if (int8 && quant.k !== weight.cols) throw new Error(`${label}: quantized activations have ${quant.k} columns, the weight ${weight.cols}`);
    const op = `matvec_${weight.dtype === 'bf16' ? 'f16' : weight.dtype}${int8 ? '_xq8' : ''}`;
    const flags = (bias ? MV_BIAS : 0) | (accumulate ? MV_ACCUMULATE : 0) | (oneToken ? MV_ONE_TOKEN : 0);
    let rowWords = 0, groupsPerRow = 0;
    if (weight.dtype === 'q8') rowWords = Math.ceil(weight.cols / 32) * 32 / 4;
    if (weight.dtype === 'q4') {
      const padded = Math.ceil(weight.cols / weight.groupSize) * weight.groupSize;
      rowWords = padded / 8;
      groupsPerRow = padded / weight.groupSize;
    }
    const parts = weight.parts.map((part) => {
      const params = this.uniform([part.rows, weight.cols, xStride, yStride, rowWords, groupsPerRow, flags, part.rowOffset], `${label}.params`);
      return {
        rows: part.rows,
        bindGroup: this.bindGroup(op, int8
          ? [params, this.step, part.data, part.scales, quant.xq, quant.xs, y, bias || this.dummy]
          : [params, this.step, part.data, part.scales || this.dummy, x, y, bias || this.dummy], label),
      };
    });
    const halfIsBf16 = weight.dtype === 'bf16';
    // Compile both variants now rather than on the first token.
    const variant = (m) => (m > 1 ? { ROWS: MATVEC_BATCH_ROWS, TOKENS: MATVEC_BATCH_TOKENS, HALF_IS_BF16: halfIsBf16 }
      : { ROWS: MATVEC_ROWS, TOKENS: 1, HALF_IS_BF16: halfIsBf16 });
    for (const m of [1, 2]) this.pipelines.get(op, variant(m));
    return {
      encode: (pass, nTokens) => {
        const m = oneToken ? 1 : nTokens;
        const v = variant(m);
        pass.setPipeline(this.pipelines.get(op, v));
        for (const part of parts) {
          const blocks = ceilDiv(part.rows, v.ROWS);
          const gx = Math.min(blocks, this.maxDispatchX);
          pass.setBindGroup(0, part.bindGroup);
          pass.dispatchWorkgroups(gx, ceilDiv(m, v.TOKENS), ceilDiv(blocks, gx));
        }
      },
    };
  }

  /**
   * dst = RMSNorm(src) * w over rows of n; rowsPerToken rows per token (heads for q/k norm);
   * accumulate: dst += RMSNorm(src) * w (Gemma's normed block outputs into the residual stream).
   */
  rmsnorm(src, dst, w, { n, eps, rowsPerToken = 1, lastToken = false, accumulate = false, label = 'rmsnorm' }) {
    const flags = (lastToken ? NORM_LAST_TOKEN : 0) | (accumulate ? NORM_ACCUMULATE : 0);
    const params = this.uniform([n, rowsPerToken, flags, { f32: eps }], `${label}.params`);
    const bindGroup = this.bindGroup('rmsnorm', [params, this.step, src, dst, w], label);
    return {
      encode: (pass, nTokens) => {
        pass.setPipeline(this.pipelines.get('rmsnorm'));
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(lastToken ? rowsPerToken : nTokens * rowsPerToken);
      },
    };
  }

  /** dst = LayerNorm(src) * w + b over rows of n (GPT-2); lastToken: the batch's last row only. */
  layerNorm(src, dst, w, b, { n, eps, lastToken = false, label = 'layernorm' }) {
    const params = this.uniform([n, 0, lastToken ? NORM_LAST_TOKEN : 0, { f32: eps }], `${label}.params`);
    const bindGroup = this.bindGroup('layernorm', [params, this.step, src, dst, w, b], label);
    return {
      encode: (pass, nTokens) => {
        pass.setPipeline(this.pipelines.get('layernorm'));
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(lastToken ? 1 : nTokens);
      },
    };
  }

  /** In-place rotate-half RoPE of buf [n][heads][headDim] with the host's cos/sin table. */
  rope(buf, cosSin, { heads, headDim, label = 'rope' }) {
    const params = this.uniform([heads, headDim, 0, 0], `${label}.params`);
    const bindGroup = this.bindGroup('rope', [params, this.step, buf, cosSin], label);
    return {
      encode: (pass, nTokens) => {
        pass.setPipeline(this.pipelines.get('rope'));
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(ceilDiv(nTokens * heads * (headDim / 2), WORKGROUP_SIZE));
      },
    };
  }

  /** Appends k, v [n][kvDim] to the caches at rows pos.. */
  kvStore(k, v, kCache, vCache, { kvDim, label = 'kv_store' }) {
    // Packed halves: one invocation per pair of values, and a row never shares a word with the next.
    const perInvocation = this.pipelines.kvStorage === 'f16-packed' ? 2 : 1;
    if (kvDim % perInvocation) throw new Error(`WebGPU kv_store: kv_dim ${kvDim} is odd, packed f16 needs it even`);
    const params = this.uniform([kvDim, 0, 0, 0], `${label}.params`);
    const bindGroup = this.bindGroup('kv_store', [params, this.step, k, v, kCache, vCache], label);
    return {
      encode: (pass, nTokens) => {
        pass.setPipeline(this.pipelines.get('kv_store'));
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(ceilDiv(nTokens * kvDim / perInvocation, WORKGROUP_SIZE));
      },
    };
  }

  /**
   * Causal GQA attention of q [n][heads][headDim] over the caches; writes out [n][heads][headDim].
   * softCap > 0: scores become softCap * tanh(score / softCap) (Gemma's attn_logit_softcapping).
   */
  attention(q, kCache, vCache, scores, out, { heads, kvHeads, headDim, context, window = 0, scale, softCap = 0, label = 'attention' }) {
    if (headDim > 512) throw new Error(`WebGPU attention: head_dim ${headDim} > 512`);
    const params = this.uniform([heads, kvHeads, headDim, context, window, { f32: scale }, { f32: softCap }, 0], `${label}.params`);
    const bindGroup = this.bindGroup('attention', [params, this.step, q, kCache, vCache, scores, out], label);
    return {
      encode: (pass, nTokens) => {
        pass.setPipeline(this.pipelines.get('attention'));
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(heads, nTokens);
      },
    };
  }

  /** gate = silu(gate) * up over [n][width]. */
  siluMul(gate, up, { n, label = 'silu_mul' }) {
    return this.gated('silu_mul', gate, up, n, 0, label);
  }

  /** gate = gelu_tanh(gate) * up over [n][width] (Gemma's GeGLU). */
  geluTanhMul(gate, up, { n, label = 'gelu_tanh_mul' }) {
    return this.gated('gelu_tanh', gate, up, n, GELU_GATED, label);
  }

  /** x = gelu_tanh(x) over [n][width] (GPT-2's MLP). */
  geluTanh(x, { n, label = 'gelu_tanh' }) {
    return this.gated('gelu_tanh', x, this.dummy, n, 0, label);
  }

  gated(op, gate, up, n, flags, label) {
    const params = this.uniform([n, flags, 0, 0], `${label}.params`);
    const bindGroup = this.bindGroup(op, [params, this.step, gate, up], label);
    return {
      encode: (pass, nTokens) => {
        pass.setPipeline(this.pipelines.get(op));
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(ceilDiv(nTokens * n, WORKGROUP_SIZE));
      },
    };
  }

  destroy() {
    for (const b of this.owned) b.destroy();
    this.owned = [];
  }
}
