// Node tests of the parts of the web package that need no browser: the streaming loader (into a
// fake heap, through the dev server, with a fake Cache Storage), the dev server's headers and
// path checks, and the tool-call detector. Run: `node --test web/test/` after `npm run build`.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '../dist');
if (!fs.existsSync(path.join(dist, 'loader.js'))) {
  throw new Error(`${dist}/loader.js is missing: run \`npm run build\` in web/ first`);
}
const { loadIntoHeap, clearCache, cachedUrls, CACHE_NAME } = await import(path.join(dist, 'loader.js'));
const { detectToolCalls } = await import(path.join(dist, 'tool_calls.js'));
const { startServer } = await import(path.resolve(here, '../tools/serve.mjs'));

/** A bump allocator over a fixed Uint8Array, like the wasm heap without growth. */
function fakeHeap(capacity) {
  const heap = new Uint8Array(capacity);
  let top = 16;
  const live = new Set();
  return {
    heap: () => heap,
    alloc(size) {
      if (top + size > capacity) return 0;
      const p = top;
      top += size;
      live.add(p);
      return p;
    },
    free(p) {
      assert.ok(live.delete(p), `free of a block not allocated: ${p}`);
    },
    live,
  };
}

/** A minimal Cache Storage (what the loader uses of it), keeping bodies in memory. */
function installFakeCaches() {
  const stores = new Map();
  globalThis.caches = {
    async open(name) {
      if (!stores.has(name)) stores.set(name, new Map());
      const m = stores.get(name);
      return {
        async match(url) {
          const e = m.get(String(url));
          return e ? new Response(e.body, { headers: e.headers }) : undefined;
        },
        async put(url, response) {
          const body = new Uint8Array(await response.arrayBuffer());
          m.set(String(url), { body, headers: { 'content-length': String(body.length) } });
        },
        async delete(url) {
          return m.delete(String(url));
        },
        async keys() {
          return [...m.keys()].map((u) => ({ url: u }));
        },
      };
    },
    async has(name) {
      return stores.has(name);
    },
    async delete(name) {
      return stores.delete(name);
    },
  };
  return stores;
}

function kiteBytes(n, seed = 1) {
  const b = new Uint8Array(n);
  b.set([0x4b, 0x49, 0x54, 0x45, 0x41, 0x52, 0x54, 0x00]);
  let s = seed;
  for (let i = 8; i < n; ++i) {
    s = (s * 1103515245 + 12345) >>> 0;
    b[i] = s >>> 24;
  }
  return b;
}

