// Loads the node build of the wasm module (build-*/platforms/wasm/kite_node.cjs) and wraps the
// kite_wasm_* functions of platforms/wasm/kite_wasm_api.h in a small JS API for the tests and
// benchmarks. The wasm bytes are passed as wasmBinary: emscripten 3.1.6's loader would otherwise
// fetch() a file path under node 20 and fail.
'use strict';
const fs = require('fs');
const path = require('path');

// Whether this engine compiles relaxed-SIMD code: a one-function module using
// i16x8.relaxed_dot_i8x16_i7x16_s (opcode 0xfd 0x112), the instruction the relaxed kernels need.
function relaxedSimdSupported() {
  const zeros = new Array(16).fill(0);
  const body = [0x00, 0xfd, 0x0c, ...zeros, 0xfd, 0x0c, ...zeros, 0xfd, 0x92, 0x02, 0x0b];
  return WebAssembly.validate(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
    0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a, body.length + 2, 0x01, body.length, ...body]));
}

// options.relaxed: load kite_node_relaxed.* (the relaxed-SIMD kernels; node 20 needs
// --experimental-wasm-relaxed-simd) instead of kite_node.*.
async function loadKite(moduleDir, options = {}) {
  const name = options.relaxed ? 'kite_node_relaxed' : 'kite_node';
  const createKiteModule = require(path.resolve(moduleDir, `${name}.cjs`));
  const wasmBinary = fs.readFileSync(path.resolve(moduleDir, `${name}.wasm`));
  const M = await createKiteModule({ wasmBinary, locateFile: (p) => path.resolve(moduleDir, p) });
  return new Kite(M);
}

class KiteError extends Error {}

class Kite {
  constructor(M) {
    this.M = M;
  }
  lastError() {
    return this.M.UTF8ToString(this.M._kite_wasm_last_error());
  }
  // GB/s this thread reads from the heap (kite_wasm_read_gbps), or null for a module without it.
  readGbps(megabytes = 256, passes = 3) {
    if (typeof this.M._kite_wasm_read_gbps !== 'function') return null;
    const gbps = this.M._kite_wasm_read_gbps(megabytes, passes);
    return gbps > 0 ? gbps : null;
  }
  fail(what) {
    throw new KiteError(what + ': ' + this.lastError());
  }
  // A NUL-terminated UTF-8 copy of s in the heap; the caller frees it.
  cString(s) {
    const n = this.M.lengthBytesUTF8(s) + 1;
    const p = this.M._kite_wasm_malloc(n);
    this.M.stringToUTF8(s, p, n);
    return p;
  }
  takeString(p, what) {
    if (!p) this.fail(what);
    const s = this.M.UTF8ToString(p);
    this.M._kite_wasm_free(p);
    return s;
  }
  // Places the .kite bytes in the heap once (the engine uses them in place) and loads them, then
  // (unless options.keepLayout) lets the engine rearrange its weights for the CPU kernels, as the
  // web worker does when it stays on wasm (kite_wasm_engine_rearrange_weights).
  loadModel(bytes, verifyChecksums = false, options = {}) {
    const p = this.M._kite_wasm_malloc(bytes.length);
    if (!p) throw new KiteError('out of memory for ' + bytes.length + ' model bytes');
    this.M.HEAPU8.set(bytes, p);
    const engine = this.M._kite_wasm_engine_create(p, bytes.length, verifyChecksums ? 1 : 0);
    if (!engine) {
      this.M._kite_wasm_free(p);
      this.fail('engine_create');
    }
    if (!options.keepLayout && this.M._kite_wasm_engine_rearrange_weights(engine) < 0) {
      const message = this.lastError();
      this.M._kite_wasm_engine_destroy(engine);
      this.M._kite_wasm_free(p);
      throw new KiteError('rearrange_weights: ' + message);
    }
    return new KiteEngine(this, engine, p);
  }
}

