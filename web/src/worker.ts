// The Web Worker that owns the model: it imports the runtime's ES6 module (the pthreads build
// when the page is cross-origin isolated), streams the .kite bytes into the wasm heap, builds
// the engine, picks WebGPU or wasm, and runs generations token by token. Between tokens it
// returns to its event loop, so an abort message is seen before the next token; when the page
// shares an abort flag (SharedArrayBuffer) that is checked too, without waiting for the message.
import { loadIntoHeap } from './loader.js';
import type {
  DetokenizeRequest, EvaluateRequest, GenerateRequest, LoadRequest, Reply, Request, TemplateRequest, TokenizeRequest,
} from './protocol.js';
import { type KiteModule, Runtime } from './runtime.js';
import { detectToolCalls } from './tool_calls.js';
import {
  type FinishReason, type GenerationResult, type GenerationStats, KiteError, type ModelInfo,
} from './types.js';
import type { WebGpuBackend, WebGpuModule } from './webgpu_contract.js';

declare const self: DedicatedWorkerGlobalScope;

interface Loaded {
  rt: Runtime;
  engine: number;
  modelPtr: number;
  info: ModelInfo;
  engineInfo: Record<string, unknown>;
  gpu: WebGpuBackend | null;
  // The conversation kept between generate calls, so the next turn only evaluates what its prompt
  // adds (kite_wasm_gen_reuse finds the shared prefix). gpuIds: the ids whose K/V rows the WebGPU
  // cache holds, in order (the last sampled token of a reply is never fed).
  chat: { gen: number; gpuIds: number[] } | null;
  // The load's choices (its context resolved: every generation and the GPU cache use it), which a
  // lost WebGPU device is also rebuilt from, and the threads wasm gets if it has to take over.
  req: LoadRequest;
  wasmThreads: number;
}

/** Thrown inside a turn when the GPU was lost and wasm took over: the turn continues there. */
class GpuGone extends Error {}

let loaded: Loaded | null = null;
let abortRequested = false;
let abortFlag: Int32Array | null = null;
let busy = false;

function post(reply: Reply, transfer: Transferable[] = []): void {
  self.postMessage(reply, transfer);
}

function warn(message: string): void {
  post({ type: 'log', level: 'warn', message });
}

function toKiteError(e: unknown): KiteError {
  if (e instanceof KiteError) return e;
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof RangeError && /memory|allocation|Array buffer/i.test(message)) {
    return new KiteError('out_of_memory', `out of memory: ${message}`);
  }
  if (/abort\(OOM\)|Aborted\(OOM\)|out of memory/i.test(message)) return new KiteError('out_of_memory', message);
  return new KiteError('runtime', message);
}

// One MessageChannel round trip: lets queued messages (abort) run, without setTimeout's clamping.
const yieldChannel = new MessageChannel();
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => {
    yieldChannel.port1.onmessage = () => resolve();
    yieldChannel.port2.postMessage(0);
  });
}

function aborted(): boolean {
  return abortRequested || (abortFlag !== null && Atomics.load(abortFlag, 0) !== 0);
}

// ---- load ---------------------------------------------------------------------------------

// Whether this engine compiles relaxed SIMD: a one-function module using
// i16x8.relaxed_dot_i8x16_i7x16_s (0xfd 0x112), the instruction the relaxed kernels need.
function relaxedSimdSupported(): boolean {
  const zeros = new Array(16).fill(0);
  const body = [0x00, 0xfd, 0x0c, ...zeros, 0xfd, 0x0c, ...zeros, 0xfd, 0x92, 0x02, 0x0b];
  try {
    return WebAssembly.validate(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01,
      0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a, body.length + 2, 0x01, body.length, ...body]));
  } catch {
    return false;
  }
}

