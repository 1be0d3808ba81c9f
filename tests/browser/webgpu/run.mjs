#!/usr/bin/env node
// WebGPU backend tests in headless Chromium: serves the repository on 127.0.0.1 with
// COOP/COEP (threads need crossOriginIsolated), opens tests/browser/webgpu/index.html
// once per suite, prints every check and exits non-zero on any failure.
//
//   node tests/browser/webgpu/run.mjs [--suite ops,model,wasm] [--chromium /usr/bin/chromium]
//        [--wasm-dir build-wasm/platforms/wasm] [--models-dir build-w3/webgpu-models] [--models a,b]
//        [--require-wasm]   (fail instead of skipping the wasm suite when its inputs are missing)
//        [--adapter swiftshader|lavapipe] [--work-dir build-lavapipe] [--chromium-dir /usr/lib/chromium]
//        [--require-f16] [--kv-cache f32,auto]   (the wasm suite's WebGPU KV caches, each a pass over the models)
//
// Adapters: swiftshader  Chromium's own CPU adapter (no shader-f16): the default
//           lavapipe     Mesa's lavapipe through a test-only Vulkan layer (lavapipe/README.md):
//                        the adapter has shader-f16, so the f16 KV cache path runs; --work-dir
//                        holds the compiled layer and a Chromium copy. --require-f16 fails the
//                        run when the adapter lacks shader-f16 instead of skipping the f16 runs.
//
// Suites: ops   per-op parity vs the JavaScript reference (always)
//         model whole-model parity on random Llama/Qwen2/Qwen3/Mistral-shaped models in the
//               wasm heap layout vs a JavaScript forward pass (always)
//         wasm  WebGPU logits vs the wasm CPU engine on converted models, Gemma 3 and GPT-2 included (when the wasm build
//               and the .kite files exist; skipped with a message otherwise)
// Needs playwright-core (npm install in this folder) and Debian's chromium; downloads nothing.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { lavapipeLaunch } from './lavapipe/lavapipe.mjs';
import { launchWithAdapter } from './launch.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const suites = opt('suite', 'ops,model,wasm').split(',');
const chromiumPath = opt('chromium', process.env.CHROMIUM || '/usr/bin/chromium');
const suiteTimeoutMs = Number(opt('timeout-ms', '150000'));
// The wasm suite: the browser build of the runtime and the converted models (prepare_models.sh).
const wasmDir = opt('wasm-dir', ['build-wasm/platforms/wasm', 'build-wasm-st/platforms/wasm'].find((d) => fs.existsSync(path.join(root, d, 'kite.mjs'))) || 'build-wasm/platforms/wasm');
const modelsDir = opt('models-dir', 'build-w3/webgpu-models');
const wasmModels = opt('models', 'stories260K-f32,stories260K-f16,stories260K-q8,stories260K-q4,stories260K-q4g64,random-llama-f32,random-qwen2-f32,random-qwen3-f32,random-qwen3-q8,random-gemma3-f32,random-gemma3-q8,random-gemma3_softcap-f32,random-gpt2-f32,random-gpt2-q8,tiny-random-gpt2-f16');
const requireWasm = args.includes('--require-wasm');
const adapter = opt('adapter', 'swiftshader');
const requireF16 = args.includes('--require-f16');

function loadPlaywright() {
  const require = createRequire(import.meta.url);
  for (const base of [here, path.join(root, 'web'), path.join(root, 'tests/browser')]) {
    try {
      return require(require.resolve('playwright-core', { paths: [base] }));
    } catch { /* next */ }
  }
  console.error('playwright-core is not installed: run `npm install` in tests/browser/webgpu');
  process.exit(2);
}

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.wgsl': 'text/plain', '.json': 'application/json', '.kite': 'application/octet-stream', '.css': 'text/css' };

