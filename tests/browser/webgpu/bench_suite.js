// Throughput (not a test: run.mjs --suite bench --models-dir DIR --models NAME): WebGPU
// prefill and decode tok/s on a .kite model, and the wasm CPU engine's in the same page.
// Nothing here is asserted; the numbers go to README.md with the adapter they came from.

import { createWebGpuBackend } from '../../../web/src/webgpu/index.js';
import { argmax, nmse } from './fixtures.js';
import { runSuite, log, check } from './harness.js';
import { weightsFromHeap } from './heap_weights.js';
import { ReferenceLlama } from './reference_model.js';
import { normalizeConfig } from '../../../web/src/webgpu/model.js';

const params = new URLSearchParams(location.search);
const shaderBaseUrl = new URL('../../../kernels/webgpu/', import.meta.url).href;
const PROMPT = Number(params.get('prompt') || 32), STEPS = Number(params.get('steps') || 8);
const CONTEXT = Math.max(Number(params.get('context') || 256), PROMPT + STEPS);

runSuite(async () => {
  const { default: createKiteModule } = await import(params.get('wasm'));
  const M = await createKiteModule();
  for (const name of (params.get('list') || '').split(',').filter(Boolean)) {
    const bytes = new Uint8Array(await (await fetch(`${params.get('models')}/${name}.kite`)).arrayBuffer());
    const ptr = M._kite_wasm_malloc(bytes.length);
    M.HEAPU8.set(bytes, ptr);
    const engine = M._kite_wasm_engine_create(ptr, bytes.length, 0);
    const info = JSON.parse(M.UTF8ToString(M._kite_wasm_engine_info_json(engine)));
    const V = info.config.vocab_size;
    let t0 = performance.now();
    const backend = await createWebGpuBackend(M, engine, info, { contextTokens: CONTEXT, maxBatch: 32, shaderBaseUrl,
      activations: params.get('activations') || 'q8', kvCache: params.get('kv_cache') || 'auto' });
    const loadMs = performance.now() - t0;
    const ids = Int32Array.from({ length: PROMPT }, (_, i) => (i * 7919 + 13) % V);
    await backend.forward(ids.subarray(0, 2), 0);  // warm-up: first submits compile pipelines
    t0 = performance.now();
    let logits = await backend.forward(ids, 0);
    const prefillMs = performance.now() - t0;
    t0 = performance.now();
    for (let s = 0; s < STEPS; ++s) logits = await backend.forward(Int32Array.of(argmax(logits)), PROMPT + s);
    const decodeMs = performance.now() - t0;
    // wasm CPU, same page, single-threaded build, greedy.
    const pp = M._kite_wasm_malloc(256);
    M.stringToUTF8(JSON.stringify({ temperature: 0, ignore_eos: true, max_tokens: 100000, context: CONTEXT, kv_format: backend.kvFormat }), pp, 256);
    const gen = M._kite_wasm_gen_create(engine, pp);
    const idp = M._kite_wasm_malloc(PROMPT * 4);
    M.HEAP32.set(ids, idp / 4);
    t0 = performance.now();
    M._kite_wasm_gen_prefill(gen, idp, PROMPT);
    const cpuPrefillMs = performance.now() - t0;
    const lp = M._kite_wasm_gen_logits(gen);
    const cpuLogits = M.HEAPF32.slice(lp / 4, lp / 4 + V);
    t0 = performance.now();
    for (let s = 0; s < STEPS; ++s) M._kite_wasm_gen_step(gen);
    const cpuDecodeMs = performance.now() - t0;
    const gpuPrompt = await backend.forward(ids, 0);
    log(`${name}: ${backend.adapterInfo.vendor}/${backend.adapterInfo.architecture} features [${backend.features}] activations ${backend.activations}` +
      ` ${backend.kvFormat} KV cache (${(backend.kvBytes / 2 ** 20).toFixed(1)} MiB for ${CONTEXT} tokens), prompt ${PROMPT}:` +
      ` upload+compile ${(loadMs / 1000).toFixed(1)} s; WebGPU prefill ${(PROMPT / prefillMs * 1000).toFixed(1)} tok/s,` +
      ` decode ${(STEPS / decodeMs * 1000).toFixed(2)} tok/s | wasm CPU (1 thread) prefill ${(PROMPT / cpuPrefillMs * 1000).toFixed(1)} tok/s,` +
      ` decode ${(STEPS / cpuDecodeMs * 1000).toFixed(2)} tok/s | prompt logits NMSE GPU vs CPU ${nmse(gpuPrompt, cpuLogits).toExponential(2)}`);
    check(`${name}: bench ran`, 0, 0);
    backend.destroy();
    // Real weights, first layers only: WebGPU vs the f64 reference (int8 activations like the
    // CPU when the backend uses them), where a compounding of 30 layers cannot hide a bug.
    for (const layers of [1, 2, info.config.num_layers]) {
      const cut = { ...info, config: { ...info.config, num_layers: layers } };
      const keep = (n) => !n.startsWith('model.layers.') || Number(n.split('.')[2]) < layers;
      const { values, quantized } = weightsFromHeap(M, cut, backend.activations === 'q8', keep);
      const reference = new ReferenceLlama(normalizeConfig(cut), values, quantized);
      const small = await createWebGpuBackend(M, engine, cut, { contextTokens: 16, maxBatch: 4, shaderBaseUrl, activations: backend.activations, kvCache: 'f32' });
      const few = ids.subarray(0, 4);
      let want;
      for (let i = 0; i < few.length; ++i) want = reference.step(few[i], i);
      const extra = layers === info.config.num_layers && PROMPT === 4 ? `, wasm CPU vs f64 reference ${nmse(cpuLogits, want).toExponential(2)}` : '';
      log(`${name}: first ${layers} layer(s): WebGPU vs f64 reference NMSE ${nmse(await small.forward(few, 0), want).toExponential(2)}${extra}`);
      small.destroy();
    }
    M._kite_wasm_gen_destroy(gen);
    M._kite_wasm_engine_destroy(engine);
    M._kite_wasm_free(ptr);
  }
});