// The runtime folder holds kite.mjs and, where the build had clang-19, kite-relaxed.mjs (the same
// runtime with relaxed-SIMD kernels, which only loads where the engine has relaxed SIMD): that one
// when this engine validates a relaxed opcode and the file is there, kite.mjs otherwise.
async function importRuntime(folderUrl: string, threads: boolean): Promise<KiteModule> {
  let moduleUrl = new URL('kite.mjs', folderUrl).href;
  let factory: ((opts: Record<string, unknown>) => Promise<KiteModule>) | null = null;
  if (relaxedSimdSupported()) {
    const relaxedUrl = new URL('kite-relaxed.mjs', folderUrl).href;
    try {
      factory = (await import(/* @vite-ignore */ relaxedUrl)).default;
      moduleUrl = relaxedUrl;
    } catch {
      // Not built (no clang-19): kite.mjs below.
    }
  }
  if (!factory) {
    try {
      factory = (await import(/* @vite-ignore */ moduleUrl)).default;
    } catch (e) {
      throw new KiteError('runtime_missing', `could not load the ${threads ? 'pthreads ' : ''}runtime ${moduleUrl}: ` +
        `${(e as Error).message}`);
    }
  }
  if (typeof factory !== 'function') throw new KiteError('runtime_missing', `${moduleUrl} has no default export factory`);
  try {
    return await factory({
      locateFile: (path: string) => new URL(path, folderUrl).href,
      mainScriptUrlOrBlob: moduleUrl,
      print: (line: string) => post({ type: 'log', level: 'info', message: line }),
      printErr: (line: string) => post({ type: 'log', level: 'warn', message: line }),
    });
  } catch (e) {
    throw new KiteError('runtime_missing', `the runtime ${moduleUrl} failed to start: ${(e as Error).message ?? e}`);
  }
}

async function pickGpu(req: LoadRequest, M: KiteModule, engine: number, engineInfo: Record<string, unknown>):
    Promise<{ gpu: WebGpuBackend | null; note: string }> {
  if (req.backend === 'wasm') return { gpu: null, note: '' };
  let note: string;
  const nav = self.navigator as WorkerNavigator & { gpu?: unknown };
  if (!nav.gpu) {
    note = 'this browser has no WebGPU (navigator.gpu is missing)';
  } else {
    let mod: WebGpuModule | null = null;
    try {
      mod = (await import(/* @vite-ignore */ req.webgpuUrl)) as WebGpuModule;
    } catch (e) {
      note = `the WebGPU backend could not be loaded from ${req.webgpuUrl}: ${(e as Error).message}`;
    }
    if (mod) {
      try {
        const avail = await mod.webgpuAvailable();
        const ok = typeof avail === 'boolean' ? avail : Boolean(avail?.ok);
        if (!ok) {
          const why = typeof avail === 'object' && avail?.reason ? avail.reason : 'navigator.gpu.requestAdapter() gave no adapter';
          note = `WebGPU is unavailable: ${why}`;
        } else {
          const gpu = await mod.createWebGpuBackend(M, engine, engineInfo, {
            contextTokens: req.context,
            // The GPU cache holds f16 or f32: kvFormat 'f32' keeps f32 (exact comparisons); 'f16'
            // (the default) and 'q8' get f16 (the GPU backend has no q8 cache).
            kvCache: req.kvFormat === 'f32' ? 'f32' : 'auto',
            // build.mjs copies kernels/webgpu/*.wgsl beside the backend's modules.
            shaderBaseUrl: new URL('wgsl/', req.webgpuUrl).href,
          });
          return { gpu, note: '' };
        }
      } catch (e) {
        note = `the WebGPU backend cannot run this model: ${(e as Error).message}`;
      }
    }
  }
  if (req.backend === 'webgpu') throw new KiteError('no_webgpu', `WebGPU was requested but ${note!}`);
  return { gpu: null, note: note! };
}

