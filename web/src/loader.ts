// Brings a .kite artifact's bytes into the wasm heap, once: a URL is streamed with fetch() and
// written chunk by chunk into a heap block allocated up front from Content-Length (no second
// copy); a Cache Storage entry keyed by the URL serves later loads; a File is streamed the same
// way; a buffer is copied in once. Runs in the worker, but depends only on web APIs that node 20
// also has (fetch, ReadableStream), so it is unit-tested there with a fake heap.
import type { WireSource } from './protocol.js';
import { KiteError, type LoadProgress } from './types.js';

/** Where the bytes go: the wasm heap (or a fake one in tests). */
export interface HeapSink {
  /** Returns the offset of `size` free bytes, or 0 when the heap cannot grow that far. */
  alloc(size: number): number;
  free(ptr: number): void;
  /** The current view of the heap (it changes when the heap grows). */
  heap(): Uint8Array;
}

export interface HeapBytes {
  ptr: number;
  size: number;
  source: 'network' | 'cache' | 'file' | 'buffer';
}

export const CACHE_NAME = 'kite-models-v1';

/** The first 8 bytes of every .kite artifact (runtime/artifact/kite.fbs: the preamble). */
const KITE_MAGIC = [0x4b, 0x49, 0x54, 0x45, 0x41, 0x52, 0x54, 0x00]; // "KITEART\0"

type ProgressFn = (p: LoadProgress) => void;

/** Reports at most every 50 ms (and always the last call), so a fast stream does not flood the page. */
function throttled(onProgress: ProgressFn): ProgressFn & { flush(): void } {
  let last = 0;
  let pending: LoadProgress | null = null;
  const fn = ((p: LoadProgress) => {
    const now = Date.now();
    pending = p;
    if (now - last >= 50) {
      last = now;
      onProgress(p);
      pending = null;
    }
  }) as ProgressFn & { flush(): void };
  fn.flush = () => {
    if (pending) onProgress(pending);
    pending = null;
  };
  return fn;
}

function checkMagic(first: Uint8Array, what: string): void {
  if (first.length < KITE_MAGIC.length) return; // checked again by the runtime on the whole file
  for (let i = 0; i < KITE_MAGIC.length; ++i) {
    if (first[i] !== KITE_MAGIC[i]) {
      const shown = Array.from(first.subarray(0, 8), (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
      throw new KiteError('bad_file', `${what} is not a .kite artifact (it starts with "${shown}", not "KITEART")`);
    }
  }
}

function allocOrThrow(sink: HeapSink, size: number, what: string): number {
  if (size <= 0) throw new KiteError('bad_file', `${what} is empty`);
  // wasm32 heaps end at 4 GiB (emscripten's default maximum is 2 GiB).
  const ptr = size < 2 ** 32 ? sink.alloc(size) : 0;
  if (!ptr) {
    throw new KiteError('out_of_memory',
      `cannot allocate ${size.toLocaleString('en-US')} bytes in the wasm heap for ${what}: the model is too big for ` +
      `this browser's WebAssembly memory (wasm32 heaps are limited to 2-4 GiB); try a smaller or more quantized model`);
  }
  return ptr;
}

/** Streams `stream` into a block allocated up front (known size) or, when the size is unknown,
 * into chunks that are then copied once into a block of the final size. */
async function streamIntoHeap(
  stream: ReadableStream<Uint8Array>, knownSize: number, sink: HeapSink, what: string,
  phase: LoadProgress['phase'], onProgress: ProgressFn,
): Promise<{ ptr: number; size: number }> {
  const progress = throttled(onProgress);
  const reader = stream.getReader();
  let ptr = 0;
  let offset = 0;
  const chunks: Uint8Array[] = [];
  let checked = false;
  const head = new Uint8Array(8);
  let headLen = 0;
  try {
    if (knownSize > 0) ptr = allocOrThrow(sink, knownSize, what);
    progress({ phase, loadedBytes: 0, totalBytes: knownSize });
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!value || value.length === 0) continue;
      if (!checked) {
        const take = Math.min(8 - headLen, value.length);
        head.set(value.subarray(0, take), headLen);
        headLen += take;
        if (headLen === 8) {
          checkMagic(head, what);
          checked = true;
        }
      }
      if (knownSize > 0) {
        if (offset + value.length > knownSize) {
          throw new KiteError('network', `${what} sent more than the ${knownSize.toLocaleString('en-US')} bytes it announced`);
        }
        sink.heap().set(value, ptr + offset);
      } else {
        chunks.push(value);
      }
      offset += value.length;
      progress({ phase, loadedBytes: offset, totalBytes: knownSize });
    }
    if (!checked) {
      throw new KiteError('bad_file', offset === 0 ? `${what} is empty` : `${what} has only ${offset} bytes: not a .kite artifact`);
    }
    if (knownSize > 0 && offset !== knownSize) {
      throw new KiteError('network',
        `${what} ended after ${offset.toLocaleString('en-US')} of ${knownSize.toLocaleString('en-US')} bytes`);
    }
    if (knownSize <= 0) {
      ptr = allocOrThrow(sink, offset, what);
      let at = ptr;
      for (const c of chunks) {
        sink.heap().set(c, at);
        at += c.length;
      }
      chunks.length = 0;
    }
    progress({ phase, loadedBytes: offset, totalBytes: knownSize > 0 ? knownSize : offset });
    progress.flush();
    return { ptr, size: offset };
  } catch (e) {
    if (ptr) sink.free(ptr);
    reader.cancel().catch(() => {});
    throw e;
  }
}

