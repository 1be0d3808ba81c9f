// A typed view of the wasm module's C exports (platforms/wasm/kite_wasm_api.cc) and the heap
// helpers the worker needs: strings in and out, id arrays, the runtime's last error.
// Strings are decoded from a copy of the bytes because TextDecoder refuses views of a
// SharedArrayBuffer, which is what the heap is in the pthreads build.
import { KiteError, type KiteErrorCode } from './types.js';

/** The emscripten module object (kite.mjs's factory resolves to it). */
export interface KiteModule {
  HEAPU8: Uint8Array;
  wasmMemory?: WebAssembly.Memory;
  _kite_wasm_malloc(size: number): number;
  _kite_wasm_free(ptr: number): void;
  _kite_wasm_last_error(): number;
  _kite_wasm_engine_create(data: number, size: number, verifyChecksums: number): number;
  _kite_wasm_engine_destroy(engine: number): void;
  /** Absent in modules older than it (the worker then skips it). */
  _kite_wasm_engine_rearrange_weights?: (engine: number) => number;
  _kite_wasm_engine_info_json(engine: number): number;
  _kite_wasm_apply_template(engine: number, messagesJson: number, addGenerationPrompt: number): number;
  _kite_wasm_tokenize(engine: number, text: number, parseSpecial: number, out: number, capacity: number): number;
  _kite_wasm_detokenize(engine: number, ids: number, count: number): number;
  _kite_wasm_gen_create(engine: number, paramsJson: number): number;
  _kite_wasm_gen_prefill(gen: number, ids: number, count: number): number;
  _kite_wasm_gen_step(gen: number): number;
  _kite_wasm_gen_accept_logits(gen: number, logits: number): number;
  _kite_wasm_gen_record(gen: number, ids: number, count: number): number;
  _kite_wasm_gen_stop_reason(gen: number): number;
  _kite_wasm_gen_text(gen: number): number;
  _kite_wasm_gen_logits(gen: number): number;
  _kite_wasm_gen_position(gen: number): number;
  _kite_wasm_gen_reuse(gen: number, paramsJson: number, ids: number, count: number): number;
  _kite_wasm_gen_destroy(gen: number): void;
  [name: string]: unknown;
}

const REQUIRED_EXPORTS = [
  '_kite_wasm_malloc', '_kite_wasm_free', '_kite_wasm_last_error', '_kite_wasm_engine_create',
  '_kite_wasm_engine_destroy', '_kite_wasm_engine_info_json', '_kite_wasm_apply_template', '_kite_wasm_tokenize',
  '_kite_wasm_detokenize', '_kite_wasm_gen_create', '_kite_wasm_gen_prefill', '_kite_wasm_gen_step',
  '_kite_wasm_gen_accept_logits', '_kite_wasm_gen_record', '_kite_wasm_gen_text', '_kite_wasm_gen_logits',
  '_kite_wasm_gen_position', '_kite_wasm_gen_stop_reason', '_kite_wasm_gen_reuse', '_kite_wasm_gen_destroy',
];

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

export class Runtime {
  constructor(readonly M: KiteModule) {
    const missing = REQUIRED_EXPORTS.filter((n) => typeof M[n] !== 'function');
    if (missing.length) {
      throw new KiteError('runtime_missing', `the wasm runtime lacks exports: ${missing.join(', ')} (an older kite.mjs?)`);
    }
  }

  /** The heap's current view; re-read after any call that may grow memory. */
  heap(): Uint8Array {
    const h = this.M.HEAPU8;
    if (h) return h;
    if (this.M.wasmMemory) return new Uint8Array(this.M.wasmMemory.buffer);
    throw new KiteError('runtime_missing', 'the wasm runtime exposes neither HEAPU8 nor wasmMemory');
  }

  alloc(size: number): number {
    return this.M._kite_wasm_malloc(size);
  }

  free(ptr: number): void {
    if (ptr) this.M._kite_wasm_free(ptr);
  }