async function load(req: LoadRequest): Promise<ModelInfo> {
  if (loaded) throw new KiteError('busy', 'a model is already loaded in this worker');
  const t0 = performance.now();
  const isolated = self.crossOriginIsolated === true && typeof SharedArrayBuffer !== 'undefined';
  let threads = Math.max(1, Math.floor(req.threads));
  let notes: string[] = [];
  let M: KiteModule | null = null;
  if (threads > 1 && req.backend !== 'webgpu') {
    if (!isolated) {
      notes.push('threads need a cross-origin isolated page (COOP/COEP headers): running single-threaded');
      threads = 1;
    } else {
      try {
        M = await importRuntime(req.threadsRuntimeUrl, true);
      } catch (e) {
        notes.push(`${(e as Error).message}; running single-threaded`);
        threads = 1;
      }
    }
  } else {
    threads = 1;
  }
  if (!M) M = await importRuntime(req.runtimeUrl, false);
  const rt = new Runtime(M);

  const bytes = await loadIntoHeap(req.source, { alloc: (n) => rt.alloc(n), free: (p) => rt.free(p), heap: () => rt.heap() },
    (progress) => post({ type: 'progress', id: req.id, progress }), warn);
  post({ type: 'progress', id: req.id, progress: { phase: 'init', loadedBytes: 0, totalBytes: 0 } });
  const engine = M._kite_wasm_engine_create(bytes.ptr, bytes.size, req.verifyChecksums ? 1 : 0);
  if (!engine) {
    const err = rt.error('the model could not be loaded');
    rt.free(bytes.ptr);
    throw err;
  }
  let engineInfo: Record<string, unknown>;
  try {
    const json = M._kite_wasm_engine_info_json(engine);
    if (!json) throw rt.error('engine info');
    engineInfo = JSON.parse(rt.takeString(json));
  } catch (e) {
    M._kite_wasm_engine_destroy(engine);
    rt.free(bytes.ptr);
    throw toKiteError(e);
  }
  // One context for both backends: the asked-for length, else the runtime's default, which the
  // engine reports (DefaultContextTokens in runtime/llm/session.h). The wasm generation and the GPU
  // cache must agree, or a long reply would overrun the GPU's cache instead of ending with
  // 'context_full'.
  const defaultContext = Number(engineInfo.default_context_tokens);
  if (!(req.context > 0) && !(defaultContext > 0)) {
    M._kite_wasm_engine_destroy(engine);
    rt.free(bytes.ptr);
    throw new KiteError('runtime', 'the engine reported no default_context_tokens (a kite wasm module older than this package?)');
  }
  req = { ...req, context: req.context > 0 ? req.context : defaultContext };
  const { gpu, note } = await pickGpu(req, M, engine, engineInfo).catch((e) => {
    M!._kite_wasm_engine_destroy(engine);
    rt.free(bytes.ptr);
    throw e;
  });
  // On WebGPU the wasm runtime only tokenizes and samples: its threading does not matter.
  if (gpu) notes = [];
  // On wasm for good: the weights may take the layout the CPU kernels read fastest (the relaxed
  // module's Q4). A lost GPU device is the only way back to WebGPU, and it needs a GPU to start on.
  let rearrangedTensors = 0;
  if (!gpu && typeof M._kite_wasm_engine_rearrange_weights === 'function') {
    rearrangedTensors = M._kite_wasm_engine_rearrange_weights(engine);
    if (rearrangedTensors < 0) {
      const err = rt.error('rearranging the weights for the wasm kernels');
      M._kite_wasm_engine_destroy(engine);
      rt.free(bytes.ptr);
      throw err;
    }
  }
  if (note) notes.push(note);
  const config = (engineInfo.config ?? {}) as Record<string, unknown>;
  const info: ModelInfo = {
    architecture: String(engineInfo.architecture ?? ''),
    kernels: String(engineInfo.kernels ?? ''),
    rearrangedTensors,
    config,
    bosId: Number(engineInfo.bos_id ?? -1),
    eosIds: Array.isArray(engineInfo.eos_ids) ? (engineInfo.eos_ids as number[]) : [],
    hasChatTemplate: Boolean(engineInfo.has_chat_template),
    vocabSize: Number(config.vocab_size ?? engineInfo.vocab_size ?? 0),
    sizeBytes: bytes.size,
    backend: gpu ? 'webgpu' : 'wasm',
    backendNote: notes.join('; '),
    kvFormat: gpu ? (gpu.kvFormat ?? 'f32') : req.kvFormat,
    contextTokens: req.context,
    threads: gpu ? 1 : threads,
    crossOriginIsolated: isolated,
    source: bytes.source,
    loadMs: performance.now() - t0,
  };
  loaded = { rt, engine, modelPtr: bytes.ptr, info, engineInfo, gpu, chat: null, req, wasmThreads: threads };
  return info;
}

