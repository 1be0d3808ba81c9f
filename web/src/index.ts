// Kite in the browser, page side. `load()` starts a Web Worker (worker.ts) that owns the
// runtime and the model; every method here is a message to it, so the page never blocks on
// inference. Every failure is a rejected promise carrying a KiteError with a code and a message.
//
//   import { load } from '@kite/web';
//   const model = await load('/models/model.kite', { onProgress: p => console.log(p.loadedBytes) });
//   for await (const piece of model.chat([{ role: 'user', content: 'Hi' }])) out.textContent += piece;
//   console.log(model.stats);   // backend, tok/s of prefill and decode
import type { Reply, Request, WireSource } from './protocol.js';
import {
  type ChatMessage, type GenerateOptions, type GenerationResult, type GenerationStats, KiteError, type LoadOptions,
  type ModelInfo, type ModelSource, type ToolCallHandler,
} from './types.js';

export * from './types.js';
export { cachedUrls, clearCache, CACHE_NAME } from './loader.js';

/** What this browser offers Kite, for messages such as "no WebGPU here". */
export interface Capabilities {
  /** navigator.gpu exists (an adapter may still be refused: see webgpuAdapter()). */
  webgpu: boolean;
  /** SharedArrayBuffer is usable: the page is cross-origin isolated (COOP/COEP). */
  threads: boolean;
  crossOriginIsolated: boolean;
  /** WebAssembly SIMD128 validates. */
  simd: boolean;
  hardwareConcurrency: number;
}

// The smallest module with a v128 instruction (i32x4.splat); validates only where SIMD128 exists.
// Type () -> v128; one function: i32.const 0; i32x4.splat; end.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0,
  65, 0, 253, 17, 11]);

export function capabilities(): Capabilities {
  const g = globalThis as typeof globalThis & { crossOriginIsolated?: boolean };
  let simd = false;
  try {
    simd = WebAssembly.validate(SIMD_PROBE);
  } catch {
    simd = false;
  }
  return {
    webgpu: typeof navigator !== 'undefined' && 'gpu' in navigator,
    threads: g.crossOriginIsolated === true && typeof SharedArrayBuffer !== 'undefined',
    crossOriginIsolated: g.crossOriginIsolated === true,
    simd,
    hardwareConcurrency: typeof navigator !== 'undefined' ? navigator.hardwareConcurrency || 1 : 1,
  };
}

/** Resolves to a description of the WebGPU adapter, or null when the browser gives none. */
export async function webgpuAdapter(): Promise<string | null> {
  // Typed locally: the DOM lib of TypeScript 5.9 has no WebGPU types.
  type AdapterInfo = { vendor?: string; architecture?: string; description?: string };
  type GpuLike = { requestAdapter(): Promise<{ info?: AdapterInfo } | null> };
  const gpu = (navigator as Navigator & { gpu?: GpuLike }).gpu;
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter();
  if (!adapter) return null;
  const info = adapter.info;
  return [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'WebGPU adapter';
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: KiteError): void;
  onToken?(text: string, tokenId: number): void;
  onProgress?: LoadOptions['onProgress'];
}

/** The pieces of text of one generation, as they come. Iterate it with `for await`; leaving
 * the loop early aborts the generation. `result` resolves when it ends. */
export class TokenStream implements AsyncIterable<string> {
  readonly result: Promise<GenerationResult>;
  private readonly queue: string[] = [];
  private waiting: ((r: IteratorResult<string>) => void) | null = null;
  private failWaiting: ((e: KiteError) => void) | null = null;
  private finished = false;
  private error: KiteError | null = null;

  /** @internal */
  constructor(start: (push: (text: string) => void) => Promise<GenerationResult>, private readonly onEarlyExit: () => void) {
    this.result = start((text) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = this.failWaiting = null;
        w({ value: text, done: false });
      } else {
        this.queue.push(text);
      }
    });
    this.result.then(() => {
      this.finished = true;
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = this.failWaiting = null;
        w({ value: undefined, done: true });
      }
    }, (e: KiteError) => {
      this.finished = true;
      this.error = e;
      if (this.failWaiting) {
        const f = this.failWaiting;
        this.waiting = this.failWaiting = null;
        f(e);
      }
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<string> {
    return {
      next: () => {
        if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false });
        if (this.error) return Promise.reject(this.error);
        if (this.finished) return Promise.resolve({ value: undefined, done: true });
        return new Promise<IteratorResult<string>>((resolve, reject) => {
          this.waiting = resolve;
          this.failWaiting = reject;
        });
      },
      return: async () => {
        if (!this.finished) {
          this.onEarlyExit();
          await this.result.catch(() => undefined);
        }
        return { value: undefined, done: true };
      },
    };
  }

  /** The whole text, once the generation has ended. */
  async text(): Promise<string> {
    return (await this.result).text;
  }
}

