#!/usr/bin/env node
// Kite (web package, wasm backend) vs @wllama/wllama (llama.cpp compiled to wasm) in headless
// Chromium, on the same weights: a SmolLM2-135M-shaped random checkpoint written as .kite by
// kite-convert and as GGUF by kite-export-gguf (q8 <-> Q8_0, q4 <-> Q4_0).
//
//   node benchmarks/web/bench.mjs [options]       (or scripts: benchmarks/web/run.sh)
//
// Each (quantization, threads) pair loads both runtimes, each in a fresh page, one after the
// other; each runs one untimed warm-up, then --reps timed runs of: prefill a --prompt-token text
// (words that are one token each, so both tokenizers agree; checked), then decode --decode tokens
// greedily with EOS ignored.
// The best run of each counts (a shared machine only ever makes runs slower). Both report their
// own timings: Kite's GenerationStats (prefill = prompt/prefill time; decode = tokens/decode
// time), llama.cpp's server timings (prompt_per_second, predicted_per_second). --rounds repeats
// everything, interleaved, and keeps the best.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const shared = process.env.KITE_SHARED_DIR ?? path.resolve(repo, '../shared');

const usage = `usage: node benchmarks/web/bench.mjs [options]
  --build DIR       native build with kite-convert and kite-export-gguf (default build-w2)
  --hf DIR          Hugging Face checkpoint (default: <work>/smollm2-135m, written with
                    shared/tools/make_random_checkpoint.py + the starcoder tokenizer if missing)
  --work DIR        where checkpoint, .kite and .gguf go (default <build>/web-bench)
  --wasm DIR        single-thread runtime (default build-wasm/platforms/wasm)
  --wasm-mt DIR     pthreads runtime (default build-wasm-mt/platforms/wasm)
  --quants LIST     q8,q4 (default both)
  --threads LIST    1,2 (default)
  --prompt N        prompt tokens (default 128)
  --decode N        generated tokens (default 128)
  --reps R          timed runs per runtime and case (default 2)
  --rounds K        repeat everything K times, interleaved; best of all (default 1)
  --json FILE       also write all runs as JSON
environment: BENCH_VERBOSE=1 shows the pages' console (wllama's native log too);
             BENCH_NO_BIAS=1 drops wllama's logit bias (why it is there: bench.mjs; long runs then fail on random weights)
`;
const { values: opt } = parseArgs({
  options: {
    build: { type: 'string', default: path.join(repo, 'build-w2') }, hf: { type: 'string' }, work: { type: 'string' },
    wasm: { type: 'string', default: path.join(repo, 'build-wasm/platforms/wasm') },
    'wasm-mt': { type: 'string', default: path.join(repo, 'build-wasm-mt/platforms/wasm') },
    quants: { type: 'string', default: 'q8,q4' }, threads: { type: 'string', default: '1,2' },
    prompt: { type: 'string', default: '128' }, decode: { type: 'string', default: '128' },
    reps: { type: 'string', default: '2' }, rounds: { type: 'string', default: '1' },
    json: { type: 'string' }, help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  process.stdout.write(usage);
  process.exit(0);
}
function fail(message) {
  console.error(`bench.mjs: ${message}`);
  process.exit(1);
}
const positive = (name) => {
  const v = Number.parseInt(opt[name], 10);
  if (!Number.isInteger(v) || v < 1) fail(`--${name} must be a positive integer`);
  return v;
};
const promptTokens = positive('prompt'), decodeTokens = positive('decode'), reps = positive('reps'), rounds = positive('rounds');
const buildDir = path.resolve(opt.build);
const workDir = path.resolve(opt.work ?? path.join(buildDir, 'web-bench'));
const hfDir = path.resolve(opt.hf ?? path.join(workDir, 'smollm2-135m'));
const GGUF = { q8: 'q8_0', q4: 'q4_0' };
const quants = opt.quants.split(',').filter(Boolean);
for (const q of quants) if (!GGUF[q]) fail(`unknown quantization '${q}' (q8, q4)`);
const threadList = opt.threads.split(',').map((t) => Number.parseInt(t, 10));
if (threadList.some((t) => !Number.isInteger(t) || t < 1)) fail('--threads must list positive integers');
const wasmDir = path.resolve(opt.wasm), wasmMtDir = path.resolve(opt['wasm-mt']);
if (!fs.existsSync(path.join(wasmDir, 'kite.mjs'))) fail(`${wasmDir}/kite.mjs not found: build the wasm runtime first`);
const haveMt = fs.existsSync(path.join(wasmMtDir, 'kite.mjs'));
if (threadList.some((t) => t > 1) && !haveMt) fail(`${wasmMtDir}/kite.mjs not found: build the pthreads runtime (build-wasm-mt)`);
const wllamaDir = path.join(here, 'node_modules/@wllama/wllama/esm');
if (!fs.existsSync(path.join(wllamaDir, 'index.js'))) fail('npm packages missing: run `npm install --ignore-scripts` in benchmarks/web');
if (!fs.existsSync(path.join(repo, 'web/dist/index.js'))) fail('web/dist is missing: `npm run build` in web/');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) fail(`${path.basename(cmd)} ${args.join(' ')} failed (${r.status}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

// ---- model files ------------------------------------------------------------------------
fs.mkdirSync(workDir, { recursive: true });
if (!fs.existsSync(path.join(hfDir, 'config.json'))) {
  console.error(`writing the random SmolLM2-135M checkpoint to ${hfDir}`);
  const tmp = `${hfDir}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  run('/usr/bin/python3', [path.join(shared, 'tools/make_random_checkpoint.py'), path.join(shared, 'models/configs/smollm2-135m.json'),
    tmp, '--tokenizer-dir', path.join(shared, 'models/tokenizers/starcoder')]);
  fs.renameSync(tmp, hfDir);
}
const tool = (name) => {
  const p = path.join(buildDir, name);
  if (!fs.existsSync(p)) fail(`${p} not found: ninja -C ${buildDir} kite-convert kite-export-gguf`);
  return p;
};
const newestSource = Math.max(...fs.readdirSync(hfDir).map((f) => fs.statSync(path.join(hfDir, f)).mtimeMs));
const fresh = (f) => fs.existsSync(f) && fs.statSync(f).mtimeMs > newestSource;
const name = path.basename(hfDir);
const files = {};
for (const q of quants) {
  const kite = path.join(workDir, `${name}-${q}.kite`);
  const gguf = path.join(workDir, `${name}-${GGUF[q].toUpperCase()}.gguf`);
  if (!fresh(kite)) {
    console.error(`kite-convert --quant ${q} -> ${kite}`);
    run(tool('kite-convert'), [hfDir, '-o', kite, '--quant', q, '--quiet']);
  }
  if (!fresh(gguf)) {
    console.error(`kite-export-gguf --type ${GGUF[q]} -> ${gguf}`);
    run(tool('kite-export-gguf'), [hfDir, '-o', gguf, '--type', GGUF[q], '--quiet']);
  }
  files[q] = { kite: path.basename(kite), gguf: path.basename(gguf), kiteBytes: fs.statSync(kite).size,
    ggufBytes: fs.statSync(gguf).size };
}

// The prompt: text that both tokenizers turn into the same ids (wllama's completion API takes
// text only): words from a list, each one token (" word" is in the vocabulary as "Ġword"), picked
// by the LCG of `kite bench` (platforms/cli/cmd_bench.cc).
const WORDS = ('the of and to in is was for on with as by at from that this it be are or an have not but had ' +
  'his her they we you all one there were which their can more time when will would about out up into so some ' +
  'what other than then its only new two first like also after over way many most these people could day made ' +
  'city water world house small large story river light music school night family field power').split(' ');
function promptText(n, seed) {
  const tok = JSON.parse(fs.readFileSync(path.join(hfDir, 'tokenizer.json'), 'utf8'));
  const words = WORDS.filter((w) => Object.hasOwn(tok.model.vocab, `\u0120${w}`));
  if (words.length < 20) fail(`the tokenizer of ${hfDir} lacks the prompt words (not a byte-level BPE vocabulary?)`);
  let s = BigInt(seed);
  const mask = (1n << 64n) - 1n;
  const out = [];
  for (let i = 0; i < n; ++i) {
    s = (s * 6364136223846793005n + 1442695040888963407n) & mask;
    out.push(words[Number((s >> 33n) % BigInt(words.length))]);
  }
  return ' ' + out.join(' ');
}
const prompt = promptText(promptTokens, 1234 + promptTokens);

// Random weights make greedy decoding pick tokens that are pieces of a UTF-8 character; llama-server
// (inside wllama) then fails to write its JSON reply ("invalid UTF-8 byte"). So wllama is told to
// never pick a token whose bytes are not complete UTF-8 on their own (logit_bias -100): choosing
// among the others costs the same, and a dense model's speed does not depend on which token wins.
function brokenUtf8Tokens() {
  const tok = JSON.parse(fs.readFileSync(path.join(hfDir, 'tokenizer.json'), 'utf8'));
  // GPT-2's byte <-> printable-character table (byte-level BPE).
  const printable = [];
  for (let b = 33; b <= 126; ++b) printable.push(b);
  for (let b = 161; b <= 172; ++b) printable.push(b);
  for (let b = 174; b <= 255; ++b) printable.push(b);
  const charToByte = new Map();
  let extra = 0;
  for (let b = 0; b < 256; ++b) {
    const cp = printable.includes(b) ? b : 256 + extra++;
    charToByte.set(String.fromCodePoint(cp), b);
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const banned = [];
  for (const [piece, id] of Object.entries(tok.model.vocab)) {
    const bytes = [];
    for (const ch of piece) {
      const b = charToByte.get(ch);
      if (b === undefined) {
        bytes.length = 0;
        break;  // not a byte-level piece (a special token): leave it alone
      }
      bytes.push(b);
    }
    if (!bytes.length) continue;
    try {
      decoder.decode(new Uint8Array(bytes));
    } catch {
      banned.push(id);
    }
  }
  return banned;
}
const wllamaBannedTokens = process.env.BENCH_NO_BIAS ? [] : brokenUtf8Tokens();

// ---- browser ------------------------------------------------------------------------------
const { startServer } = await import(path.join(repo, 'web/tools/serve.mjs'));
const { chromium } = await import(path.join(here, 'node_modules/playwright-core/index.mjs'));
const mounts = { '/wasm/': wasmDir, '/bench/': here, '/wllama/': wllamaDir, '/models/': workDir };
if (haveMt) mounts['/wasm-threads/'] = wasmMtDir;
const server = await startServer({ mounts });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const chromiumVersion = browser.version();
const wllamaVersion = JSON.parse(fs.readFileSync(path.join(here, 'node_modules/@wllama/wllama/package.json'), 'utf8')).version;

const loadBefore = os.loadavg().map((x) => x.toFixed(1)).join(' ');
const results = [];  // {quant, threads, runtime, prefill, decode, runs}
try {
  for (let round = 0; round < rounds; ++round) {
    for (const q of quants) {
      for (const threads of threadList) {
        // A fresh page per case: each runtime starts from a clean heap.
        for (const runtime of ['kite', 'wllama']) {
          const page = await browser.newPage();
          page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
          page.on('console', (m) => {
            if (m.type() === 'error' || process.env.BENCH_VERBOSE) console.error(`[console] ${m.text()}`);
          });
          await page.goto(`${server.url}bench/bench.html`);
          if (process.env.BENCH_VERBOSE) await page.evaluate(() => { window.benchVerbose = true; });
          await page.waitForFunction(() => document.body.dataset.ready === '1');
          if (!(await page.evaluate(() => crossOriginIsolated))) fail('the bench page is not cross-origin isolated');
          const fn = runtime === 'kite' ? 'runKite' : 'runWllama';
          const modelUrl = `/models/${runtime === 'kite' ? files[q].kite : files[q].gguf}`;
          const t0 = Date.now();
          const r = await page.evaluate(([fn, args]) => window[fn](args), [fn, { modelUrl, threads, prompt, decode: decodeTokens, reps, banned: wllamaBannedTokens }]);
          await page.close();
          for (const run of r.runs) {
            if (run.promptTokens !== promptTokens || run.generatedTokens !== decodeTokens) {
              fail(`${runtime} ${q} ${threads}T evaluated ${run.promptTokens} prompt / ${run.generatedTokens} generated tokens, not ${promptTokens} / ${decodeTokens}`);
            }
          }
          const entry = {
            quant: q, threads, runtime, round, actualThreads: r.threads, kernels: r.kernels,
            prefill: Math.max(...r.runs.map((x) => x.prefill)), decode: Math.max(...r.runs.map((x) => x.decode)), runs: r.runs,
          };
          results.push(entry);
          console.error(`${runtime.padEnd(6)} ${q} ${threads}T: pp${promptTokens} ${entry.prefill.toFixed(1)} tok/s, ` +
            `tg${decodeTokens} ${entry.decode.toFixed(1)} tok/s${r.kernels ? ' [' + r.kernels + ']' : ''} ` +
            `(${((Date.now() - t0) / 1000).toFixed(0)} s)`);
        }
      }
    }
  }
} finally {
  await browser.close();
  await server.close();
}

// ---- table --------------------------------------------------------------------------------
const best = (q, t, rt, key) => Math.max(...results.filter((x) => x.quant === q && x.threads === t && x.runtime === rt).map((x) => x[key]));
const cpu = os.cpus()[0]?.model ?? '?';
const lines = [];
lines.push(`Chromium ${chromiumVersion} headless, ${cpu}, ${os.cpus().length} cores; @wllama/wllama ${wllamaVersion}; ` +
  `model ${name} (random weights at SmolLM2-135M's shape); prompt ${promptTokens} tokens, ${decodeTokens} greedy tokens, ` +
  `EOS ignored (wllama: ${wllamaBannedTokens.length} partial-UTF-8 tokens banned, see bench.mjs); ` +
  `best of ${reps} run(s) x ${rounds} round(s); load average before: ${loadBefore}`);
lines.push('');
lines.push(`| quant | threads | Kite pp${promptTokens} tok/s | wllama pp${promptTokens} tok/s | ratio | Kite tg${decodeTokens} tok/s | wllama tg${decodeTokens} tok/s | ratio |`);
lines.push('|---|---|---|---|---|---|---|---|');
for (const q of quants) {
  for (const t of threadList) {
    const kp = best(q, t, 'kite', 'prefill'), wp = best(q, t, 'wllama', 'prefill');
    const kd = best(q, t, 'kite', 'decode'), wd = best(q, t, 'wllama', 'decode');
    lines.push(`| ${q} (${GGUF[q].toUpperCase()}) | ${t} | ${kp.toFixed(1)} | ${wp.toFixed(1)} | ${(kp / wp).toFixed(2)}x | ` +
      `${kd.toFixed(1)} | ${wd.toFixed(1)} | ${(kd / wd).toFixed(2)}x |`);
  }
}
console.log(lines.join('\n'));
if (opt.json) {
  fs.writeFileSync(opt.json, JSON.stringify({ chromium: chromiumVersion, wllama: wllamaVersion, cpu, files, promptTokens,
    decodeTokens, reps, rounds, results }, null, 2));
}
