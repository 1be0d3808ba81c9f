// Types of web/src/webgpu/index.js (Kite's WebGPU backend).

export interface WebGpuAvailability {
  ok: boolean;
  /** Why WebGPU cannot be used ('' when ok). */
  reason: string;
  adapterInfo: {
    vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean;
    subgroupMinSize?: number; subgroupMaxSize?: number; maxStorageBufferBindingSize: number; maxBufferSize: number;
  } | null;
  features: string[];
}

export interface WebGpuBackendOptions {
  /** fraction in [0, 1] of the weight bytes uploaded so far. */
  onProgress?: (fraction: number, detail: { doneBytes: number; totalBytes: number }) => void;
  /** KV cache length in tokens (default: info.default_context_tokens, the runtime's default that the engine reports). */
  contextTokens?: number;
  /** Tokens per forward pass when a prompt is evaluated (default 32). */
  maxBatch?: number;
  /** Where kernels/webgpu/*.wgsl are served (default: the repository layout relative to this module). */
  shaderBaseUrl?: string;
  /** The WGSL texts (WGSL_SOURCES from wgsl_sources.js) instead of fetching them from shaderBaseUrl. */
  shaderSources?: Record<string, string>;
  /** Force the shared-memory reductions even when the adapter has subgroups (tests). */
  disableSubgroups?: boolean;
  /** 'q8' (default): q8/q4 weights multiply int8 activations like the CPU kernels; 'f32': f32 activations. */
  activations?: 'q8' | 'f32';
  /**
   * KV cache values. 'auto' (default) and 'f16': f16 (half the cache memory), held as f16 where the
   * adapter has shader-f16 and as halves packed two per u32 elsewhere; 'f32': f32; 'f16-packed':
   * the packing even with shader-f16 (tests).
   */
  kvCache?: 'auto' | 'f16' | 'f16-packed' | 'f32';
}

export interface WebGpuBackend {
  readonly name: 'webgpu';
  readonly features: string[];
  readonly activations: 'q8' | 'f32';
  /** The KV cache's values on the GPU. */
  readonly kvFormat: 'f16' | 'f32';
  /** How they are stored: f32, f16 (shader-f16) or halves packed two per u32. */
  readonly kvStorage: 'f32' | 'f16' | 'f16-packed';
  readonly adapterInfo: WebGpuAvailability['adapterInfo'];
  readonly contextTokens: number;
  readonly maxBatch: number;
  readonly weightBytes: number;
  readonly kvBytes: number;
  /**
   * Resolves with the browser's message when the device is lost (a driver reset, a GPU process
   * crash, the browser reclaiming the GPU); with null after destroy(). Every forward after a loss
   * rejects; the weights are still in the wasm heap, so a new backend can be created from them.
   */
  readonly lost: Promise<string | null>;
  /** Evaluates ids at positions startPos.. and resolves to the logits [vocab] of the last one. */
  forward(ids: Int32Array, startPos: number): Promise<Float32Array>;
  /** Forgets the conversation (positions restart at 0; the cache is overwritten as it is refilled). */
  reset(): void;
  destroy(): void;
}

export function webgpuAvailable(): Promise<WebGpuAvailability>;

/** The KV storage the kvCache option gives on a device with these features (kvDim odd: f32 instead of packing). */
export function kvStorageFor(kvCache: 'auto' | 'f16' | 'f16-packed' | 'f32' | undefined, features: Set<string>,
  kvDim?: number): 'f32' | 'f16' | 'f16-packed';

/**
 * @param module the Emscripten module (its HEAPU8 holds the weights)
 * @param engine the kite_engine pointer
 * @param info JSON.parse(kite_wasm_engine_info_json(engine))
 */
export function createWebGpuBackend(module: { HEAPU8: Uint8Array }, engine: number, info: Record<string, unknown>,
  options?: WebGpuBackendOptions): Promise<WebGpuBackend>;
