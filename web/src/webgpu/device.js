// Adapter and device for Kite's WebGPU backend.
//
// Kite drives WebGPU through the JavaScript API (navigator.gpu) from the worker or the
// page, not through Emscripten's webgpu.h: Debian's emscripten 3.1.6 ships a webgpu.h
// that predates the API today's Chromium exposes (adapter.info, subgroups, the
// requestAdapterInfo removal), while the JS API is what browsers actually implement.
// The wasm module only provides the weights (in its heap) and does the sampling.

/** Optional features the shaders use when present. */
export const OPTIONAL_FEATURES = ['subgroups', 'shader-f16'];

function gpuOf(scope) {
  return scope && scope.navigator && scope.navigator.gpu ? scope.navigator.gpu : null;
}

/**
 * Whether WebGPU can run Kite here.
 * @returns {Promise<{ok: boolean, reason: string, adapterInfo: object|null, features: string[]}>}
 */
export async function webgpuAvailable() {
  const gpu = gpuOf(globalThis);
  if (!gpu) return { ok: false, reason: 'navigator.gpu is missing (no WebGPU in this browser or context)', adapterInfo: null, features: [] };
  let adapter = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { ok: false, reason: `requestAdapter() threw: ${e && e.message ? e.message : e}`, adapterInfo: null, features: [] };
  }
  if (!adapter) return { ok: false, reason: 'requestAdapter() returned no adapter', adapterInfo: null, features: [] };
  return { ok: true, reason: '', adapterInfo: describeAdapter(adapter), features: [...adapter.features].sort() };
}

/** A plain-object copy of adapter.info plus the limits that size Kite's buffers. */
export function describeAdapter(adapter) {
  const info = adapter.info || {};
  return {
    vendor: info.vendor || '',
    architecture: info.architecture || '',
    device: info.device || '',
    description: info.description || '',
    isFallbackAdapter: Boolean(info.isFallbackAdapter || adapter.isFallbackAdapter),
    subgroupMinSize: info.subgroupMinSize,
    subgroupMaxSize: info.subgroupMaxSize,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  };
}

/**
 * Requests a device with the optional features the adapter has and its largest buffer limits.
 * @param {{disableSubgroups?: boolean}} options  tests force the shared-memory path with it
 * @returns {Promise<{adapter: GPUAdapter, device: GPUDevice, features: Set<string>, limits: object}>}
 */
export async function createDevice(options = {}) {
  const gpu = gpuOf(globalThis);
  if (!gpu) throw new Error('WebGPU: navigator.gpu is missing');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('WebGPU: requestAdapter() returned no adapter');
  const wanted = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !(options.disableSubgroups && f === 'subgroups'));
  const requiredLimits = {
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBuffersPerShaderStage: Math.min(adapter.limits.maxStorageBuffersPerShaderStage, 10),
  };
  const device = await adapter.requestDevice({ requiredFeatures: wanted, requiredLimits });
  device.lost.then((info) => {
    if (info.reason !== 'destroyed') console.error(`WebGPU device lost: ${info.message}`);
  });
  return { adapter, device, features: new Set(wanted), limits: requiredLimits };
}
