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
  /** KV cache length in tokens (default: info.context_tokens, else min(max_position_embeddings, 2048)). */
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
   * KV cache element type. 'auto' (default): f16 where the adapter has shader-f16 (half the cache
   * memory), else f32. 'f16' without shader-f16 rejects with an error.
   */
  kvCache?: 'auto' | 'f16' | 'f32';
}

export interface WebGpuBackend {
  readonly name: 'webgpu';
  readonly features: string[];
  readonly activations: 'q8' | 'f32';
  /** The KV cache's element type on the GPU. */
  readonly kvFormat: 'f16' | 'f32';
  readonly adapterInfo: WebGpuAvailability['adapterInfo'];
  readonly contextTokens: number;
  readonly maxBatch: number;
  readonly weightBytes: number;
  readonly kvBytes: number;
  /** Evaluates ids at positions startPos.. and resolves to the logits [vocab] of the last one. */
  forward(ids: Int32Array, startPos: number): Promise<Float32Array>;
  /** Forgets the conversation (positions restart at 0; the cache is overwritten as it is refilled). */
  reset(): void;
  destroy(): void;
}

export function webgpuAvailable(): Promise<WebGpuAvailability>;

/** The KV cache element type the kvCache option gives on a device with these features (throws on 'f16' without shader-f16). */
export function kvFormatFor(kvCache: 'auto' | 'f16' | 'f32' | undefined, features: Set<string>): 'f16' | 'f32';

/**
 * @param module the Emscripten module (its HEAPU8 holds the weights)
 * @param engine the kite_engine pointer
 * @param info JSON.parse(kite_wasm_engine_info_json(engine))
 */
export function createWebGpuBackend(module: { HEAPU8: Uint8Array }, engine: number, info: Record<string, unknown>,
  options?: WebGpuBackendOptions): Promise<WebGpuBackend>;
