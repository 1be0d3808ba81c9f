// Public types of the Kite web package: what `load()` accepts, what a model reports and what a
// generation returns. Shared by the page-side API (index.ts) and the worker (worker.ts).

/** Which compute backend runs the forward pass. 'auto' picks WebGPU when the browser gives an
 * adapter and the WebGPU backend supports the model, wasm otherwise. */
export type BackendChoice = 'auto' | 'webgpu' | 'wasm';

/** A model source: a URL (fetched with streaming progress and cached), a picked/dropped File,
 * or the bytes themselves. */
export type ModelSource = string | URL | File | Blob | ArrayBuffer | Uint8Array;

export interface LoadProgress {
  /** 'download': bytes from the network; 'cache': bytes from Cache Storage; 'read': a File or
   * buffer being copied into the heap; 'init': building the engine (loaded/total are 0). */
  phase: 'download' | 'cache' | 'read' | 'init';
  loadedBytes: number;
  /** 0 when the server sent no usable Content-Length. */
  totalBytes: number;
}

export interface LoadOptions {
  backend?: BackendChoice;
  /** Worker threads for the wasm backend. 1 forces the single-thread build; more needs
   * `crossOriginIsolated` (COOP/COEP headers). Default: min(navigator.hardwareConcurrency, 4). */
  threads?: number;
  onProgress?: (progress: LoadProgress) => void;
  /** Keep a URL's bytes in Cache Storage and read them from there next time (default true). */
  cache?: boolean;
  /** Recompute every tensor checksum at load (slower; default false). */
  verifyChecksums?: boolean;
  /** Context length in tokens for generations (default: the model's maximum, capped by the runtime at 4096). */
  context?: number;
  /** Row format of the KV cache: 'f16' (default, half the memory), 'f32' (exact f32 math, what
   * golden-output comparisons use) or 'q8'. On WebGPU 'q8' gives f16 (the GPU has no q8 cache);
   * ModelInfo.kvFormat says which is in use. */
  kvFormat?: 'f16' | 'f32' | 'q8';
  /** Where the runtime lives: a folder URL with kite.mjs/kite.wasm (single-thread build) and,
   * optionally, `threadsRuntimeUrl` with the pthreads build. Defaults: `../wasm/` and
   * `../wasm-threads/` next to this package's dist/ folder. */
  runtimeUrl?: string | URL;
  threadsRuntimeUrl?: string | URL;
  /** Module URL of the WebGPU backend (default: ./webgpu/index.js beside the worker). */
  webgpuUrl?: string | URL;
  /** Worker script URL (default: ./worker.js beside this file). */
  workerUrl?: string | URL;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** Free-form extra fields (tool_calls, name...) are passed to the chat template as they are. */
  [key: string]: unknown;
}

export interface GenerateOptions {
  /** Tokens to generate at most (default 256). */
  maxTokens?: number;
  /** <= 0: greedy (default 0.7). */
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  seed?: number;
  /** Generation ends when one of these strings appears (it is not returned). */
  stop?: string[];
  /** Keep generating past end-of-sequence tokens (benchmarks). */
  ignoreEos?: boolean;
  /** generate() only: parse special-token text such as `<|im_start|>` in the prompt (default false). */
  parseSpecial?: boolean;
  /** generate() only: prepend the model's BOS token when it has one (default true). */
  addBos?: boolean;
}

/** The model and runtime, as the worker reports them after load. */
export interface ModelInfo {
  architecture: string;
  config: Record<string, unknown>;
  bosId: number;
  eosIds: number[];
  hasChatTemplate: boolean;
  vocabSize: number;
  /** Bytes of the .kite artifact. */
  sizeBytes: number;
  backend: 'webgpu' | 'wasm';
  /** The wasm runtime's CPU kernel set: 'wasm-relaxed-simd' where the browser has relaxed SIMD and
   * the runtime folder has kite-relaxed.mjs, 'wasm-simd128' otherwise. */
  kernels: string;
  /** Weight tensors the wasm engine rearranged in its heap into its CPU kernels' own layout when
   * the model settled on wasm (the relaxed kernels' Q4 layout; platforms/wasm/README.md); 0 on
   * WebGPU, with the baseline kernels, or with nothing to rearrange. */
  rearrangedTensors: number;
  /** Why 'auto' did not pick WebGPU (empty when it did, or when wasm was asked for), or what
   * happened when a lost WebGPU device was replaced. */
  backendNote: string;
  /** The KV cache format in use (on WebGPU 'f16' or 'f32'). */
  kvFormat: 'f16' | 'f32' | 'q8';
  /** Positions a conversation can hold (the `context` option, or the model's maximum capped at
   * 4096), the same on either backend: a reply that reaches it ends with 'context_full'. */
  contextTokens: number;
  threads: number;
  crossOriginIsolated: boolean;
  /** Where the bytes came from. */
  source: 'network' | 'cache' | 'file' | 'buffer';
  loadMs: number;
}

/** 'masked': every token was masked out (the runtime's constrained sampling found nothing). */
export type FinishReason = 'eos' | 'stop_string' | 'max_tokens' | 'context_full' | 'masked' | 'aborted';

export interface GenerationStats {
  backend: 'webgpu' | 'wasm';
  threads: number;
  promptTokens: number;
  /** Leading prompt tokens already in the KV cache from the previous turns (not evaluated again). */
  cachedPromptTokens: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
  /** (promptTokens - cachedPromptTokens) / prefill seconds. */
  prefillTokensPerSecond: number;
  /** tokens after the first / decode seconds (the first token comes with the prefill). */
  decodeTokensPerSecond: number;
  finishReason: FinishReason;
}

export interface GenerationResult {
  text: string;
  tokenIds: number[];
  stats: GenerationStats;
}

/** A tool call the model wrote, as the worker detected it in the generated text.
 * Detection covers the `<tool_call>{"name": ..., "arguments": ...}</tool_call>` syntax of
 * Qwen2.5 / Hermes-style templates only; other families' syntaxes come with the tools issue. */
export interface ToolCall {
  name: string;
  arguments: unknown;
  /** The exact text between the tags. */
  raw: string;
}

/** Placeholder hook for tool use, filled by a later issue: today the page is told about each
 * detected call; it cannot yet answer it into the running generation. */
export type ToolCallHandler = (call: ToolCall) => void;

export type KiteErrorCode =
  | 'bad_file'        // not a .kite file, truncated, checksum mismatch, unsupported architecture
  | 'out_of_memory'   // the wasm heap could not hold the model or the context
  | 'no_webgpu'       // backend 'webgpu' asked for, but the browser has no adapter
  | 'network'         // fetch failed or returned an HTTP error
  | 'runtime_missing' // kite.mjs / kite.wasm could not be loaded
  | 'busy'            // a generation is already running on this model
  | 'no_template'     // chat() on a model without a chat template
  | 'unloaded'        // the model was unloaded
  | 'invalid_argument'
  | 'runtime';        // any other error the runtime reported

/** Every rejected promise of this package carries one of these. */
export class KiteError extends Error {
  readonly code: KiteErrorCode;
  constructor(code: KiteErrorCode, message: string) {
    super(message);
    this.name = 'KiteError';
    this.code = code;
  }
}