  /** A NUL-terminated UTF-8 string at ptr (not freed). */
  readCString(ptr: number): string {
    if (!ptr) return '';
    const heap = this.heap();
    let end = ptr;
    while (heap[end] !== 0) ++end;
    return decoder.decode(heap.slice(ptr, end));
  }

  /** A string the runtime allocated for us: read, then freed. */
  takeString(ptr: number): string {
    try {
      return this.readCString(ptr);
    } finally {
      this.free(ptr);
    }
  }

  lastError(): string {
    return this.readCString(this.M._kite_wasm_last_error()) || 'unknown error';
  }

  /** A KiteError with the runtime's last error message; the code comes from its wording. */
  error(what: string): KiteError {
    const message = this.lastError();
    let code: KiteErrorCode = 'runtime';
    if (/out of memory|cannot allocate|bad_alloc|OOM/i.test(message)) code = 'out_of_memory';
    else if (/artifact|magic|checksum|truncat|not a \.kite|unsupported|format|version|tensor/i.test(message)) code = 'bad_file';
    return new KiteError(code, `${what}: ${message}`);
  }

  /** Runs fn with a NUL-terminated copy of s in the heap. */
  withCString<T>(s: string, fn: (ptr: number) => T): T {
    const bytes = encoder.encode(s);
    const ptr = this.alloc(bytes.length + 1);
    if (!ptr) throw new KiteError('out_of_memory', `cannot allocate ${bytes.length + 1} bytes in the wasm heap`);
    try {
      const heap = this.heap();
      heap.set(bytes, ptr);
      heap[ptr + bytes.length] = 0;
      return fn(ptr);
    } finally {
      this.free(ptr);
    }
  }

  /** Runs fn with a copy of ids (int32) in the heap. */
  withInt32s<T>(ids: ArrayLike<number>, fn: (ptr: number) => T): T {
    const ptr = this.alloc(Math.max(1, ids.length) * 4);
    if (!ptr) throw new KiteError('out_of_memory', `cannot allocate ${ids.length * 4} bytes in the wasm heap`);
    try {
      new Int32Array(this.heap().buffer, ptr, ids.length).set(ids);
      return fn(ptr);
    } finally {
      this.free(ptr);
    }
  }

  /** Copies n floats from the heap into an ordinary (transferable, non-shared) buffer. */
  readFloat32s(ptr: number, n: number): Float32Array {
    const out = new Float32Array(n);
    out.set(new Float32Array(this.heap().buffer, ptr, n));
    return out;
  }

  /** Token ids of text; no BOS is added (the runtime leaves that to templates and callers). */
  tokenize(engine: number, text: string, parseSpecial: boolean): number[] {
    return this.withCString(text, (textPtr) => {
      // A token covers at least one byte, so this capacity is almost always enough; when it is
      // not, the runtime says how many ids it needs and writes nothing.
      let capacity = encoder.encode(text).length + 8;
      for (let attempt = 0; attempt < 2; ++attempt) {
        const outPtr = this.alloc(capacity * 4);
        if (!outPtr) throw new KiteError('out_of_memory', 'cannot allocate the token buffer');
        try {
          const n = this.M._kite_wasm_tokenize(engine, textPtr, parseSpecial ? 1 : 0, outPtr, capacity);
          if (n < 0) throw this.error('tokenize failed');
          if (n <= capacity) return Array.from(new Int32Array(this.heap().buffer, outPtr, n));
          capacity = n;
        } finally {
          this.free(outPtr);
        }
      }
      throw new KiteError('runtime', 'tokenize kept asking for a bigger buffer');
    });
  }

  detokenize(engine: number, ids: ArrayLike<number>): string {
    return this.withInt32s(ids, (ptr) => {
      const s = this.M._kite_wasm_detokenize(engine, ptr, ids.length);
      if (!s) throw this.error('detokenize failed');
      return this.takeString(s);
    });
  }
}