class KiteEngine {
  constructor(kite, handle, bytesPtr) {
    this.kite = kite;
    this.M = kite.M;
    this.handle = handle;
    this.bytesPtr = bytesPtr;
  }
  destroy() {
    this.M._kite_wasm_engine_destroy(this.handle);
    this.M._kite_wasm_free(this.bytesPtr);
    this.handle = 0;
  }
  info() {
    return JSON.parse(this.kite.takeString(this.M._kite_wasm_engine_info_json(this.handle), 'engine_info_json'));
  }
  applyTemplate(messages, addGenerationPrompt = true) {
    const p = this.kite.cString(typeof messages === 'string' ? messages : JSON.stringify(messages));
    try {
      return this.kite.takeString(this.M._kite_wasm_apply_template(this.handle, p, addGenerationPrompt ? 1 : 0),
                                  'apply_template');
    } finally {
      this.M._kite_wasm_free(p);
    }
  }
  tokenize(text, parseSpecial = true) {
    const p = this.kite.cString(text);
    try {
      let cap = 64;
      for (;;) {
        const out = this.M._kite_wasm_malloc(cap * 4);
        const n = this.M._kite_wasm_tokenize(this.handle, p, parseSpecial ? 1 : 0, out, cap);
        if (n < 0) {
          this.M._kite_wasm_free(out);
          this.kite.fail('tokenize');
        }
        if (n <= cap) {
          const ids = Array.from(this.M.HEAP32.subarray(out >> 2, (out >> 2) + n));
          this.M._kite_wasm_free(out);
          return ids;
        }
        this.M._kite_wasm_free(out);
        cap = n;
      }
    } finally {
      this.M._kite_wasm_free(p);
    }
  }
  withIds(ids, fn) {
    const p = this.M._kite_wasm_malloc(Math.max(1, ids.length) * 4);
    this.M.HEAP32.set(ids, p >> 2);
    try {
      return fn(p);
    } finally {
      this.M._kite_wasm_free(p);
    }
  }
  detokenize(ids) {
    return this.withIds(ids, (p) => this.kite.takeString(this.M._kite_wasm_detokenize(this.handle, p, ids.length),
                                                         'detokenize'));
  }
  generation(params = {}) {
    const p = this.kite.cString(JSON.stringify(params));
    const g = this.M._kite_wasm_gen_create(this.handle, p);
    this.M._kite_wasm_free(p);
    if (!g) this.kite.fail('gen_create');
    return new KiteGeneration(this, g);
  }
}

class KiteGeneration {
  constructor(engine, handle) {
    this.engine = engine;
    this.kite = engine.kite;
    this.M = engine.M;
    this.handle = handle;
    this.vocab = engine.info().config.vocab_size;
  }
  destroy() {
    this.M._kite_wasm_gen_destroy(this.handle);
    this.handle = 0;
  }
  prefill(ids) {
    const rc = this.engine.withIds(ids, (p) => this.M._kite_wasm_gen_prefill(this.handle, p, ids.length));
    if (rc !== 0) this.kite.fail('gen_prefill');
  }
  record(ids) {
    const rc = this.engine.withIds(ids, (p) => this.M._kite_wasm_gen_record(this.handle, p, ids.length));
    if (rc !== 0) this.kite.fail('gen_record');
  }
  // Next token id, or -1 when the reply is finished.
  step() {
    const id = this.M._kite_wasm_gen_step(this.handle);
    if (id === -2) this.kite.fail('gen_step');
    return id;
  }
  acceptLogits(logits) {
    const p = this.M._kite_wasm_malloc(logits.length * 4);
    this.M.HEAPF32.set(logits, p >> 2);
    const id = this.M._kite_wasm_gen_accept_logits(this.handle, p);
    this.M._kite_wasm_free(p);
    if (id === -2) this.kite.fail('gen_accept_logits');
    return id;
  }
  text() {
    return this.M.UTF8ToString(this.M._kite_wasm_gen_text(this.handle));
  }
  // A copy of the last CPU logits (Float32Array [vocab]), or null.
  logits() {
    const p = this.M._kite_wasm_gen_logits(this.handle);
    return p ? this.M.HEAPF32.slice(p >> 2, (p >> 2) + this.vocab) : null;
  }
  position() {
    return this.M._kite_wasm_gen_position(this.handle);
  }
  stopReason() {
    return this.M.UTF8ToString(this.M._kite_wasm_gen_stop_reason(this.handle));
  }
  truncate(n) {
    if (this.M._kite_wasm_gen_truncate(this.handle, n) !== 0) this.kite.fail('gen_truncate');
  }
  // Next chat turn from the whole prompt: how many leading ids are already cached.
  reuse(params, ids) {
    const p = this.kite.cString(JSON.stringify(params));
    try {
      const kept = this.engine.withIds(ids, (q) => this.M._kite_wasm_gen_reuse(this.handle, p, q, ids.length));
      if (kept < 0) this.kite.fail('gen_reuse');
      return kept;
    } finally {
      this.M._kite_wasm_free(p);
    }
  }
}

module.exports = { loadKite, relaxedSimdSupported, KiteError };