/** A model loaded in its own worker. */
export class KiteModel {
  /** The last generation's statistics (null before the first one ends). */
  stats: GenerationStats | null = null;
  /** Called with each tool call the model writes (`<tool_call>{json}</tool_call>` syntax).
   * A placeholder of the tools issue: the call is reported, the generation goes on; answering
   * it into the conversation comes with that issue. */
  onToolCall: ToolCallHandler | null = null;

  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private running = 0;
  private dead: KiteError | null = null;

  /** @internal use load() */
  constructor(private readonly worker: Worker, private readonly abortFlag: Int32Array | null, public info: ModelInfo) {}

  /** @internal */
  static async start(worker: Worker, source: WireSource, options: LoadOptions, transfer: Transferable[]): Promise<KiteModel> {
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
    const abortBuffer = isolated && typeof SharedArrayBuffer !== 'undefined' ? new SharedArrayBuffer(4) : null;
    const model = new KiteModel(worker, abortBuffer ? new Int32Array(abortBuffer) : null, null as unknown as ModelInfo);
    worker.onmessage = (e: MessageEvent<Reply>) => model.receive(e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      model.fail(new KiteError('runtime_missing', `the Kite worker failed: ${e.message || 'could not start (check workerUrl)'}`));
    };
    const base = new URL('.', import.meta.url);
    const hc = typeof navigator !== 'undefined' ? navigator.hardwareConcurrency || 1 : 1;
    const request: Request & { abortFlag?: SharedArrayBuffer } = {
      type: 'load',
      id: 0,
      source,
      backend: options.backend ?? 'auto',
      threads: options.threads ?? Math.min(hc, 4),
      verifyChecksums: options.verifyChecksums ?? false,
      context: options.context ?? 0,
      kvFormat: options.kvFormat ?? 'f16',
      runtimeUrl: new URL(String(options.runtimeUrl ?? '../wasm/'), base).href,
      threadsRuntimeUrl: new URL(String(options.threadsRuntimeUrl ?? '../wasm-threads/'), base).href,
      webgpuUrl: new URL(String(options.webgpuUrl ?? './webgpu/index.js'), base).href,
    };
    if (options.backend && !['auto', 'webgpu', 'wasm'].includes(options.backend)) {
      throw new KiteError('invalid_argument', `backend must be 'auto', 'webgpu' or 'wasm', not '${options.backend}'`);
    }
    if (options.kvFormat && !['f16', 'f32', 'q8'].includes(options.kvFormat)) {
      throw new KiteError('invalid_argument', `kvFormat must be 'f16', 'f32' or 'q8', not '${options.kvFormat}'`);
    }
    if (options.threads !== undefined && !(Number.isInteger(options.threads) && options.threads >= 1)) {
      throw new KiteError('invalid_argument', `threads must be a positive integer, not ${options.threads}`);
    }
    if (abortBuffer) request.abortFlag = abortBuffer;
    model.info = (await model.call(request, transfer, { onProgress: options.onProgress })) as ModelInfo;
    return model;
  }

