// Kite's WebGPU backend: the forward pass of Llama-family models on the GPU, fed from
// the weights the wasm engine already holds in its heap. The worker keeps tokenizing,
// templating and sampling in wasm (kite_wasm_gen_accept_logits) and asks this backend
// only for logits.
//
//   const avail = await webgpuAvailable();           // {ok, reason, adapterInfo, features}
//   const backend = await createWebGpuBackend(module, engine, info, {onProgress});
//   const logits = await backend.forward(Int32Array.of(...ids), startPos);
//
// Design notes, tolerances and measurements: README.md beside this file.

import { webgpuAvailable, createDevice, describeAdapter } from './device.js';
import { loadShaderSources, PipelineCache, defaultShaderBaseUrl } from './shaders.js';
import { Ops } from './ops.js';
import { normalizeConfig, unsupportedReason, tensorTable } from './model.js';
import { LlamaGraph } from './llama_graph.js';

export { webgpuAvailable };

/** 'f16' or 'f32' for the kvCache option on a device with these features; throws on 'f16' without shader-f16. */
export function kvFormatFor(kvCache = 'auto', features) {
  if (kvCache === 'f32') return 'f32';
  if (kvCache === 'f16') {
    if (!features.has('shader-f16')) throw new Error("WebGPU backend: kvCache 'f16' needs the adapter feature shader-f16, which this adapter lacks (use 'auto' or 'f32')");
    return 'f16';
  }
  if (kvCache !== 'auto') throw new Error(`WebGPU backend: kvCache must be 'auto', 'f16' or 'f32', not '${kvCache}'`);
  return features.has('shader-f16') ? 'f16' : 'f32';
}

/**
 * @param module  the Emscripten module (HEAPU8 is read for the weights)
 * @param {number} engine  the engine pointer (kept for the API; the weights come through info)
 * @param info  parsed kite_wasm_engine_info_json(engine)
 * @param {{onProgress?: (fraction:number, detail:{doneBytes:number,totalBytes:number})=>void,
 *          contextTokens?: number, maxBatch?: number, shaderBaseUrl?: string, disableSubgroups?: boolean,
 *          activations?: 'q8'|'f32', kvCache?: 'auto'|'f16'|'f32', shaderSources?: Record<string,string>}} options
 *   shaderSources: the WGSL texts (WGSL_SOURCES of wgsl_sources.js) instead of fetching them.
 *   activations (default 'q8'): how q8/q4 weights are multiplied. 'q8' quantizes activations to
 *   int8 per 32 columns like the CPU kernels, so WebGPU and wasm compute the same numbers; 'f32'
 *   keeps activations f32 (closer to the unquantized model, differs from wasm by ~1e-4 NMSE).
 *   kvCache (default 'auto'): the KV cache's element type. 'auto' is f16 where the device has
 *   shader-f16 (half the cache memory and attention reads; the wasm engine's default cache is f16
 *   too), else f32. 'f16' without shader-f16 is an error; 'f32' always works.
 */
export async function createWebGpuBackend(module, engine, info, options = {}) {
  const cfg = normalizeConfig(info);
  const reason = unsupportedReason(cfg);
  if (reason) throw new Error(`WebGPU backend: ${reason}`);
  const { adapter, device, features, limits } = await createDevice({ disableSubgroups: options.disableSubgroups });
  try {
    const sources = options.shaderSources || await loadShaderSources(options.shaderBaseUrl || defaultShaderBaseUrl());
    const kvFormat = kvFormatFor(options.kvCache, features);
    const ops = new Ops(device, new PipelineCache(device, sources, { subgroups: features.has('subgroups'), kvHalf: kvFormat === 'f16' }));
    const requestedContext = options.contextTokens || info.context_tokens || Math.min(cfg.max_position_embeddings || 2048, 2048);
    const contextTokens = Math.max(1, Math.floor(requestedContext));
    const maxBatch = Math.max(1, Math.floor(options.maxBatch || 32));
    // dot4I8Packed (the int8 path) is a WGSL language feature; without it, activations stay f32.
    const int8Dot = !navigator.gpu.wgslLanguageFeatures || navigator.gpu.wgslLanguageFeatures.has('packed_4x8_integer_dot_product');
    const activations = options.activations === 'f32' || !int8Dot ? 'f32' : 'q8';
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    const graph = new LlamaGraph({
      device, ops, cfg, table: tensorTable(module, info), contextTokens, maxBatch, activations, kvFormat,
      maxBindingBytes: limits.maxStorageBufferBindingSize,
      onProgress: options.onProgress ? (done, total) => options.onProgress(total ? done / total : 1, { doneBytes: done, totalBytes: total }) : undefined,
    });
    const oom = await device.popErrorScope();
    const invalid = await device.popErrorScope();
    if (oom) throw new Error(`WebGPU backend: out of GPU memory while uploading weights: ${oom.message}`);
    if (invalid) throw new Error(`WebGPU backend: ${invalid.message}`);
    const adapterInfo = describeAdapter(adapter);
    return {
      name: 'webgpu',
      features: [...features],
      activations,
      kvFormat,
      adapterInfo,
      contextTokens,
      maxBatch,
      weightBytes: graph.weightBytes,
      kvBytes: graph.kvBytes,
      // A copy: calls are queued, and the caller may reuse its array (or a view of the wasm heap).
      forward: (ids, startPos) => graph.forward(Int32Array.from(ids), startPos),
      // The cache is written before it is read at every position, so forgetting it needs no GPU work.
      reset() {},
      destroy() {
        graph.destroy();
        ops.destroy();
        device.destroy();
      },
    };
  } catch (e) {
    device.destroy();
    throw e;
  }
}