// ---- a lost GPU device ----------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function setBackend(l: Loaded, gpu: WebGpuBackend | null, note: string): void {
  l.gpu = gpu;
  const info = l.info;
  info.backend = gpu ? 'webgpu' : 'wasm';
  info.backendNote = note;
  info.kvFormat = gpu ? (gpu.kvFormat ?? 'f32') : l.req.kvFormat;
  info.threads = gpu ? 1 : l.wasmThreads;
  warn(note);
  post({ type: 'backend', info });
}

/**
 * After a GPU call failed: if the device was lost (a driver reset, a GPU process crash, a mobile
 * browser reclaiming the GPU), a new backend takes over, built from the weights still in the heap
 * (its cache starts empty: the caller evaluates the conversation again), or wasm does when no new
 * device comes and the load allowed it. Returns false when the failure was something else.
 */
async function recoverLostGpu(l: Loaded): Promise<boolean> {
  const gpu = l.gpu;
  if (!gpu?.lost) return false;
  // The loss is reported a moment after the call that failed on it, if it was one.
  const message = await Promise.race([gpu.lost, sleep(2000).then(() => null)]);
  if (message === null) return false;
  try {
    gpu.destroy();
  } catch { /* the device is gone already */ }
  l.gpu = null;
  const { gpu: fresh, note } = await pickGpu({ ...l.req, backend: 'auto' }, l.rt.M, l.engine, l.engineInfo);
  if (fresh) {
    setBackend(l, fresh, `the WebGPU device was lost (${message}); a new one took over`);
  } else if (l.req.backend === 'webgpu') {
    throw new KiteError('no_webgpu', `the WebGPU device was lost (${message}) and no new one could be made: ${note}`);
  } else {
    setBackend(l, null, `the WebGPU device was lost (${message}) and no new one could be made (${note}): running on wasm`);
  }
  return true;
}

/** backend 'webgpu' after a loss nothing replaced: try again, or fail with no_webgpu. */
async function requireGpu(l: Loaded): Promise<void> {
  if (l.gpu || l.req.backend !== 'webgpu') return;
  const { gpu } = await pickGpu(l.req, l.rt.M, l.engine, l.engineInfo);  // throws no_webgpu
  setBackend(l, gpu, 'a new WebGPU device took over after the last one was lost');
}

/**
 * held: the ids whose K/V rows the GPU cache holds, positions 0.. (updated). Evaluates `fresh` at
 * the positions after them; after a lost device, on a new one from position 0, or throws GpuGone
 * when wasm took over.
 */
async function gpuForward(l: Loaded, held: number[], fresh: number[]): Promise<Float32Array> {
  let logits: Float32Array;
  try {
    logits = await l.gpu!.forward(Int32Array.from(fresh), held.length);
  } catch (e) {
    if (!(await recoverLostGpu(l))) throw e;
    if (!l.gpu) throw new GpuGone();
    logits = await l.gpu.forward(Int32Array.from([...held, ...fresh]), 0);
  }
  held.push(...fresh);
  return logits;
}

// ---- generation ---------------------------------------------------------------------------

