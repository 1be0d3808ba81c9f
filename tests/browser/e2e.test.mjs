// End-to-end tests of the web package and demo in Debian's Chromium (headless, driven by
// playwright-core; no browser is downloaded). The demo is served from 127.0.0.1 by
// web/tools/serve.mjs with COOP/COEP, loads the stories260K model, streams a story and shows the
// badge; the API is checked against the model's golden greedy tokens and logits; errors,
// abort, caching, file picking and a page without WebGPU or threads are covered; and, when the
// WebGPU backend is there, WebGPU must give wasm's greedy tokens and logits within tolerance.
//
// Environment (tests/browser/run.sh sets it):
//   KITE_WASM_RUNTIME          folder with kite.mjs + kite.wasm (single-thread build)   [required]
//   KITE_WASM_THREADS_RUNTIME  folder with the pthreads build (kite.mjs, .wasm, .worker.js)
//   KITE_BROWSER_MODELS        folder with stories260K.kite and tiny-qwen2-chat.kite    [required]
//   KITE_BROWSER_OUT           where screenshots go (default: build-browser/)
//   KITE_SHARED_DIR            ../shared (golden outputs)
//   KITE_CHROMIUM              the browser (default /usr/bin/chromium)
//   KITE_BROWSER_WEBGPU        1: WebGPU tests must run; 0: skip them; unset: run them when the
//                              WebGPU backend module exists
//   KITE_BROWSER_LAVAPIPE      1 (default where WebGPU runs): also run the demo and the parity on
//                              Mesa's lavapipe, the adapter with shader-f16 (webgpu/lavapipe/); 0: skip
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { launchWithAdapter } from './webgpu/launch.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const shared = process.env.KITE_SHARED_DIR ?? path.resolve(repo, '../shared');
const runtimeDir = process.env.KITE_WASM_RUNTIME;
const threadsDir = process.env.KITE_WASM_THREADS_RUNTIME;
const modelsDir = process.env.KITE_BROWSER_MODELS;
const outDir = path.resolve(process.env.KITE_BROWSER_OUT ?? path.join(repo, 'build-browser'));
const chromiumPath = process.env.KITE_CHROMIUM ?? '/usr/bin/chromium';
const webgpuModule = path.join(repo, 'web/dist/webgpu/index.js');
const webgpuWanted = process.env.KITE_BROWSER_WEBGPU ?? (fs.existsSync(webgpuModule) ? '1' : '0');
const lavapipeWanted = webgpuWanted === '1' && (process.env.KITE_BROWSER_LAVAPIPE ?? '1') === '1';

function need(cond, message) {
  if (!cond) throw new Error(`browser tests: ${message}`);
}
need(runtimeDir && fs.existsSync(path.join(runtimeDir, 'kite.mjs')), `KITE_WASM_RUNTIME (${runtimeDir}) has no kite.mjs`);
need(modelsDir && fs.existsSync(path.join(modelsDir, 'stories260K.kite')), `KITE_BROWSER_MODELS (${modelsDir}) has no stories260K.kite`);
need(fs.existsSync(path.join(modelsDir, 'tiny-qwen2-chat.kite')), `${modelsDir} has no tiny-qwen2-chat.kite`);
need(fs.existsSync(path.join(repo, 'web/dist/index.js')), 'web/dist/index.js is missing: npm run build in web/');
need(fs.existsSync(chromiumPath), `${chromiumPath} not found (apt-get install chromium)`);
const hasThreadsRuntime = Boolean(threadsDir && fs.existsSync(path.join(threadsDir, 'kite.mjs')));
// Chromium has relaxed SIMD, so the worker must pick kite-relaxed.mjs wherever the build made one.
const expectedKernels = (dir) => (fs.existsSync(path.join(dir, 'kite-relaxed.mjs')) ? 'wasm-relaxed-simd' : 'wasm-simd128');
fs.mkdirSync(outDir, { recursive: true });

const golden = JSON.parse(fs.readFileSync(path.join(shared, 'models/stories260K/reference/once_upon.json'), 'utf8'));
const goldenLogits = new Float32Array(fs.readFileSync(path.join(shared, 'models/stories260K/reference/once_upon.logits.f32'))
  .buffer.slice(0));
// Row p of the golden logits follows the token at position p of prompt_ids + greedy_ids.
const goldenRow = (p) => goldenLogits.subarray(p * 512, (p + 1) * 512);

const { startServer } = await import(path.join(repo, 'web/tools/serve.mjs'));
const mounts = {
  '/wasm/': runtimeDir,
  '/models/': modelsDir,
  '/tests/': here,
  '/kernels/webgpu/': path.join(repo, 'kernels/webgpu'),
};
if (hasThreadsRuntime) mounts['/wasm-threads/'] = threadsDir;

function maxAbsDiff(a, b) {
  assert.equal(a.length, b.length, 'logit vectors differ in length');
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Opens a page; its console and errors go to our stderr tagged, so a failure shows why. */
async function openPage(browser, url, tag) {
  const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') process.stderr.write(`[${tag} ${m.type()}] ${m.text()}\n`);
  });
  page.on('pageerror', (e) => process.stderr.write(`[${tag} pageerror] ${e.message}\n`));
  await page.goto(url);
  return page;
}