function serve() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const file = path.resolve(root, `.${decodeURIComponent(url.pathname)}`);
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin', 'Cache-Control': 'no-store' };
    if (!file.startsWith(root) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, headers);
      res.end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': MIME[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  // The embedded copy of the shaders (web/src/webgpu/wgsl_sources.js) must match kernels/webgpu.
  const { embeddedText } = await import(path.join(root, 'web/src/webgpu/embed_shaders.mjs'));
  const embedded = path.join(root, 'web/src/webgpu/wgsl_sources.js');
  if (!fs.existsSync(embedded) || fs.readFileSync(embedded, 'utf8') !== embeddedText()) {
    console.log('FAIL web/src/webgpu/wgsl_sources.js is out of date: run node web/src/webgpu/embed_shaders.mjs');
    process.exit(1);
  }
  const { chromium } = loadPlaywright();
  if (!fs.existsSync(chromiumPath)) {
    console.error(`Chromium not found at ${chromiumPath} (apt-get install chromium)`);
    process.exit(2);
  }
  const server = await serve();
  const base = `http://127.0.0.1:${server.address().port}`;
  let launch = { executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan'] };
  if (adapter === 'lavapipe') {
    // The Debian package's files (/usr/bin/chromium is a shell wrapper around them).
    const lp = lavapipeLaunch(path.resolve(root, opt('work-dir', 'build-lavapipe')), opt('chromium-dir', '/usr/lib/chromium'));
    if (!lp.ok) {
      console.error(`lavapipe adapter unavailable: ${lp.reason}`);
      process.exit(2);
    }
    launch = { executablePath: lp.executablePath, headless: true, env: lp.env, args: ['--no-sandbox', '--enable-unsafe-webgpu', ...lp.args] };
  } else if (adapter !== 'swiftshader') {
    console.error(`unknown --adapter ${adapter} (swiftshader or lavapipe)`);
    process.exit(2);
  }
  // Each suite (and each KV cache pass of the wasm suite) gets a browser of its own: on lavapipe
  // (Mesa 22.3.6) Chromium's GPU process keeps growing as devices are created and destroyed (not on
  // SwiftShader, which stays at 0.1-0.3 GB), and it died at about 1.2 GB, some 80 devices into one
  // session. Split like this, its peak was 0.85 GB (the wasm suite's pass over 15 models).
  const runs = [];
  for (const suite of suites) {
    const passes = suite === 'wasm' ? (opt('kv-cache') || 'f32,auto').split(',') : [opt('kv-cache')];
    for (const kvCache of passes) runs.push({ suite, kvCache });
  }
  let failures = 0;
  const skipped = new Set();
  const started = Date.now();
  try {
    for (const { suite, kvCache } of runs) {
      const t0 = Date.now();
      let query = `suite=${suite}${requireF16 ? '&require_f16=1' : ''}`;
      if (['wasm', 'bench'].includes(suite)) {
        const missing = [path.join(wasmDir, 'kite.mjs'), ...wasmModels.split(',').map((m) => path.join(modelsDir, `${m}.kite`))]
          .filter((f) => !fs.existsSync(path.resolve(root, f)));
        if (missing.length) {
          if (!skipped.has(suite)) {  // once, not once per cache pass
            console.log(`== ${suite}: SKIPPED, missing ${missing.join(', ')} (build the wasm module; run prepare_models.sh)`);
            if (requireWasm) failures += 1;
          }
          skipped.add(suite);
          continue;
        }
        if (opt('activations')) query += `&activations=${opt('activations')}`;
        if (kvCache) query += `&kv_cache=${kvCache}`;
        if (opt('max-batch')) query += `&max_batch=${opt('max-batch')}`;
        if (opt('prompt')) query += `&prompt=${opt('prompt')}&steps=${opt('steps', '4')}`;
        if (opt('context')) query += `&context=${opt('context')}`;
        query += `&wasm=/${wasmDir}/kite.mjs&models=/${modelsDir}&list=${wasmModels}`;
      }
      const { browser, page } = await launchWithAdapter(chromium, launch, `${base}/tests/browser/webgpu/blank.html`);
      page.on('console', (m) => { if (m.type() === 'error') console.log(`  [console.error] ${m.text()}`); });
      page.on('pageerror', (e) => console.log(`  [pageerror] ${e.message}`));
      const name = suite === 'wasm' && kvCache ? `${suite} (${kvCache} KV cache)` : suite;
      console.log(`== ${name}`);
      await page.goto(`${base}/tests/browser/webgpu/index.html?${query}`);
      let r;
      try {
        await page.waitForFunction(() => globalThis.__kite && globalThis.__kite.done, null, { timeout: suiteTimeoutMs, polling: 250 });
        r = await page.evaluate(() => globalThis.__kite);
      } catch (e) {
        r = await page.evaluate(() => globalThis.__kite || { lines: [] }).catch(() => ({ lines: [] }));
        r = { ...r, failures: (r.failures || 0) + 1, lines: [...(r.lines || []), `FAIL ${suite}: timed out after ${suiteTimeoutMs} ms`] };
      }
      for (const line of r.lines) console.log(`  ${line}`);
      console.log(`== ${name}: ${r.checks ?? 0} checks, ${r.failures} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      failures += r.failures;
      await browser.close();
    }
  } finally {
    server.close();
  }
  console.log(`${failures ? 'FAILED' : 'PASSED'}: ${failures} failure(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