function promptIds(l: Loaded, req: GenerateRequest): number[] {
  const { rt, engine, info } = l;
  if (req.promptIds) return req.promptIds;
  if (req.messages) {
    if (!info.hasChatTemplate) {
      throw new KiteError('no_template', 'this model has no chat template: use generate(prompt) to complete text');
    }
    const prompt = rt.withCString(JSON.stringify(req.messages), (ptr) => {
      const out = l.rt.M._kite_wasm_apply_template(engine, ptr, 1);
      if (!out) throw rt.error('the chat template failed');
      return rt.takeString(out);
    });
    // The rendered template spells its special tokens as text.
    return rt.tokenize(engine, prompt, true);
  }
  const ids = rt.tokenize(engine, req.prompt ?? '', req.options.parseSpecial ?? false);
  if ((req.options.addBos ?? true) && info.bosId >= 0 && ids[0] !== info.bosId) ids.unshift(info.bosId);
  return ids;
}

function genParams(l: Loaded, req: GenerateRequest): string {
  const o = req.options;
  return JSON.stringify({
    temperature: o.temperature ?? 0.7,
    top_k: o.topK ?? 40,
    top_p: o.topP ?? 0.95,
    min_p: o.minP ?? 0.0,
    repetition_penalty: o.repetitionPenalty ?? 1.0,
    seed: o.seed ?? Math.floor(Math.random() * 2 ** 31),
    max_tokens: o.maxTokens ?? 256,
    stop: o.stop ?? [],
    ignore_eos: o.ignoreEos ?? false,
    context: l.req.context,
    threads: l.info.threads,
    kv_format: l.req.kvFormat,
  });
}

// The generation for this turn: the kept conversation with its shared prefix reused, or a new one.
function startTurn(l: Loaded, params: string, ids: number[]): { gen: number; cached: number } {
  const { rt } = l;
  const M = rt.M;
  if (l.chat) {
    const gen = l.chat.gen;
    const cached = rt.withCString(params, (pp) => rt.withInt32s(ids, (p) => M._kite_wasm_gen_reuse(gen, pp, p, ids.length)));
    if (cached >= 0) return { gen, cached };
    endChat(l);
    throw rt.error('could not continue the conversation');
  }
  const gen = rt.withCString(params, (p) => M._kite_wasm_gen_create(l.engine, p));
  if (!gen) throw rt.error('could not start a generation');
  l.chat = { gen, gpuIds: [] };
  return { gen, cached: 0 };
}

function endChat(l: Loaded): void {
  if (!l.chat) return;
  l.rt.M._kite_wasm_gen_destroy(l.chat.gen);
  l.chat = null;
}

