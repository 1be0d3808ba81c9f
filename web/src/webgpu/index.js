// Kite's WebGPU backend: the forward pass of Llama-family, Gemma 3 and GPT-2 models on the GPU,
// fed from the weights the wasm engine already holds in its heap. The worker keeps tokenizing,
// templating and sampling in wasm (kite_wasm_gen_accept_logits) and asks this backend
// only for logits.
//
//   const avail = await webgpuAvailable();           // {ok, reason, adapterInfo, features}
//   const backend = await createWebGpuBackend(module, engine, info, {onProgress});
//   const logits = await backend.forward(Int32Array.of(...ids), startPos);
//
// Design notes, tolerances and measurements: README.md beside this file.

import { webgpuAvailable, createDevice, describeAdapter } from './device.js';
import { loadShaderSources, PipelineCache, defaultShaderBaseUrl, KV_STORAGES } from './shaders.js';
import { Ops } from './ops.js';
import { normalizeConfig, unsupportedReason, tensorTable, graphKind } from './model.js';
import { LlamaGraph } from './llama_graph.js';
import { Gemma3Graph } from './gemma3_graph.js';
import { Gpt2Graph } from './gpt2_graph.js';

const GRAPHS = { llama: LlamaGraph, gemma3: Gemma3Graph, gpt2: Gpt2Graph };

export { webgpuAvailable };

/**
 * How the KV cache is stored for the kvCache option on a device with these features:
 * 'auto' and 'f16' give f16 values, as f16 with shader-f16 and as halves packed two per u32
 * without it ('f16-packed', the same bytes); 'f32' gives f32; 'f16-packed' forces the packing.
 * kvDim odd (no real model) cannot be packed: f32 then.
 * @returns {'f32'|'f16'|'f16-packed'}
 */
export function kvStorageFor(kvCache = 'auto', features, kvDim = 2) {
  const choices = ['auto', ...KV_STORAGES];
  if (!choices.includes(kvCache)) {
    throw new Error(`WebGPU backend: kvCache must be one of ${choices.map((c) => `'${c}'`).join(', ')}, not '${kvCache}'`);
  }
  if (kvCache === 'f32') return 'f32';
  if (kvCache !== 'f16-packed' && features.has('shader-f16')) return 'f16';
  return kvDim % 2 === 0 ? 'f16-packed' : 'f32';
}

/**
 * @param module  the Emscripten module (HEAPU8 is read for the weights)
 * @param {number} engine  the engine pointer (kept for the API; the weights come through info)
 * @param info  parsed kite_wasm_engine_info_json(engine)
 * @param {{onProgress?: (fraction:number, detail:{doneBytes:number,totalBytes:number})=>void,
 *          contextTokens?: number, maxBatch?: number, shaderBaseUrl?: string, disableSubgroups?: boolean,
 *          activations?: 'q8'|'f32', kvCache?: 'auto'|'f16'|'f16-packed'|'f32', shaderSources?: Record<string,string>}} options
 *   shaderSources: the WGSL texts (WGSL_SOURCES of wgsl_sources.js) instead of fetching them.
 *   activations (default 'q8'): how q8/q4 weights are multiplied. 'q8' quantizes activations to
 *   int8 per 32 columns like the CPU kernels, so WebGPU and wasm compute the same numbers; 'f32'
 *   keeps activations f32 (closer to the unquantized model, differs from wasm by ~1e-4 NMSE).
 *   kvCache (default 'auto', same as 'f16'): f16 values (half the cache memory and attention
 *   reads; the wasm engine's default cache is f16 too), held as f16 where the device has shader-f16
 *   and as halves packed two per u32 elsewhere; 'f32': f32 values (exact comparisons);
 *   'f16-packed': the packing even with shader-f16 (tests). kvStorageFor says which.
 */
export async function createWebGpuBackend(module, engine, info, options = {}) {
  const cfg = normalizeConfig(info);
  const reason = unsupportedReason(cfg);
  if (reason) throw new Error(`WebGPU backend: ${reason}`);
  // The heap no longer holds the artifact's bytes for those tensors (kite_wasm_engine_rearrange_weights).
  if (info.rearranged_tensors > 0) {
    throw new Error(`WebGPU backend: the engine rearranged ${info.rearranged_tensors} weight tensors for the wasm kernels; create the WebGPU backend before rearranging`);
  }
  const { adapter, device, features, limits } = await createDevice({ disableSubgroups: options.disableSubgroups });
  try {
    const sources = options.shaderSources || await loadShaderSources(options.shaderBaseUrl || defaultShaderBaseUrl());
    const kvStorage = kvStorageFor(options.kvCache, features, cfg.num_kv_heads * cfg.head_dim);
    const ops = new Ops(device, new PipelineCache(device, sources, { subgroups: features.has('subgroups'), kvStorage }));
    // Else the runtime's default, as the engine reports it (DefaultContextTokens, runtime/llm/session.h).
    const requestedContext = options.contextTokens || info.default_context_tokens;
    if (!(requestedContext > 0)) throw new Error('WebGPU backend: no contextTokens and no default_context_tokens in the engine info');
    const contextTokens = Math.max(1, Math.floor(requestedContext));
    const maxBatch = Math.max(1, Math.floor(options.maxBatch || 32));
    // dot4I8Packed (the int8 path) is a WGSL language feature; without it, activations stay f32.
    const int8Dot = !navigator.gpu.wgslLanguageFeatures || navigator.gpu.wgslLanguageFeatures.has('packed_4x8_integer_dot_product');
    const activations = options.activations === 'f32' || !int8Dot ? 'f32' : 'q8';
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    const Graph = GRAPHS[graphKind(cfg)];
    const graph = new Graph({
      device, ops, cfg, table: tensorTable(module, info), contextTokens, maxBatch, activations, kvStorage,
      maxBindingBytes: limits.maxStorageBufferBindingSize,
      onProgress: options.onProgress ? (done, total) => options.onProgress(total ? done / total : 1, { doneBytes: done, totalBytes: total }) : undefined,
    });
    const oom = await device.popErrorScope();
    const invalid = await device.popErrorScope();
    if (oom) throw new Error(`WebGPU backend: out of GPU memory while uploading weights: ${oom.message}`);
    if (invalid) throw new Error(`WebGPU backend: ${invalid.message}`);
    const adapterInfo = describeAdapter(adapter);
    // A lost device (driver reset, GPU process crash, a mobile browser reclaiming the GPU) fails
    // every later call; `lost` tells the worker so it can rebuild the backend or go back to wasm.
    let lostMessage = null;
    const lost = device.lost.then((i) => {
      if (i.reason === 'destroyed') return null;  // our own destroy()
      lostMessage = i.message || 'no reason given';
      return lostMessage;
    });
    return {
      name: 'webgpu',
      features: [...features],
      activations,
      kvFormat: kvStorage === 'f32' ? 'f32' : 'f16',
      kvStorage,
      adapterInfo,
      contextTokens,
      maxBatch,
      weightBytes: graph.weightBytes,
      kvBytes: graph.kvBytes,
      lost,
      // A copy: calls are queued, and the caller may reuse its array (or a view of the wasm heap).
      forward: (ids, startPos) => {
        if (lostMessage !== null) return Promise.reject(new Error(`WebGPU device lost: ${lostMessage}`));
        return graph.forward(Int32Array.from(ids), startPos);
      },
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