async function waitState(page, states, timeout = 90_000) {
  await page.waitForFunction((s) => s.includes(document.body.dataset.state), states, { timeout });
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state === 'error') {
    const notes = await page.evaluate(() => document.getElementById('notices').innerText);
    assert.fail(`the demo reports an error: ${notes}`);
  }
  return state;
}

/** Runs a prompt in the demo and records how the answer grew, to prove it streamed. */
async function askDemo(page, prompt, { maxTokens, temperature }) {
  await page.fill('#prompt', prompt);
  await page.fill('#max-tokens', String(maxTokens));
  await page.fill('#temperature', String(temperature));
  const frames0 = await page.evaluate(() => window.kiteFrames);
  await page.evaluate(() => {
    window.__growth = [];
    const t = document.getElementById('transcript');
    new MutationObserver(() => window.__growth.push(t.innerText.length)).observe(t, {
      childList: true, subtree: true, characterData: true,
    });
  });
  await page.click('#send');
  await waitState(page, ['done', 'error']);
  const growth = await page.evaluate(() => window.__growth);
  const frames = (await page.evaluate(() => window.kiteFrames)) - frames0;
  const text = await page.evaluate(() => document.querySelector('#transcript .msg.assistant:last-child .text').textContent);
  const badge = await page.evaluate(() => ({ ...document.getElementById('badge').dataset,
    text: document.getElementById('badge').textContent }));
  return { growth, frames, text, badge };
}

// ---------------------------------------------------------------------------------------------

// A second turn whose prompt extends the first (prompt + reply + more) evaluates only what it adds
// (stats.cachedPromptTokens) and answers exactly as a fresh load given the whole prompt does.
// The demo with backend 'auto' must pick WebGPU and stream the golden prompt's answer; saves a
// screenshot as <shot>.png. Returns the model info and the badge for the caller's own checks.
async function checkDemoPicksWebGpu(browser, serverUrl, shot, maxTokens) {
  const page = await openPage(browser, `${serverUrl}demo/`, shot);
  await waitState(page, ['ready', 'error'], 120_000);
  const info = await page.evaluate(() => window.kiteDemo.model.info);
  assert.equal(info.backend, 'webgpu', `auto picked ${info.backend}: ${info.backendNote}`);
  const run = await askDemo(page, golden.prompt, { maxTokens, temperature: 0 });
  assert.ok(new Set(run.growth).size >= 3, 'the answer streamed');
  await page.screenshot({ path: path.join(outDir, `${shot}.png`), fullPage: true });
  await page.close();
  return { info, badge: run.badge };
}

async function checkNextTurnReusesCache(page, backend) {
  const r = await page.evaluate(async ({ backend, promptIds }) => {
    const opts = { backend, threads: 1, cache: false, kvFormat: 'f32' };
    const reply = { temperature: 0, maxTokens: 8, ignoreEos: true };
    let model = await window.kite.load('/models/stories260K.kite', opts);
    const first = await model.generate(promptIds, reply).result;
    const more = await model.tokenize(' Then the sun came out.');
    const turn = [...promptIds, ...first.tokenIds, ...more];
    const second = await model.generate(turn, reply).result;
    const backendUsed = model.info.backend;
    await model.unload();
    model = await window.kite.load('/models/stories260K.kite', opts);
    const fresh = await model.generate(turn, reply).result;
    await model.unload();
    return { first: first.stats, second: second.stats, secondIds: second.tokenIds, freshIds: fresh.tokenIds,
      fresh: fresh.stats, turnLength: turn.length, backendUsed };
  }, { backend, promptIds: golden.prompt_ids });
  assert.equal(r.backendUsed, backend);
  assert.equal(r.first.cachedPromptTokens, 0);
  assert.equal(r.second.cachedPromptTokens, golden.prompt_ids.length + 8, 'the first turn is reused');
  assert.equal(r.second.promptTokens, r.turnLength);
  assert.equal(r.fresh.cachedPromptTokens, 0);
  assert.deepEqual(r.secondIds, r.freshIds, 'the reused turn answers like a fresh load');
}