async function generate(req: GenerateRequest): Promise<GenerationResult> {
  const l = loaded!;
  const { rt, info } = l;
  const M = rt.M;
  const ids = promptIds(l, req);
  if (ids.length === 0) throw new KiteError('invalid_argument', 'the prompt is empty');
  await requireGpu(l);
  const params = genParams(l, req);
  let { gen, cached } = startTurn(l, params, ids);
  const tokenIds: number[] = [];
  let text = '';
  let toolScan = 0;
  let finish: FinishReason = 'max_tokens';
  let logitsPtr = 0;
  const t0 = performance.now();
  let t1 = t0;
  // After each step: hand on the text that became final, look for tool calls, and tell whether
  // the runtime ended the reply (EOS, stop string, max_tokens, full context).
  const afterStep = (tokenId: number): FinishReason | null => {
    const piece = rt.readCString(M._kite_wasm_gen_text(gen));
    if (piece) {
      text += piece;
      post({ type: 'token', id: req.id, text: piece, tokenId });
      const found = detectToolCalls(text, toolScan);
      toolScan = found.scanned;
      for (const call of found.calls) post({ type: 'tool_call', id: req.id, call });
    }
    const reason = rt.readCString(M._kite_wasm_gen_stop_reason(gen));
    return reason ? (reason as FinishReason) : null;
  };
  try {
    let onWasm = !l.gpu;
    if (l.gpu) {
      // WebGPU: the GPU computes the logits; the runtime records the prompt (for the repetition
      // penalty), samples, detects stops and releases text exactly as on the wasm path.
      const vocab = info.vocabSize;
      logitsPtr = rt.alloc(vocab * 4);
      if (!logitsPtr) throw new KiteError('out_of_memory', 'cannot allocate the logits buffer');
      const rest = ids.slice(cached);
      if (rt.withInt32s(rest, (p) => M._kite_wasm_gen_record(gen, p, rest.length)) !== 0) throw rt.error('prompt');
      // The GPU cache may hold fewer of the shared ids than the runtime's record (an evaluate() in
      // between overwrote it): keep it up to the first position where they differ.
      const gpuIds = l.chat!.gpuIds;
      let gpuKept = 0;
      while (gpuKept < cached && gpuKept < gpuIds.length && gpuIds[gpuKept] === ids[gpuKept]) ++gpuKept;
      gpuIds.length = gpuKept;
      try {
        let logits = await gpuForward(l, gpuIds, ids.slice(gpuKept));
        t1 = performance.now();
        for (;;) {
          if (aborted()) { finish = 'aborted'; break; }
          new Float32Array(rt.heap().buffer, logitsPtr, vocab).set(logits.subarray(0, vocab));
          const tok = M._kite_wasm_gen_accept_logits(gen, logitsPtr);
          if (tok === -2) throw rt.error('sampling failed');
          if (tok >= 0) tokenIds.push(tok);
          const reason = afterStep(tok);
          if (reason || tok < 0) { finish = reason ?? 'eos'; break; }
          logits = await gpuForward(l, gpuIds, [tok]);
          await yieldToEvents();
        }
      } catch (e) {
        if (!(e instanceof GpuGone)) throw e;
        // wasm took over. Before any token, the turn starts again there; after some, the text
        // the page has is kept and the call fails (a fresh wasm turn would sample differently).
        if (tokenIds.length > 0) {
          throw new KiteError('runtime', `the WebGPU device was lost after ${tokenIds.length} tokens and no new one ` +
            'could be made: the model now runs on wasm; send the request again');
        }
        endChat(l);
        ({ gen, cached } = startTurn(l, genParams(l, req), ids));
        onWasm = true;
      }
    }
    if (onWasm) {
      const rest = ids.slice(cached);
      const rc = rt.withInt32s(rest, (p) => M._kite_wasm_gen_prefill(gen, p, rest.length));
      if (rc !== 0) throw rt.error('prefill failed');
      t1 = performance.now();
      for (;;) {
        if (aborted()) { finish = 'aborted'; break; }
        const tok = M._kite_wasm_gen_step(gen);
        if (tok === -2) throw rt.error('generation failed');
        if (tok >= 0) tokenIds.push(tok);
        const reason = afterStep(tok);
        if (reason || tok < 0) { finish = reason ?? 'eos'; break; }
        await yieldToEvents();
      }
    }
  } catch (e) {
    endChat(l);  // its state is unknown after an error: the next turn starts afresh
    throw e;
  } finally {
    if (logitsPtr) rt.free(logitsPtr);
  }
  const t2 = performance.now();
  const prefillMs = t1 - t0;
  const decodeMs = t2 - t1;
  const stats: GenerationStats = {
    backend: info.backend,
    threads: info.threads,
    promptTokens: ids.length,
    cachedPromptTokens: cached,
    generatedTokens: tokenIds.length,
    prefillMs,
    decodeMs,
    prefillTokensPerSecond: prefillMs > 0 ? ((ids.length - cached) * 1000) / prefillMs : 0,
    decodeTokensPerSecond: decodeMs > 0 ? (tokenIds.length * 1000) / decodeMs : 0,
    finishReason: finish,
  };
  return { text, tokenIds, stats };
}