let dir;
let server;
let chunked;
const model = kiteBytes(300_000);

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kite-web-test-'));
  fs.writeFileSync(path.join(dir, 'm.kite'), model);
  fs.writeFileSync(path.join(dir, 'bad.kite'), Buffer.from('GGUF\x03\x00\x00\x00 not a kite file at all'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>x</title>');
  server = await startServer({ mounts: { '/models/': dir, '/w/': dir } });
  // A server that sends the model with chunked encoding (no Content-Length) and one that lies.
  chunked = http.createServer((req, res) => {
    if (req.url === '/short.kite') {
      res.writeHead(200, { 'Content-Length': String(model.length + 10) });
      res.write(Buffer.from(model), () => res.destroy()); // the connection drops 10 bytes short
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    for (let i = 0; i < model.length; i += 65536) res.write(Buffer.from(model.subarray(i, i + 65536)));
    res.end();
  });
  await new Promise((r) => chunked.listen(0, '127.0.0.1', r));
});

after(async () => {
  await server.close();
  chunked.closeAllConnections?.();
  await new Promise((r) => chunked.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
  delete globalThis.caches;
});

describe('loadIntoHeap', () => {
  test('streams a URL with Content-Length into one block, with progress', async () => {
    const sink = fakeHeap(1 << 20);
    const progress = [];
    const got = await loadIntoHeap({ kind: 'url', url: `${server.url}models/m.kite`, cache: false }, sink,
      (p) => progress.push(p));
    assert.equal(got.size, model.length);
    assert.equal(got.source, 'network');
    assert.deepEqual(sink.heap().subarray(got.ptr, got.ptr + got.size), model);
    const last = progress.at(-1);
    assert.equal(last.phase, 'download');
    assert.equal(last.loadedBytes, model.length);
    assert.equal(last.totalBytes, model.length);
    assert.deepEqual([...sink.live], [got.ptr], 'exactly one block stays allocated');
  });

  test('streams a chunked response (no Content-Length)', async () => {
    const sink = fakeHeap(1 << 20);
    const { port } = chunked.address();
    const got = await loadIntoHeap({ kind: 'url', url: `http://127.0.0.1:${port}/m.kite`, cache: false }, sink, () => {});
    assert.equal(got.size, model.length);
    assert.deepEqual(sink.heap().subarray(got.ptr, got.ptr + got.size), model);
  });

  test('a body shorter than its Content-Length is a network error and frees the block', async () => {
    const sink = fakeHeap(1 << 20);
    const { port } = chunked.address();
    await assert.rejects(
      loadIntoHeap({ kind: 'url', url: `http://127.0.0.1:${port}/short.kite`, cache: false }, sink, () => {}),
      (e) => e.code === 'network' || /terminated|ended/.test(e.message));
    assert.equal(sink.live.size, 0);
  });

  test('HTTP 404 is a network error naming the URL', async () => {
    const sink = fakeHeap(1 << 20);
    await assert.rejects(loadIntoHeap({ kind: 'url', url: `${server.url}models/nope.kite`, cache: false }, sink, () => {}),
      (e) => e.code === 'network' && /404/.test(e.message) && /nope\.kite/.test(e.message));
  });

  test('an unreachable server is a network error', async () => {
    const sink = fakeHeap(1 << 20);
    await assert.rejects(loadIntoHeap({ kind: 'url', url: 'http://127.0.0.1:9/m.kite', cache: false }, sink, () => {}),
      (e) => e.code === 'network');
  });

  test('a file that is not .kite is rejected as bad_file after its first bytes', async () => {
    const sink = fakeHeap(1 << 20);
    await assert.rejects(loadIntoHeap({ kind: 'url', url: `${server.url}models/bad.kite`, cache: false }, sink, () => {}),
      (e) => e.code === 'bad_file' && /GGUF/.test(e.message));
    assert.equal(sink.live.size, 0);
  });

  test('a model larger than the heap is out_of_memory', async () => {
    const sink = fakeHeap(100_000);
    await assert.rejects(loadIntoHeap({ kind: 'url', url: `${server.url}models/m.kite`, cache: false }, sink, () => {}),
      (e) => e.code === 'out_of_memory' && /300,000 bytes/.test(e.message));
  });

  test('a Blob (File) is streamed; an empty one is bad_file', async () => {
    const sink = fakeHeap(1 << 20);
    const got = await loadIntoHeap({ kind: 'file', file: new Blob([model]), name: 'm.kite' }, sink, () => {});
    assert.equal(got.source, 'file');
    assert.deepEqual(sink.heap().subarray(got.ptr, got.ptr + got.size), model);
    await assert.rejects(loadIntoHeap({ kind: 'file', file: new Blob([]), name: 'e.kite' }, fakeHeap(64), () => {}),
      (e) => e.code === 'bad_file' && /empty/.test(e.message));
  });

  test('a buffer is copied once; a short one is bad_file', async () => {
    const sink = fakeHeap(1 << 20);
    const got = await loadIntoHeap({ kind: 'buffer', buffer: model.slice().buffer }, sink, () => {});
    assert.equal(got.source, 'buffer');
    assert.deepEqual(sink.heap().subarray(got.ptr, got.ptr + got.size), model);
    await assert.rejects(loadIntoHeap({ kind: 'buffer', buffer: new Uint8Array([1, 2, 3]).buffer }, sink, () => {}),
      (e) => e.code === 'bad_file');
  });

  test('Cache Storage: the second load of a URL reads the cache; clearCache removes it', async () => {
    const stores = installFakeCaches();
    try {
      const url = `${server.url}w/m.kite`;
      const first = await loadIntoHeap({ kind: 'url', url, cache: true }, fakeHeap(1 << 20), () => {});
      assert.equal(first.source, 'network');
      assert.deepEqual(await cachedUrls(), [url]);
      const phases = new Set();
      const sink = fakeHeap(1 << 20);
      const second = await loadIntoHeap({ kind: 'url', url, cache: true }, sink, (p) => phases.add(p.phase));
      assert.equal(second.source, 'cache');
      assert.deepEqual([...phases], ['cache']);
      assert.deepEqual(sink.heap().subarray(second.ptr, second.ptr + second.size), model);
      // cache: false neither reads nor writes it.
      const third = await loadIntoHeap({ kind: 'url', url, cache: false }, fakeHeap(1 << 20), () => {});
      assert.equal(third.source, 'network');
      assert.equal(await clearCache(url), true);
      assert.deepEqual(await cachedUrls(), []);
      await loadIntoHeap({ kind: 'url', url, cache: true }, fakeHeap(1 << 20), () => {});
      assert.equal(await clearCache(), true);
      assert.equal(stores.has(CACHE_NAME), false);
    } finally {
      delete globalThis.caches;
    }
  });

  test('a failed download leaves no cache entry', async () => {
    installFakeCaches();
    try {
      await assert.rejects(loadIntoHeap({ kind: 'url', url: `${server.url}models/bad.kite`, cache: true }, fakeHeap(1 << 20),
        () => {}), (e) => e.code === 'bad_file');
      assert.deepEqual(await cachedUrls(), []);
    } finally {
      delete globalThis.caches;
    }
  });
});

describe('dev server', () => {
  test('sends COOP/COEP and the wasm MIME type, and only serves from its mounts', async () => {
    fs.writeFileSync(path.join(dir, 'x.wasm'), Buffer.from([0, 97, 115, 109, 1, 0, 0, 0]));
    let r = await fetch(`${server.url}w/x.wasm`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/wasm');
    assert.equal(r.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(r.headers.get('cross-origin-embedder-policy'), 'require-corp');
    r = await fetch(`${server.url}w/m.kite`, { method: 'HEAD' });
    assert.equal(r.headers.get('content-length'), String(model.length));
    r = await fetch(`${server.url}w/%2e%2e/%2e%2e/etc/passwd`);
    assert.notEqual(r.status, 200);
    r = await fetch(`${server.url}w/`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /text\/html/);
    r = await fetch(`${server.url}w/missing.js`);
    assert.equal(r.status, 404);
    r = await fetch(`${server.url}demo/index.html`);
    assert.equal(r.status, 200, 'web/demo/index.html is served at /demo/');
  });

  test('listens on 127.0.0.1 only', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  });
});

describe('detectToolCalls', () => {
  test('finds complete calls and resumes where it stopped', () => {
    let text = 'Sure. <tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call> then <tool_ca';
    let r = detectToolCalls(text, 0);
    assert.equal(r.calls.length, 1);
    assert.equal(r.calls[0].name, 'get_weather');
    assert.deepEqual(r.calls[0].arguments, { city: 'Oslo' });
    text += 'll>{"name": "now"}</tool_call>';
    r = detectToolCalls(text, r.scanned);
    assert.deepEqual(r.calls.map((c) => c.name), ['now']);
    assert.deepEqual(r.calls[0].arguments, {});
    r = detectToolCalls(text, r.scanned);
    assert.equal(r.calls.length, 0, 'a call is reported once');
  });

  test('ignores text that is not a JSON call', () => {
    assert.equal(detectToolCalls('<tool_call>not json</tool_call>', 0).calls.length, 0);
    assert.equal(detectToolCalls('<tool_call>{"x": 1}</tool_call>', 0).calls.length, 0);
    assert.equal(detectToolCalls('no calls here', 0).calls.length, 0);
  });
});