/** Content-Length, when it gives the size of the body we will read (not a compressed size). */
function bodySize(response: Response): number {
  const encoding = response.headers.get('content-encoding');
  if (encoding && encoding !== 'identity') return 0;
  const n = Number(response.headers.get('content-length'));
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

async function openCache(): Promise<Cache | null> {
  try {
    return typeof caches === 'undefined' ? null : await caches.open(CACHE_NAME);
  } catch {
    return null; // e.g. an insecure context or a storage-less browser profile
  }
}

async function loadUrl(url: string, useCache: boolean, sink: HeapSink, onProgress: ProgressFn,
                       warn: (m: string) => void): Promise<HeapBytes> {
  const cache = useCache ? await openCache() : null;
  if (cache) {
    const hit = await cache.match(url);
    if (hit && hit.body) {
      try {
        const { ptr, size } = await streamIntoHeap(hit.body, bodySize(hit), sink, `the cached copy of ${url}`, 'cache',
                                                   onProgress);
        return { ptr, size, source: 'cache' };
      } catch (e) {
        if (e instanceof KiteError && e.code === 'out_of_memory') throw e;
        // A damaged cache entry: drop it and download again.
        warn(`cached copy of ${url} unusable (${(e as Error).message}); downloading again`);
        await cache.delete(url);
      }
    }
  }
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new KiteError('network', `could not fetch ${url}: ${(e as Error).message}`);
  }
  if (!response.ok) throw new KiteError('network', `fetching ${url} failed: HTTP ${response.status} ${response.statusText}`);
  if (!response.body) throw new KiteError('network', `fetching ${url} gave no body`);
  // The cache reads its own copy of the stream while we read ours; a failed or partial download
  // never leaves an entry behind.
  let stored: Promise<boolean> = Promise.resolve(false);
  if (cache) {
    stored = cache.put(url, response.clone()).then(() => true, (e: Error) => {
      warn(`could not keep ${url} in Cache Storage: ${e.message}`);
      return false;
    });
  }
  try {
    const { ptr, size } = await streamIntoHeap(response.body, bodySize(response), sink, url, 'download', onProgress);
    await stored;
    return { ptr, size, source: 'network' };
  } catch (e) {
    if (cache) {
      await stored;
      await cache.delete(url).catch(() => false);
    }
    throw e;
  }
}

/** Brings the artifact into the heap. On failure nothing stays allocated. */
export async function loadIntoHeap(source: WireSource, sink: HeapSink, onProgress: ProgressFn,
                                   warn: (m: string) => void = () => {}): Promise<HeapBytes> {
  switch (source.kind) {
    case 'url':
      return loadUrl(source.url, source.cache, sink, onProgress, warn);
    case 'file': {
      const what = `file "${source.name}"`;
      if (source.file.size === 0) throw new KiteError('bad_file', `${what} is empty`);
      const { ptr, size } = await streamIntoHeap(source.file.stream(), source.file.size, sink, what, 'read', onProgress);
      return { ptr, size, source: 'file' };
    }
    case 'buffer': {
      const bytes = new Uint8Array(source.buffer);
      if (bytes.length < KITE_MAGIC.length) {
        throw new KiteError('bad_file', bytes.length === 0 ? 'the buffer is empty' : `the buffer has only ${bytes.length} bytes: not a .kite artifact`);
      }
      checkMagic(bytes.subarray(0, 8), 'the buffer');
      const ptr = allocOrThrow(sink, bytes.length, 'the buffer');
      sink.heap().set(bytes, ptr);
      onProgress({ phase: 'read', loadedBytes: bytes.length, totalBytes: bytes.length });
      return { ptr, size: bytes.length, source: 'buffer' };
    }
  }
}

/** Removes one URL's cached bytes, or every cached model when url is omitted. Returns whether
 * anything was removed. Works on the page and in workers. */
export async function clearCache(url?: string): Promise<boolean> {
  if (typeof caches === 'undefined') return false;
  if (url === undefined) return caches.delete(CACHE_NAME);
  const cache = await caches.open(CACHE_NAME);
  return cache.delete(new URL(url, globalThis.location?.href).href);
}

/** The URLs whose bytes are in the cache. */
export async function cachedUrls(): Promise<string[]> {
  if (typeof caches === 'undefined') return [];
  if (!(await caches.has(CACHE_NAME))) return [];
  const cache = await caches.open(CACHE_NAME);
  return (await cache.keys()).map((r) => r.url);
}
