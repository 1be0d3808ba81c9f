// The shape of the WebGPU backend module (web/src/webgpu/, written separately) as the worker
// uses it: it computes logits on the GPU from the engine's weights; the wasm runtime keeps the
// tokenizer, the sampler and the text.
import type { KiteModule } from './runtime.js';

export interface WebGpuBackend {
  readonly name: string;
  /** The KV cache's element type on the GPU (older backends may not say). */
  readonly kvFormat?: 'f16' | 'f32';
  /** Resolves with a message when the device is lost, with null after destroy() (older backends: absent). */
  readonly lost?: Promise<string | null>;
  /** Evaluates ids at positions startPos.. and resolves to the last id's logits [vocab]. */
  forward(ids: Int32Array, startPos: number): Promise<Float32Array>;
  /** Forgets the KV cache (a new conversation). */
  reset(): void;
  destroy(): void;
}

export interface WebGpuAvailability {
  ok: boolean;
  /** Why not, when ok is false. */
  reason?: string;
}

export interface WebGpuOptions {
  contextTokens?: number;
  /** Folder URL of the .wgsl files. */
  shaderBaseUrl?: string;
  /** 'auto': f16 values (f16 with shader-f16, else packed two per u32); 'f32': f32. */
  kvCache?: 'auto' | 'f16' | 'f32';
}

export interface WebGpuModule {
  webgpuAvailable(): Promise<WebGpuAvailability | boolean> | WebGpuAvailability | boolean;
  createWebGpuBackend(module: KiteModule, engine: number, info: Record<string, unknown>,
                      options?: WebGpuOptions): Promise<WebGpuBackend>;
}