async function evaluate(req: EvaluateRequest): Promise<Float32Array> {
  const l = loaded!;
  const { rt, info } = l;
  const M = rt.M;
  if (req.ids.length === 0) throw new KiteError('invalid_argument', 'evaluate() needs at least one id');
  await requireGpu(l);
  if (l.gpu) {
    l.gpu.reset();
    if (l.chat) l.chat.gpuIds.length = 0;  // this forward overwrites the conversation's GPU cache rows
    try {
      const logits = await gpuForward(l, [], req.ids);
      return logits.slice(0, info.vocabSize);
    } catch (e) {
      if (!(e instanceof GpuGone)) throw e;  // else wasm took over: evaluate there
    }
  }
  const params = JSON.stringify({ temperature: 0, max_tokens: 1, context: l.req.context, threads: info.threads,
    kv_format: l.req.kvFormat });
  const gen = rt.withCString(params, (p) => M._kite_wasm_gen_create(l.engine, p));
  if (!gen) throw rt.error('could not start an evaluation');
  try {
    const rc = rt.withInt32s(req.ids, (p) => M._kite_wasm_gen_prefill(gen, p, req.ids.length));
    if (rc !== 0) throw rt.error('evaluation failed');
    const ptr = M._kite_wasm_gen_logits(gen);
    if (!ptr) throw rt.error('no logits');
    return rt.readFloat32s(ptr, info.vocabSize);
  } finally {
    M._kite_wasm_gen_destroy(gen);
  }
}

function unload(): void {
  if (!loaded) return;
  endChat(loaded);
  loaded.gpu?.destroy();
  loaded.rt.M._kite_wasm_engine_destroy(loaded.engine);
  loaded.rt.free(loaded.modelPtr);
  loaded = null;
}

// ---- dispatch -----------------------------------------------------------------------------

function needModel(): Loaded {
  if (!loaded) throw new KiteError('unloaded', 'no model is loaded');
  return loaded;
}

async function handle(msg: Request): Promise<void> {
  if (msg.type === 'abort') {
    abortRequested = true;
    return;
  }
  const id = msg.id;
  try {
    switch (msg.type) {
      case 'load': {
        const shared = (msg as LoadRequest & { abortFlag?: SharedArrayBuffer }).abortFlag;
        if (shared) abortFlag = new Int32Array(shared);
        post({ type: 'loaded', id, info: await load(msg) });
        break;
      }
      case 'generate': {
        needModel();
        if (busy) throw new KiteError('busy', 'a generation is already running on this model; abort() it or wait');
        busy = true;
        abortRequested = false;
        if (abortFlag) Atomics.store(abortFlag, 0, 0);
        try {
          post({ type: 'done', id, result: await generate(msg) });
        } finally {
          busy = false;
        }
        break;
      }
      case 'tokenize': {
        const l = needModel();
        post({ type: 'value', id, value: l.rt.tokenize(l.engine, (msg as TokenizeRequest).text, msg.parseSpecial) });
        break;
      }
      case 'detokenize': {
        const l = needModel();
        post({ type: 'value', id, value: l.rt.detokenize(l.engine, (msg as DetokenizeRequest).ids) });
        break;
      }
      case 'template': {
        const l = needModel();
        const m = msg as TemplateRequest;
        const value = l.rt.withCString(JSON.stringify(m.messages), (ptr) => {
          const out = l.rt.M._kite_wasm_apply_template(l.engine, ptr, m.addGenerationPrompt ? 1 : 0);
          if (!out) throw l.rt.error('the chat template failed');
          return l.rt.takeString(out);
        });
        post({ type: 'value', id, value });
        break;
      }
      case 'evaluate': {
        needModel();
        if (busy) throw new KiteError('busy', 'a generation is running on this model');
        busy = true;
        try {
          const logits = await evaluate(msg);
          post({ type: 'value', id, value: logits }, [logits.buffer]);
        } finally {
          busy = false;
        }
        break;
      }
      case 'unload':
        unload();
        post({ type: 'value', id, value: null });
        break;
    }
  } catch (e) {
    const err = toKiteError(e);
    post({ type: 'error', id, code: err.code, message: err.message });
  }
}

self.onmessage = (event: MessageEvent<Request>) => {
  void handle(event.data);
};