  private receive(msg: Reply): void {
    if (msg.type === 'log') {
      (msg.level === 'warn' ? console.warn : console.debug)(`[kite] ${msg.message}`);
      return;
    }
    if (msg.type === 'backend') {
      this.info = msg.info;
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    switch (msg.type) {
      case 'progress':
        p.onProgress?.(msg.progress);
        break;
      case 'token':
        p.onToken?.(msg.text, msg.tokenId);
        break;
      case 'tool_call':
        try {
          this.onToolCall?.(msg.call);
        } catch (e) {
          console.error('[kite] onToolCall threw', e);
        }
        break;
      case 'loaded':
        this.pending.delete(msg.id);
        p.resolve(msg.info);
        break;
      case 'done':
        this.pending.delete(msg.id);
        this.stats = msg.result.stats;
        p.resolve(msg.result);
        break;
      case 'value':
        this.pending.delete(msg.id);
        p.resolve(msg.value);
        break;
      case 'error':
        this.pending.delete(msg.id);
        p.reject(new KiteError(msg.code, msg.message));
        break;
    }
  }

  private fail(error: KiteError): void {
    this.dead = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    this.worker.terminate();
  }

  private call(request: Request, transfer: Transferable[] = [], hooks: Partial<Pending> = {}): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = request.type === 'load' ? 0 : this.nextId++;
    (request as { id: number }).id = id;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, ...hooks });
      this.worker.postMessage(request, transfer);
    });
  }

  private stream(request: Omit<Extract<Request, { type: 'generate' }>, 'id'>): TokenStream {
    return new TokenStream((push) => {
      if (this.running > 0) {
        return Promise.reject(new KiteError('busy', 'a generation is already running on this model; abort() it or wait'));
      }
      this.running++;
      if (this.abortFlag) Atomics.store(this.abortFlag, 0, 0);
      const done = this.call({ ...request, id: 0 } as Request, [], { onToken: (text) => push(text) }) as
        Promise<GenerationResult>;
      return done.finally(() => this.running--);
    }, () => this.abort());
  }

  /** Answers a conversation: the model's chat template (applied by the runtime) turns the
   * messages into the prompt. Rejects with code 'no_template' for models without one. */
  chat(messages: ChatMessage[], options: GenerateOptions = {}): TokenStream {
    if (!Array.isArray(messages) || messages.length === 0) {
      return new TokenStream(() => Promise.reject(new KiteError('invalid_argument', 'chat() needs a non-empty array of messages')), () => {});
    }
    return this.stream({ type: 'generate', messages, options });
  }

  /** Continues raw text (no template), or a list of token ids. */
  generate(prompt: string | number[], options: GenerateOptions = {}): TokenStream {
    return typeof prompt === 'string'
      ? this.stream({ type: 'generate', prompt, options })
      : this.stream({ type: 'generate', promptIds: Array.from(prompt), options });
  }

  /** Stops the running generation before its next token; its stream ends normally with
   * finishReason 'aborted'. */
  abort(): void {
    if (this.abortFlag) Atomics.store(this.abortFlag, 0, 1);
    if (!this.dead) this.worker.postMessage({ type: 'abort' } satisfies Request);
  }

  async tokenize(text: string, options: { parseSpecial?: boolean } = {}): Promise<number[]> {
    return (await this.call({ type: 'tokenize', id: 0, text, parseSpecial: options.parseSpecial ?? false })) as number[];
  }

  async detokenize(ids: number[]): Promise<string> {
    return (await this.call({ type: 'detokenize', id: 0, ids: Array.from(ids) })) as string;
  }

  /** The prompt text the chat template makes of these messages. */
  async applyTemplate(messages: ChatMessage[], addGenerationPrompt = true): Promise<string> {
    return (await this.call({ type: 'template', id: 0, messages, addGenerationPrompt })) as string;
  }

  /** Logits [vocab] of the last id after evaluating ids in a fresh context, on the backend in
   * use (for parity checks between WebGPU and wasm). */
  async evaluate(ids: number[]): Promise<Float32Array> {
    return (await this.call({ type: 'evaluate', id: 0, ids: Array.from(ids) })) as Float32Array;
  }

  /** Frees the model and stops the worker. */
  async unload(): Promise<void> {
    if (this.dead) return;
    try {
      await this.call({ type: 'unload', id: 0 });
    } finally {
      this.fail(new KiteError('unloaded', 'the model was unloaded'));
    }
  }
}

function toWireSource(source: ModelSource, cache: boolean): { wire: WireSource; transfer: Transferable[] } {
  if (typeof source === 'string' || source instanceof URL) {
    const url = new URL(String(source), globalThis.location?.href).href;
    return { wire: { kind: 'url', url, cache }, transfer: [] };
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    const name = typeof File !== 'undefined' && source instanceof File ? source.name : 'blob';
    return { wire: { kind: 'file', file: source, name }, transfer: [] };
  }
  if (source instanceof ArrayBuffer) return { wire: { kind: 'buffer', buffer: source }, transfer: [source] };
  if (source instanceof Uint8Array) {
    const copy = source.slice().buffer;
    return { wire: { kind: 'buffer', buffer: copy }, transfer: [copy] };
  }
  throw new KiteError('invalid_argument', 'load() takes a URL, a File/Blob, an ArrayBuffer or a Uint8Array');
}

/** Loads a .kite model in a new worker. A URL is streamed (progress from Content-Length) and
 * kept in Cache Storage (see clearCache()); an ArrayBuffer is transferred to the worker (it is
 * detached here). */
export async function load(source: ModelSource, options: LoadOptions = {}): Promise<KiteModel> {
  const { wire, transfer } = toWireSource(source, options.cache ?? true);
  if (typeof Worker === 'undefined') throw new KiteError('runtime_missing', 'this environment has no Web Workers');
  const workerUrl = options.workerUrl ?? new URL('./worker.js', import.meta.url);
  let worker: Worker;
  try {
    worker = new Worker(workerUrl, { type: 'module', name: 'kite' });
  } catch (e) {
    throw new KiteError('runtime_missing', `could not start the Kite worker ${String(workerUrl)}: ${(e as Error).message}`);
  }
  try {
    return await KiteModel.start(worker, wire, options, transfer);
  } catch (e) {
    worker.terminate();
    throw e instanceof KiteError ? e : new KiteError('runtime', String((e as Error)?.message ?? e));
  }
}