describe('Kite in Chromium (wasm)', { timeout: 240_000 }, () => {
  let server;
  let browser;
  before(async () => {
    server = await startServer({ mounts });
    browser = await chromium.launch({
      executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu'],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('demo: loads the default model over COOP/COEP, streams a story, shows the badge', async () => {
    const page = await openPage(browser, `${server.url}demo/?backend=wasm`, 'demo');
    await waitState(page, ['ready', 'error']);
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'the dev server makes the page cross-origin isolated');
    const info = await page.evaluate(() => window.kiteDemo.model.info);
    assert.equal(info.backend, 'wasm');
    assert.equal(info.architecture.toLowerCase().includes('llama'), true, `architecture ${info.architecture}`);
    if (hasThreadsRuntime) assert.ok(info.threads >= 2, `the pthreads build runs ${info.threads} thread(s)`);
    assert.equal(info.kernels, expectedKernels(hasThreadsRuntime ? threadsDir : runtimeDir));
    const notes = await page.evaluate(() => document.getElementById('notices').innerText);
    assert.doesNotMatch(notes, /lacks WebAssembly SIMD|Threads are unavailable|no WebGPU/, 'Chromium has SIMD, threads (COOP/COEP) and WebGPU');
    assert.match(await page.textContent('#caps'), /SIMD yes · threads yes/);
    const progress = await page.evaluate(() => document.getElementById('progress').value);
    assert.equal(progress, 1, 'the progress bar is full once loaded');
    const run = await askDemo(page, golden.prompt, { maxTokens: 48, temperature: 0 });
    // Greedy decoding of the real model must reproduce the reference story (run.c's output).
    assert.ok(run.text.length > golden.prompt.length + 20, `answer too short: ${JSON.stringify(run.text)}`);
    assert.ok(golden.full_text.startsWith(run.text), `greedy story differs from the reference:\n  got  ${JSON.stringify(run.text)}\n  want ${JSON.stringify(golden.full_text.slice(0, run.text.length))}`);
    assert.ok(new Set(run.growth).size >= 3, `the answer did not stream (lengths seen: ${run.growth.join(',')})`);
    assert.ok(run.frames >= 2, `the page froze while answering (${run.frames} frames)`);
    assert.equal(run.badge.backend, 'wasm');
    assert.ok(Number(run.badge.tokensPerSecond) > 0, `badge: ${run.badge.text}`);
    assert.match(run.badge.text, /wasm SIMD .* tok\/s/);
    await page.screenshot({ path: path.join(outDir, 'demo-wasm.png'), fullPage: true });
    await page.close();
  });

  test('API: greedy tokens and logits of stories260K match the reference, 1 thread and threads', async () => {
    const page = await openPage(browser, `${server.url}tests/harness.html`, 'api');
    await page.waitForFunction(() => window.kite);
    const threadCounts = hasThreadsRuntime ? [1, 2] : [1];
    for (const threads of threadCounts) {
      const r = await page.evaluate(async ({ threads, promptIds, steps }) => {
        // f32 KV cache: the reference is f32 math (the default f16 cache moves logits by ~5e-3).
        const model = await window.kite.load('/models/stories260K.kite', { backend: 'wasm', threads, cache: false,
          kvFormat: 'f32' });
        const ids = await model.tokenize('Once upon a time');
        const logits = await model.evaluate(promptIds);
        const res = await model.generate(promptIds, { temperature: 0, maxTokens: steps }).result;
        const info = model.info;
        await model.unload();
        return { ids, logits: Array.from(logits), tokenIds: res.tokenIds, stats: res.stats, info };
      }, { threads, promptIds: golden.prompt_ids, steps: golden.greedy_ids.length });
      assert.equal(r.info.threads, threads);
      // The runtime adds no BOS: the reference ids are BOS + the text's ids.
      assert.deepEqual([golden.prompt_ids[0], ...r.ids], golden.prompt_ids);
      // f32 model: the reference is float64 rounded to f32; run.c in f32 differs by 2.6e-5
      // (shared/models/README.md), SIMD summation order adds a little: 1e-4.
      const diff = maxAbsDiff(r.logits, goldenRow(golden.prompt_ids.length - 1));
      assert.ok(diff <= 1e-4, `logits differ from the reference by ${diff} (threads ${threads})`);
      // Every step's top-1/top-2 margin is >= min_margin (0.05) >> 1e-4: all ids must match.
      assert.deepEqual(r.tokenIds, golden.greedy_ids, `greedy ids (threads ${threads})`);
      assert.equal(r.stats.generatedTokens, golden.greedy_ids.length);
      assert.equal(r.stats.finishReason, 'max_tokens');
      assert.equal(r.stats.promptTokens, golden.prompt_ids.length);
      assert.ok(r.stats.prefillTokensPerSecond > 0 && r.stats.decodeTokensPerSecond > 0);
    }
    await page.close();
  });

  test('API: chat() applies the model\'s template and streams; tokenize/detokenize round-trip', async () => {
    const page = await openPage(browser, `${server.url}tests/harness.html`, 'chat');
    await page.waitForFunction(() => window.kite);
    const r = await page.evaluate(async () => {
      const model = await window.kite.load('/models/tiny-qwen2-chat.kite', { backend: 'wasm', cache: false });
      const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello, Kite!' }];
      const prompt = await model.applyTemplate(messages);
      const pieces = [];
      const stream = model.chat(messages, { maxTokens: 12, temperature: 0.9, seed: 7 });
      for await (const p of stream) pieces.push(p);
      const result = await stream.result;
      const ids = await model.tokenize('Hello, Kite! 🪁');
      const back = await model.detokenize(ids);
      const info = model.info;
      await model.unload();
      return { prompt, pieces, result, back, info, stats: result.stats };
    });
    assert.equal(r.info.hasChatTemplate, true);
    assert.match(r.prompt, /<\|im_start\|>system\nYou are terse\.<\|im_end\|>\n<\|im_start\|>user\nHello, Kite!<\|im_end\|>\n<\|im_start\|>assistant\n$/);
    assert.equal(r.pieces.join(''), r.result.text, 'the streamed pieces make the whole text');
    assert.ok(r.result.tokenIds.length >= 1 && r.result.tokenIds.length <= 12);
    assert.ok(['eos', 'max_tokens', 'stop_string'].includes(r.stats.finishReason), r.stats.finishReason);
    // The prompt is the rendered template: its special tokens are single ids, so it is short.
    assert.ok(r.stats.promptTokens > 10 && r.stats.promptTokens < 40, `prompt tokens ${r.stats.promptTokens}`);
    assert.equal(r.back, 'Hello, Kite! 🪁');
    await page.close();
  });

  test('API: the next turn reuses the conversation\'s KV cache (wasm)', async () => {
    const page = await openPage(browser, `${server.url}tests/harness.html`, 'reuse');
    await page.waitForFunction(() => window.kite);
    await checkNextTurnReusesCache(page, 'wasm');
    await page.close();
  });

  test('API: errors are rejected promises with codes and clear messages', async () => {
    const page = await openPage(browser, `${server.url}tests/harness.html`, 'errors');
    await page.waitForFunction(() => window.kite);
    const r = await page.evaluate(async () => {
      const out = {};
      const code = async (fn) => {
        try {
          await fn();
          return 'resolved';
        } catch (e) {
          return `${e.code}: ${e.message}`;
        }
      };
      out.garbage = await code(() => window.kite.load(new TextEncoder().encode('GGUF this is not a kite model').buffer));
      out.missing = await code(() => window.kite.load('/models/no-such-model.kite'));
      out.badBackend = await code(() => window.kite.load('/models/stories260K.kite', { backend: 'cuda' }));
      // A .kite cut in half: the header is fine, the tensors are not there.
      const whole = new Uint8Array(await (await fetch('/models/stories260K.kite')).arrayBuffer());
      out.truncated = await code(() => window.kite.load(whole.slice(0, whole.length >> 1)));
      const model = await window.kite.load('/models/stories260K.kite', { backend: 'wasm', cache: false });
      out.noTemplate = await code(() => model.chat([{ role: 'user', content: 'hi' }]).result);
      out.emptyChat = await code(() => model.chat([]).result);
      const first = model.generate('Once', { maxTokens: 200, temperature: 0 });
      out.busy = await code(() => model.generate('Twice').result);
      model.abort();
      await first.result;
      await model.unload();
      out.unloaded = await code(() => model.generate('x').result);
      return out;
    });
    assert.match(r.garbage, /^bad_file: .*not a \.kite artifact/);
    assert.match(r.missing, /^network: .*no-such-model\.kite.*404/);
    assert.match(r.badBackend, /^invalid_argument: backend must be/);
    assert.match(r.truncated, /^(bad_file|runtime): .+/);
    assert.notEqual(r.truncated, 'resolved');
    assert.match(r.noTemplate, /^no_template: .*generate\(prompt\)/);
    assert.match(r.emptyChat, /^invalid_argument:/);
    assert.match(r.busy, /^busy: /);
    assert.match(r.unloaded, /^unloaded: /);
    await page.close();
  });

  test('API: abort() stops a generation between tokens', async () => {
    const page = await openPage(browser, `${server.url}tests/harness.html`, 'abort');
    await page.waitForFunction(() => window.kite);
    const r = await page.evaluate(async () => {
      const model = await window.kite.load('/models/stories260K.kite', { backend: 'wasm', cache: false });
      const stream = model.generate('Once upon a time', { maxTokens: 400, temperature: 0.8, seed: 3, ignoreEos: true });
      let pieces = 0;
      for await (const _ of stream) {
        if (++pieces === 3) model.abort();
      }
      const result = await stream.result;
      // Leaving a for-await loop early aborts too.
      const second = model.generate('Once upon a time', { maxTokens: 400, temperature: 0.8, seed: 4, ignoreEos: true });
      for await (const _ of second) break;
      const secondResult = await second.result;
      await model.unload();
      return { result, secondResult };
    });
    assert.equal(r.result.stats.finishReason, 'aborted');
    assert.ok(r.result.tokenIds.length < 400, `${r.result.tokenIds.length} tokens after abort`);
    assert.equal(r.secondResult.stats.finishReason, 'aborted');
    assert.ok(r.secondResult.tokenIds.length < 400);
    await page.close();
  });

  test('API: a URL is kept in Cache Storage and read from there next time; clearCache() forgets it', async () => {
    const page = await openPage(browser, `${server.url}tests/harness.html`, 'cache');
    await page.waitForFunction(() => window.kite);
    const r = await page.evaluate(async () => {
      const url = new URL('/models/stories260K.kite', location.href).href;
      await window.kite.clearCache();
      const phases = [];
      const a = await window.kite.load(url, { backend: 'wasm', onProgress: (p) => phases.push(p.phase) });
      const first = a.info.source;
      await a.unload();
      const cached = await window.kite.cachedUrls();
      const b = await window.kite.load(url, { backend: 'wasm', onProgress: (p) => phases.push(p.phase) });
      const second = b.info.source;
      const text = await b.generate('Once upon a time', { maxTokens: 8, temperature: 0 }).text();
      await b.unload();
      const removed = await window.kite.clearCache(url);
      const after = await window.kite.cachedUrls();
      return { first, second, cached, removed, after, url, phases: [...new Set(phases)], text };
    });
    assert.equal(r.first, 'network');
    assert.deepEqual(r.cached, [r.url]);
    assert.equal(r.second, 'cache');
    assert.ok(r.phases.includes('download') && r.phases.includes('cache') && r.phases.includes('init'), r.phases.join());
    assert.ok(golden.greedy_text.startsWith(r.text), `from the cached copy: ${JSON.stringify(r.text)}`);
    assert.equal(r.removed, true);
    assert.deepEqual(r.after, []);
    await page.close();
  });

  test('demo: a picked .kite file (chat model) loads and answers', async () => {
    const page = await openPage(browser, `${server.url}demo/?backend=wasm`, 'demo-file');
    await waitState(page, ['ready', 'error']);
    await page.setInputFiles('#file', path.join(modelsDir, 'tiny-qwen2-chat.kite'));
    await page.waitForFunction(() => document.getElementById('model-name').textContent.includes('tiny-qwen2-chat.kite') &&
      ['ready', 'error'].includes(document.body.dataset.state));
    await waitState(page, ['ready', 'error']);
    assert.equal(await page.evaluate(() => window.kiteDemo.model.info.source), 'file');
    assert.match(await page.textContent('#mode'), /chat template/);
    const run = await askDemo(page, 'Hello there', { maxTokens: 8, temperature: 0.7 });
    assert.equal(await page.evaluate(() => document.querySelectorAll('#transcript .msg.user').length), 1);
    assert.ok(run.badge.tokensPerSecond !== undefined, run.badge.text);
    await page.close();
  });
});

describe('Kite in Chromium without WebGPU and without cross-origin isolation', { timeout: 120_000 }, () => {
  let server;
  let browser;
  before(async () => {
    server = await startServer({ mounts, isolation: false });
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('demo says WebGPU and threads are missing, and still answers on one wasm thread', async () => {
    const page = await openPage(browser, `${server.url}demo/`, 'plain');
    await waitState(page, ['ready', 'error']);
    assert.equal(await page.evaluate(() => crossOriginIsolated), false);
    const notes = await page.evaluate(() => document.getElementById('notices').innerText);
    assert.match(notes, /no WebGPU|gave no adapter/);
    assert.match(notes, /Threads are unavailable: the page is not cross-origin isolated/);
    const info = await page.evaluate(() => window.kiteDemo.model.info);
    assert.equal(info.backend, 'wasm');
    assert.equal(info.threads, 1);
    assert.equal(info.kernels, expectedKernels(runtimeDir));
    const run = await askDemo(page, golden.prompt, { maxTokens: 16, temperature: 0 });
    assert.ok(golden.full_text.startsWith(run.text), run.text);
    await page.screenshot({ path: path.join(outDir, 'demo-no-webgpu-no-threads.png'), fullPage: true });
    const refused = await page.evaluate(async () => {
      const { load } = await import('/dist/index.js');
      try {
        await load('/models/stories260K.kite', { backend: 'webgpu', cache: false });
        return 'resolved';
      } catch (e) {
        return `${e.code}: ${e.message}`;
      }
    });
    assert.match(refused, /^no_webgpu: WebGPU was requested but /);
    await page.close();
  });
});

describe('Kite in Chromium on WebGPU (SwiftShader)', {
  timeout: 240_000, skip: webgpuWanted !== '1' && 'the WebGPU backend module is not built',
}, () => {
  let server;
  let browser;
  before(async () => {
    server = await startServer({ mounts });
    let probe;
    ({ browser, page: probe } = await launchWithAdapter(chromium, {
      executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu'],
    }, `${server.url}tests/webgpu/blank.html`, { log: (line) => console.error(line) }));
    await probe.close();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('demo picks WebGPU by itself and streams a story', async () => {
    const { badge } = await checkDemoPicksWebGpu(browser, server.url, 'demo-webgpu', 32);
    assert.match(badge.text, /WebGPU .* tok\/s/);
  });

  test('WebGPU: the next turn reuses the conversation\'s KV cache', async () => {
    const page = await openPage(browser, `${server.url}tests/harness.html`, 'reuse-gpu');
    await page.waitForFunction(() => window.kite);
    await checkNextTurnReusesCache(page, 'webgpu');
    await page.close();
  });

  test('WebGPU gives wasm\'s greedy tokens and logits within tolerance', async () => {
    const page = await openPage(browser, `${server.url}tests/harness.html`, 'parity');
    await page.waitForFunction(() => window.kite);
    // steps 0: logits only (SwiftShader runs the 151,936-row lm_head of the chat model slowly).
    const run = (backend, modelUrl, promptIds, steps) => page.evaluate(async ({ backend, modelUrl, promptIds, steps }) => {
      const model = await window.kite.load(modelUrl, { backend, threads: 1, cache: false, kvFormat: 'f32' });
      const logits = await model.evaluate(promptIds);
      const res = steps > 0 ? await model.generate(promptIds, { temperature: 0, maxTokens: steps, ignoreEos: true }).result : null;
      const { backend: backendUsed, kernels, rearrangedTensors } = model.info;
      await model.unload();
      return { logits: Array.from(logits), tokenIds: res ? res.tokenIds : [], backendUsed, kernels, rearrangedTensors };
    }, { backend, modelUrl, promptIds, steps });
    // stories260K (f32): against wasm and against the reference.
    const steps = 24;
    const gpu = await run('webgpu', '/models/stories260K.kite', golden.prompt_ids, steps);
    const cpu = await run('wasm', '/models/stories260K.kite', golden.prompt_ids, steps);
    assert.equal(gpu.backendUsed, 'webgpu');
    assert.equal(cpu.backendUsed, 'wasm');
    // Tolerance: f32 weights, activations and KV cache on both sides; only the summation order
    // differs (GPU workgroup reductions vs SIMD lanes): 1e-3 absolute on logits of magnitude ~10.
    const diff = maxAbsDiff(gpu.logits, cpu.logits);
    assert.ok(diff <= 1e-3, `stories260K: WebGPU logits differ from wasm by ${diff}`);
    assert.ok(maxAbsDiff(gpu.logits, goldenRow(golden.prompt_ids.length - 1)) <= 1e-3, 'WebGPU logits vs the reference');
    // Greedy ids must agree while the reference's top-1/top-2 margin exceeds that tolerance.
    const firstClose = golden.greedy_margins.findIndex((m) => m <= 1e-3);
    const n = firstClose < 0 ? steps : Math.min(steps, firstClose);
    assert.deepEqual(gpu.tokenIds.slice(0, n), cpu.tokenIds.slice(0, n));
    assert.deepEqual(gpu.tokenIds.slice(0, n), golden.greedy_ids.slice(0, n));
    assert.equal(gpu.rearrangedTensors, 0);
    // stories260K q4: WebGPU reads the stored Q4 bytes; wasm, once it settles on the CPU, rearranges
    // them in its heap for the relaxed kernels (ModelInfo.rearrangedTensors). Both multiply int8
    // activations exactly (WebGPU's default 'q8' activations), so only the f32 summation order
    // differs: the same greedy ids (tests/browser/webgpu's wasm suite measured 0 differences), logits
    // within 1e-2 absolute (an activation code moved by one at a rounding boundary; a misread weight
    // moves them by ~1).
    const g4 = await run('webgpu', '/models/stories260K-q4.kite', golden.prompt_ids, 16);
    const c4 = await run('wasm', '/models/stories260K-q4.kite', golden.prompt_ids, 16);
    assert.equal(g4.backendUsed, 'webgpu');
    assert.equal(g4.rearrangedTensors, 0);
    assert.equal(c4.rearrangedTensors > 0, c4.kernels === 'wasm-relaxed-simd',
                 `${c4.kernels}: ${c4.rearrangedTensors} tensors rearranged`);
    const d4 = maxAbsDiff(g4.logits, c4.logits);
    assert.ok(d4 <= 1e-2, `stories260K q4: WebGPU logits differ from wasm by ${d4}`);
    assert.deepEqual(g4.tokenIds, c4.tokenIds);
    // The q8 chat model (Qwen2: attention biases, tied 151,936-row embedding): same weights on
    // both sides, but wasm quantizes activations to int8 per 32 columns for q8 matvecs and WebGPU
    // keeps them f32 (platforms/wasm/README.md): 2e-2 absolute.
    const chatIds = [151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198];
    const gq = await run('webgpu', '/models/tiny-qwen2-chat.kite', chatIds, 0);
    const cq = await run('wasm', '/models/tiny-qwen2-chat.kite', chatIds, 0);
    assert.equal(gq.backendUsed, 'webgpu');
    const dq = maxAbsDiff(gq.logits, cq.logits);
    assert.ok(dq <= 2e-2, `tiny-qwen2-chat q8: WebGPU logits differ from wasm by ${dq}`);
    await page.close();
  });

  test('WebGPU and wasm hold the same context: a long reply ends with context_full on both', async () => {
    const page = await openPage(browser, `${server.url}tests/harness.html`, 'context-full');
    await page.waitForFunction(() => window.kite);
    const run = (backend, context) => page.evaluate(async ({ backend, context, promptIds }) => {
      const model = await window.kite.load('/models/stories260K.kite', { backend, threads: 1, cache: false, kvFormat: 'f32', context });
      const info = { backend: model.info.backend, contextTokens: model.info.contextTokens };
      const res = context ? await model.generate(promptIds, { temperature: 0, maxTokens: 1000, ignoreEos: true }).result : null;
      await model.unload();
      return { info, tokenIds: res?.tokenIds, finish: res?.stats.finishReason };
    }, { backend, context, promptIds: golden.prompt_ids });
    // No context asked for: the model's 512 positions (capped at 4096) on both.
    for (const backend of ['webgpu', 'wasm']) assert.deepEqual((await run(backend, 0)).info, { backend, contextTokens: 512 });
    const context = golden.prompt_ids.length + 30;
    const gpu = await run('webgpu', context), cpu = await run('wasm', context);
    assert.deepEqual(gpu.info, { backend: 'webgpu', contextTokens: context });
    assert.equal(gpu.finish, 'context_full');
    assert.equal(cpu.finish, 'context_full');
    assert.equal(gpu.tokenIds.length, cpu.tokenIds.length, 'both stop at the same position');
    const firstClose = golden.greedy_margins.findIndex((m) => m <= 1e-3);
    const n = Math.min(gpu.tokenIds.length, firstClose < 0 ? Infinity : firstClose);
    assert.deepEqual(gpu.tokenIds.slice(0, n), cpu.tokenIds.slice(0, n));
    await page.close();
  });

  test('WebGPU: a lost device (GPU process crash) is replaced mid-answer, or wasm takes over', async () => {
    // A browser of its own: after two GPU process crashes in a row Chromium may refuse adapters
    // for the rest of its session, which must not reach the other tests.
    const own = await chromium.launch({
      executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu'],
    });
    try {
      const page = await openPage(own, `${server.url}tests/harness.html`, 'gpu-lost');
      await page.waitForFunction(() => window.kite);
      // Chromium's DevTools protocol crashes the GPU process: every device is lost for real
      // (reason 'unknown'), and Chromium starts a new GPU process for the next adapter.
      const cdp = await own.newBrowserCDPSession();
      await page.exposeFunction('crashGpu', () => cdp.send('Browser.crashGpuProcess'));
      const r = await page.evaluate(async ({ promptIds }) => {
        const opts = { backend: 'auto', threads: 1, cache: false, kvFormat: 'f32' };
        const reply = { temperature: 0, maxTokens: 24, ignoreEos: true };
        const model = await window.kite.load('/models/stories260K.kite', opts);
        const backendBefore = model.info.backend;
        const logitsBefore = Array.from(await model.evaluate(promptIds));
        const want = (await model.generate(promptIds, reply).result).tokenIds;
        await model.unload();
        const again = await window.kite.load('/models/stories260K.kite', opts);
        const stream = again.generate(promptIds, reply);
        let pieces = 0;
        for await (const piece of stream) { if (++pieces === 5) await window.crashGpu(); }
        const got = await stream.result;
        const afterStream = { backend: again.info.backend, note: again.info.backendNote };
        // A second crash right away: a new device again, or (Chromium refusing adapters after
        // repeated crashes) wasm.
        await window.crashGpu();
        const logitsAfter = Array.from(await again.evaluate(promptIds));
        const afterEvaluate = { backend: again.info.backend, note: again.info.backendNote };
        const next = (await again.generate(promptIds, { ...reply, maxTokens: 8 }).result).tokenIds;
        await again.unload();
        return { backendBefore, afterStream, afterEvaluate, want, got: got.tokenIds, next, logitsBefore, logitsAfter };
      }, { promptIds: golden.prompt_ids });
      assert.equal(r.backendBefore, 'webgpu');
      assert.equal(r.afterStream.backend, 'webgpu', `after the crash: ${r.afterStream.note}`);
      assert.match(r.afterStream.note, /WebGPU device was lost .*a new one took over/);
      assert.equal(r.got.length, 24, 'the answer went on to max_tokens after the crash');
      // The new device evaluated prompt + answer so far in one batch: the same numbers up to
      // summation order, so greedy ids agree while the reference's margins exceed 1e-3.
      const firstClose = golden.greedy_margins.findIndex((m) => m <= 1e-3);
      const n = firstClose < 0 ? 24 : Math.min(24, firstClose);
      assert.deepEqual(r.got.slice(0, n), r.want.slice(0, n));
      console.log(`  after the second crash: ${r.afterEvaluate.backend} (${r.afterEvaluate.note})`);
      assert.match(r.afterEvaluate.note, r.afterEvaluate.backend === 'webgpu' ? /a new one took over/ : /running on wasm/);
      // f32 weights and cache on either backend: logits within 1e-3 (the parity test's bound).
      const diff = maxAbsDiff(r.logitsAfter, r.logitsBefore);
      assert.ok(diff <= 1e-3, `evaluate() after the second crash differs by ${diff}`);
      // And the next request answers as before the crashes, on whichever backend took over.
      const m = Math.min(8, n);
      assert.deepEqual(r.next.slice(0, m), r.want.slice(0, m));
      await cdp.detach();
    } finally {
      await own.close();
    }
  });

  test('WebGPU: with backend \'webgpu\' a lost device is never replaced by wasm', async () => {
    const own = await chromium.launch({
      executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu'],
    });
    try {
      const page = await openPage(own, `${server.url}tests/harness.html`, 'gpu-lost-strict');
      await page.waitForFunction(() => window.kite);
      const cdp = await own.newBrowserCDPSession();
      await page.exposeFunction('crashGpu', () => cdp.send('Browser.crashGpuProcess'));
      const outcomes = await page.evaluate(async ({ promptIds }) => {
        const model = await window.kite.load('/models/stories260K.kite', { backend: 'webgpu', threads: 1, cache: false, kvFormat: 'f32' });
        const out = [];
        for (let crash = 0; crash < 3; ++crash) {
          await window.crashGpu();
          try {
            const res = await model.generate(promptIds, { temperature: 0, maxTokens: 4, ignoreEos: true }).result;
            out.push({ backend: res.stats.backend, info: model.info.backend, tokens: res.tokenIds.length });
          } catch (e) {
            out.push({ code: e.code, message: e.message, info: model.info.backend });
          }
        }
        await model.unload();
        return out;
      }, { promptIds: golden.prompt_ids });
      await cdp.detach();
      console.log(`  after each crash: ${outcomes.map((o) => o.code ?? o.backend).join(', ')}`);
      // Each request after a crash runs on a new device or fails with no_webgpu (Chromium refuses
      // adapters after repeated crashes); it never runs on wasm, and the info never says wasm.
      for (const o of outcomes) {
        if (o.code) assert.equal(o.code, 'no_webgpu', o.message);
        else assert.deepEqual(o, { backend: 'webgpu', info: 'webgpu', tokens: 4 });
        assert.equal(o.info, 'webgpu');
      }
    } finally {
      await own.close();
    }
  });
});

describe('Kite in Chromium on WebGPU with shader-f16 (lavapipe)', {
  timeout: 300_000, skip: !lavapipeWanted && 'the WebGPU tests or KITE_BROWSER_LAVAPIPE are off',
}, () => {
  let server;
  let browser;
  before(async () => {
    const { lavapipeLaunch } = await import('./webgpu/lavapipe/lavapipe.mjs');
    const lp = lavapipeLaunch(path.join(outDir, 'lavapipe'));
    need(lp.ok, `the lavapipe adapter is unavailable: ${lp.reason} (KITE_BROWSER_LAVAPIPE=0 skips these tests)`);
    server = await startServer({ mounts });
    let probe;
    ({ browser, page: probe } = await launchWithAdapter(chromium, { executablePath: lp.executablePath, env: lp.env,
      headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu', ...lp.args] }, `${server.url}tests/webgpu/blank.html`,
    { log: (line) => console.error(line) }));
    await probe.close();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('demo picks WebGPU with an f16 KV cache and streams a story', async () => {
    const { info, badge } = await checkDemoPicksWebGpu(browser, server.url, 'demo-webgpu-f16', 24);
    assert.equal(info.kvFormat, 'f16', 'the default kvFormat gives an f16 cache on a shader-f16 adapter');
    assert.match(badge.text, /WebGPU · f16 KV .* tok\/s/);
  });

  test('WebGPU with the f16 cache gives wasm\'s greedy tokens (f16 cache on both)', async () => {
    const page = await openPage(browser, `${server.url}tests/harness.html`, 'parity-f16');
    await page.waitForFunction(() => window.kite);
    const run = (backend, kvFormat) => page.evaluate(async ({ backend, kvFormat, promptIds }) => {
      const model = await window.kite.load('/models/stories260K.kite', { backend, threads: 1, cache: false, kvFormat });
      const logits = await model.evaluate(promptIds);
      const res = await model.generate(promptIds, { temperature: 0, maxTokens: 24, ignoreEos: true }).result;
      const out = { logits: Array.from(logits), tokenIds: res.tokenIds, backendUsed: model.info.backend, kv: model.info.kvFormat };
      await model.unload();
      return out;
    }, { backend, kvFormat, promptIds: golden.prompt_ids });
    const gpu = await run('webgpu', 'f16');
    const cpu = await run('wasm', 'f16');
    assert.equal(gpu.backendUsed, 'webgpu');
    assert.equal(gpu.kv, 'f16');
    assert.equal(cpu.kv, 'f16');
    // Tolerance: f32 weights and math, f16 caches on both sides; beyond summation order, a K/V
    // value whose two f32 versions straddle an f16 rounding boundary is stored one half-ULP step
    // apart (webgpu/wasm_suite.js measures NMSE <= 1.02e-8 over 16 steps): 1e-3 absolute on logits
    // of magnitude ~10, as for f32 caches (measured 4.8e-6 on the prompt).
    const diff = maxAbsDiff(gpu.logits, cpu.logits);
    assert.ok(diff <= 1e-3, `stories260K: WebGPU (f16 KV) logits differ from wasm (f16 KV) by ${diff}`);
    const firstClose = golden.greedy_margins.findIndex((m) => m <= 1e-3);
    const n = firstClose < 0 ? 24 : Math.min(24, firstClose);
    assert.deepEqual(gpu.tokenIds.slice(0, n), cpu.tokenIds.slice(0, n));
    // A caller that asks for f32 gets f32 on the GPU too.
    const exact = await run('webgpu', 'f32');
    assert.equal(exact.kv, 'f32');
    assert.ok(maxAbsDiff(exact.logits, goldenRow(golden.prompt_ids.length - 1)) <= 1e-3, 'f32 cache: WebGPU logits vs the reference');
    await page.close();
  });
});
