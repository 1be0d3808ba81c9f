#!/usr/bin/env node
// Kite vs llama.cpp on the same Hugging Face checkpoint, same threads, same prompt lengths.
//
// For each quantization (Kite f16/q8/q4 <-> GGUF F16/Q8_0/Q4_0) it writes the .kite file with
// kite-convert and the .gguf file with kite-export-gguf, checks that both runtimes compute the
// same logits for a short prompt, then times
//   llama.cpp: node-llama-cpp's prebuilt linux-x64 CPU binary, through LlamaContextSequence
//   Kite:      `kite bench --json`
// and prints a markdown table of tok/s and the ratio Kite / llama.cpp.
//
// Timing, identical on both sides (see README.md): prompts are random token ids from the LCG
// `kite bench` uses (same seeds); each test runs once untimed, then --reps timed runs, in a
// cleared sequence (llama.cpp) or a fresh session (Kite); the best run counts. ppN = wall time
// to evaluate N prompt tokens including the last token's logits. tgN = wall time of N
// single-token evaluations after a 1-token prompt, each producing logits (no sampling on
// either side). With --rounds R the whole comparison repeats R times, interleaved, and the best
// of all rounds is kept, so a burst of load on a shared machine hits both runtimes alike.
import {spawnSync} from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {fileURLToPath} from "node:url";
import {parseArgs} from "node:util";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");

const usage = `usage: node compare.mjs --hf HF_DIR [options]
  --hf DIR          Hugging Face checkpoint folder (Llama or Qwen2)
  --build DIR       Kite build folder with kite, kite-convert, kite-export-gguf (default: $KITE_BUILD or <repo>/build)
  --work DIR        where the .kite and .gguf files go (default: <build>/peer)
  --name NAME       the model's name in the table and file names (default: the folder's name)
  --quants LIST     f16,q8,q4 (default all three)
  --tests LIST      pp128,pp512,tg128 (default)
  --threads N       threads for both runtimes (default 2)
  --reps R          timed runs per test after one warm-up; best is kept (default 3)
  --rounds K        repeat the whole comparison K times, interleaved; best of all (default 1)
  --context N       llama.cpp context size (default: 1024)
  --batch N         llama.cpp batch size (default 512, llama.cpp's default)
  --flash-attention auto|on|off   llama.cpp flash attention (default auto, its default)
  --llama-eval nosample|greedy    how llama.cpp evaluates: logits only (default), or + greedy sampling
  --no-check        skip the logits agreement check
  --force           rewrite the model files even if present
  --json FILE       also write every measurement as JSON
`;

function fail(message) {
  console.error(`compare.mjs: ${message}`);
  process.exit(1);
}

const {values: opt} = parseArgs({
  options: {
    hf: {type: "string"}, build: {type: "string"}, work: {type: "string"}, name: {type: "string"},
    quants: {type: "string", default: "f16,q8,q4"}, tests: {type: "string", default: "pp128,pp512,tg128"},
    threads: {type: "string", default: "2"}, reps: {type: "string", default: "3"}, rounds: {type: "string", default: "1"},
    context: {type: "string", default: "1024"}, batch: {type: "string", default: "512"},
    "flash-attention": {type: "string", default: "auto"}, "llama-eval": {type: "string", default: "nosample"},
    "no-check": {type: "boolean", default: false}, force: {type: "boolean", default: false},
    json: {type: "string"}, help: {type: "boolean", default: false},
  },
});
if (opt.help) {
  process.stdout.write(usage);
  process.exit(0);
}
if (!opt.hf) fail("--hf HF_DIR is required\n" + usage);
const intOpt = (name) => {
  const v = Number.parseInt(opt[name], 10);
  if (!Number.isInteger(v) || v < 1) fail(`--${name} must be a positive integer`);
  return v;
};
const threads = intOpt("threads"), reps = intOpt("reps"), rounds = intOpt("rounds");
const contextSize = intOpt("context"), batchSize = intOpt("batch");
const buildDir = path.resolve(opt.build ?? process.env.KITE_BUILD ?? path.join(repo, "build"));
const workDir = path.resolve(opt.work ?? path.join(buildDir, "peer"));
const hfDir = path.resolve(opt.hf);
// A folder named "hf" (as in shared/models/NAME/hf) is named after its parent.
const modelName = opt.name ?? (path.basename(hfDir) === "hf" ? path.basename(path.dirname(hfDir)) : path.basename(hfDir));
const tests = opt.tests.split(",").filter(Boolean);
for (const t of tests) if (!/^(pp|tg)\d+$/.test(t)) fail(`test '${t}' is not ppN or tgN`);
const maxTokens = Math.max(...tests.map((t) => Number(t.slice(2)) + 1));
if (maxTokens > contextSize) fail(`--context ${contextSize} is smaller than the longest test (${maxTokens} tokens)`);
const flashAttention = {auto: "auto", on: true, off: false}[opt["flash-attention"]];
if (flashAttention === undefined) fail("--flash-attention must be auto, on or off");
if (!["nosample", "greedy"].includes(opt["llama-eval"])) fail("--llama-eval must be nosample or greedy");

const QUANTS = {f16: "F16", q8: "Q8_0", q4: "Q4_0"};  // Kite scheme -> GGUF type
const quants = opt.quants.split(",").filter(Boolean);
for (const q of quants) if (!QUANTS[q]) fail(`unknown quantization '${q}' (f16, q8, q4)`);
const tool = (name) => {
  const p = path.join(buildDir, name);
  if (!fs.existsSync(p)) fail(`${p} not found: build it first (ninja -C ${buildDir} kite kite-convert kite-export-gguf)`);
  return p;
};
const kite = tool("kite"), kiteConvert = tool("kite-convert"), kiteExportGguf = tool("kite-export-gguf");

function run(cmd, args) {
  const r = spawnSync(cmd, args, {encoding: "utf8", maxBuffer: 1 << 28});
  if (r.status !== 0) fail(`${path.basename(cmd)} ${args.join(" ")} failed (${r.status}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

// ---- model files ------------------------------------------------------------------------
fs.mkdirSync(workDir, {recursive: true});
const newestSource = Math.max(...fs.readdirSync(hfDir).map((f) => fs.statSync(path.join(hfDir, f)).mtimeMs));
const fresh = (file) => !opt.force && fs.existsSync(file) && fs.statSync(file).mtimeMs > newestSource;
const files = {};
for (const q of quants) {
  const kiteFile = path.join(workDir, `${modelName}-${q}.kite`);
  const ggufFile = path.join(workDir, `${modelName}-${QUANTS[q]}.gguf`);
  if (!fresh(kiteFile)) {
    console.error(`kite-convert --quant ${q} -> ${kiteFile}`);
    run(kiteConvert, [hfDir, "-o", kiteFile, "--quant", q, "--quiet"]);
  }
  if (!fresh(ggufFile)) {
    console.error(`kite-export-gguf --type ${QUANTS[q].toLowerCase()} -> ${ggufFile}`);
    run(kiteExportGguf, [hfDir, "-o", ggufFile, "--type", QUANTS[q].toLowerCase(), "--quiet"]);
  }
  files[q] = {kite: kiteFile, gguf: ggufFile};
}

// ---- llama.cpp through node-llama-cpp -----------------------------------------------------
// Prebuilt binaries only: never download or compile llama.cpp (see README.md).
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
const {getLlama, LlamaLogLevel} = await import("node-llama-cpp");
const nlcVersion = JSON.parse(fs.readFileSync(path.join(here, "node_modules/node-llama-cpp/package.json"), "utf8")).version;
const llama = await getLlama({
  gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true, maxThreads: threads,
  progressLogs: false, logLevel: LlamaLogLevel.info,
  logger(level, message) {
    if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) console.error(`[llama.cpp] ${message.trim()}`);
  },
});

// ggml picks the CPU backend variant for this CPU at run time (haswell, zen4, ...); the
// library mapped into this process names it.
const cpuBackend = (() => {
  try {
    const m = /libggml-cpu-[\w-]+\.so/.exec(fs.readFileSync("/proc/self/maps", "utf8"));
    return m ? m[0] : "?";
  } catch {
    return "?";
  }
})();

// The token ids `kite bench` uses (platforms/cli/cmd_bench.cc RandomIds): an LCG, clear of the
// lowest ids (often special tokens).
function randomIds(n, vocab, seed) {
  const ids = [];
  let s = BigInt(seed);
  const mask = (1n << 64n) - 1n;
  for (let i = 0; i < n; ++i) {
    s = (s * 6364136223846793005n + 1442695040888963407n) & mask;
    ids.push(3 + Number((s >> 33n) % BigInt(Math.max(4, vocab - 3))));
  }
  return ids;
}

// Evaluates tokens and makes llama.cpp compute the last token's logits, without sampling:
// sequence.evaluate() with node-llama-cpp's `_noSampling` flag decodes the batch with logits
// requested for the last token and returns before sampling. "greedy" instead samples the next
// token greedily through the public controlledEvaluate() (costs one pass over the vocabulary).
async function evalTokens(sequence, tokens) {
  if (opt["llama-eval"] === "greedy") {
    const input = tokens.map((t, i) => (i === tokens.length - 1 ? [t, {generateNext: {token: true}}] : t));
    await sequence.controlledEvaluate(input);
    return;
  }
  for await (const _ of sequence.evaluate(tokens, {_noSampling: true})) {
    throw new Error("node-llama-cpp sampled a token: its `_noSampling` option is gone; use --llama-eval greedy");
  }
}

const now = () => performance.now();

// The vocabulary size kite-export-gguf writes as {arch}.vocab_size (llama.cpp's n_vocab).
function vocabOf(model) {
  const md = model.fileInfo.metadata;
  const n = md?.[md?.general?.architecture]?.vocab_size ?? md?.tokenizer?.ggml?.tokens?.length;
  if (!Number.isInteger(n) || n < 4) fail(`cannot tell the vocabulary size of ${model.filename}`);
  return n;
}

async function timeLlama(sequence, test, vocab) {
  const n = Number(test.slice(2));
  await sequence.clearHistory();
  if (test.startsWith("pp")) {
    const ids = randomIds(n, vocab, 1234 + n);
    const start = now();
    await evalTokens(sequence, ids);
    return now() - start;
  }
  const ids = randomIds(n + 1, vocab, 99);
  await evalTokens(sequence, ids.slice(0, 1));
  const start = now();
  for (let i = 1; i <= n; ++i) await evalTokens(sequence, [ids[i]]);
  return now() - start;
}

async function benchLlama(q) {
  const model = await llama.loadModel({modelPath: files[q].gguf, gpuLayers: 0});
  const context = await model.createContext({
    contextSize, batchSize, sequences: 1, flashAttention, threads: {ideal: threads, min: threads},
  });
  const sequence = context.getSequence();
  const vocab = vocabOf(model);
  const out = {};
  for (const test of tests) {
    let best = await timeLlama(sequence, test, vocab);  // warm-up, not counted
    for (let r = 0; r < reps; ++r) {
      const ms = await timeLlama(sequence, test, vocab);
      best = r === 0 ? ms : Math.min(best, ms);
    }
    out[test] = {ms: best, tok_s: (Number(test.slice(2)) * 1000) / best};
  }
  const info = {flashAttention: context.flashAttention, threads: context.currentThreads ?? context.idealThreads};
  await context.dispose();
  await model.dispose();
  return {results: out, info};
}

function benchKite(q) {
  const stdout = run(kite, ["bench", files[q].kite, "--threads", String(threads), "--reps", String(reps), "--json",
    "--tests", tests.join(",")]);
  const out = {};
  for (const line of stdout.split("\n")) {
    if (!line.trim().startsWith("{")) continue;
    const j = JSON.parse(line);
    out[j.test] = {ms: j.ms, tok_s: j.tok_s, roofline_fraction: j.roofline_fraction};
  }
  return out;
}

// ---- logits agreement ----------------------------------------------------------------------
// The same 8-token prompt through both runtimes, logits at every position. Reported per
// quantization: the relative RMS difference sqrt(sum (kite - llama)^2 / sum llama^2) over all
// positions, how many positions agree on the top-1 token, and, as the yardstick, how far each
// runtime's quantized logits are from its own f16 logits (the error quantization itself causes;
// random-weight checkpoints amplify it a lot). Two runtimes reading the same weights correctly
// agree far more closely with each other than with f16.
async function llamaLogits(q, ids) {
  const model = await llama.loadModel({modelPath: files[q].gguf, gpuLayers: 0});
  const context = await model.createContext({contextSize: 64, batchSize: 64, threads: {ideal: threads, min: threads}});
  const vocab = vocabOf(model);
  const res = await context.getSequence().controlledEvaluate(ids.map((t) => [t, {generateNext: {logits: true}}]));
  await context.dispose();
  await model.dispose();
  const out = new Float32Array(ids.length * vocab);
  for (let p = 0; p < ids.length; ++p) {
    const m = res[p]?.next?.logits;
    if (!m || m.size !== vocab) fail(`node-llama-cpp returned no full logits for position ${p}`);
    for (const [t, v] of m) out[p * vocab + t] = v;
  }
  return {vocab, logits: out};
}

function kiteLogits(q, ids) {
  const outFile = path.join(workDir, `${modelName}-${q}.logits.f32`);
  run(kite, ["logits", files[q].kite, "--ids", ids.join(","), "-o", outFile, "--threads", String(threads)]);
  const buf = fs.readFileSync(outFile);
  fs.unlinkSync(outFile);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function relativeRms(a, b) {
  let diff2 = 0, ref2 = 0;
  for (let i = 0; i < a.length; ++i) {
    diff2 += (a[i] - b[i]) ** 2;
    ref2 += b[i] * b[i];
  }
  return Math.sqrt(diff2 / ref2);
}

function argmax(a, begin, end) {
  let best = begin;
  for (let i = begin; i < end; ++i) if (a[i] > a[best]) best = i;
  return best - begin;
}

async function checkLogits() {
  const ids = [];
  const out = {};
  const logits = {};
  for (const q of quants) {
    const md = (await llama.loadModel({modelPath: files[q].gguf, gpuLayers: 0, vocabOnly: true}));
    if (ids.length === 0) ids.push(md.tokens.bos ?? 1, ...randomIds(7, vocabOf(md), 4242));
    await md.dispose();
    const l = await llamaLogits(q, ids);
    const k = kiteLogits(q, ids);
    if (k.length !== l.logits.length) fail(`kite logits: ${k.length} values, expected ${ids.length}x${l.vocab}`);
    logits[q] = {llama: l.logits, kite: k};
    let agree = 0;
    for (let p = 0; p < ids.length; ++p) {
      agree += argmax(k, p * l.vocab, (p + 1) * l.vocab) === argmax(l.logits, p * l.vocab, (p + 1) * l.vocab) ? 1 : 0;
    }
    out[q] = {positions: ids.length, relative_rms: relativeRms(k, l.logits), top1_agree: agree};
  }
  if (logits.f16) {
    for (const q of quants) {
      out[q].llama_vs_own_f16 = relativeRms(logits[q].llama, logits.f16.llama);
      out[q].kite_vs_own_f16 = relativeRms(logits[q].kite, logits.f16.kite);
    }
  }
  return out;
}

// ---- run ----------------------------------------------------------------------------------
const loadBefore = os.loadavg();
const best = {};  // q -> test -> {llama, kite}
const checks = {};
const loads = [];  // 1-minute load average as each runtime's measurement starts
let llamaInfo = {};
if (!opt["no-check"]) Object.assign(checks, await checkLogits());
for (let round = 0; round < rounds; ++round) {
  for (const q of quants) {
    loads.push(os.loadavg()[0]);
    console.error(`round ${round + 1}/${rounds}: ${q} llama.cpp`);
    const l = await benchLlama(q);
    llamaInfo = l.info;
    loads.push(os.loadavg()[0]);
    console.error(`round ${round + 1}/${rounds}: ${q} kite`);
    const k = benchKite(q);
    best[q] ??= {};
    for (const test of tests) {
      const cur = best[q][test] ?? {llama: l.results[test], kite: k[test], llama_all: [], kite_all: []};
      cur.llama_all.push(l.results[test].tok_s);
      cur.kite_all.push(k[test]?.tok_s);
      if (l.results[test].tok_s > cur.llama.tok_s) cur.llama = l.results[test];
      if (k[test] && (!cur.kite || k[test].tok_s > cur.kite.tok_s)) cur.kite = k[test];
      best[q][test] = cur;
    }
  }
}
const loadAfter = os.loadavg();

const cpu = os.cpus()[0]?.model ?? "?";
const fmt = (x) => (x === undefined ? "-" : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const lines = [];
lines.push(`Machine: ${cpu}, ${os.cpus().length} logical CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
  `1-min load average ${loadBefore[0].toFixed(2)} before, ${Math.min(...loads).toFixed(2)}-${Math.max(...loads).toFixed(2)} ` +
  `during, ${loadAfter[0].toFixed(2)} after (the machine's other work competes for the same cores)`);
lines.push(`llama.cpp: node-llama-cpp ${nlcVersion} prebuilt (llama.cpp ${llama.llamaCppRelease?.release ?? "?"}, ` +
  `${cpuBackend}), flash attention ${opt["flash-attention"]}, batch ${batchSize}, eval ${opt["llama-eval"]}`);
lines.push(`Threads ${threads}; best of ${reps} runs after a warm-up` + (rounds > 1 ? `, over ${rounds} interleaved rounds` : ""));
lines.push("");
lines.push("| model | quantization | test | llama.cpp tok/s | Kite tok/s | Kite / llama.cpp |");
lines.push("|---|---|---|---:|---:|---:|");
for (const q of quants) {
  for (const test of tests) {
    const b = best[q][test];
    const ratio = b.kite && b.llama ? (b.kite.tok_s / b.llama.tok_s).toFixed(2) + "x" : "-";
    lines.push(`| ${modelName} | ${q} / ${QUANTS[q]} | ${test} | ${fmt(b.llama?.tok_s)} | ${fmt(b.kite?.tok_s)} | ${ratio} |`);
  }
}
if (!opt["no-check"]) {
  lines.push("");
  lines.push("Logits agreement, 8-token prompt, all positions (relative RMS difference; top-1 agreement;");
  lines.push("each runtime's distance from its own f16 logits as the scale of quantization error):");
  lines.push("");
  lines.push("| quantization | Kite vs llama.cpp | top-1 agree | llama.cpp vs its f16 | Kite vs its f16 |");
  lines.push("|---|---:|---:|---:|---:|");
  const e = (x) => (x === undefined ? "-" : x.toExponential(2));
  for (const q of quants) {
    const c = checks[q];
    lines.push(`| ${q} / ${QUANTS[q]} | ${e(c.relative_rms)} | ${c.top1_agree}/${c.positions} | ` +
      `${q === "f16" ? "-" : e(c.llama_vs_own_f16)} | ${q === "f16" ? "-" : e(c.kite_vs_own_f16)} |`);
  }
}
console.log(lines.join("\n"));
if (opt.json) {
  fs.writeFileSync(opt.json, JSON.stringify({
    model: modelName, hf_dir: hfDir, threads, reps, rounds, tests, cpu, load_before: loadBefore, load_during: loads, load_after: loadAfter,
    node_llama_cpp: nlcVersion, llama_cpp: llama.llamaCppRelease, cpu_backend: cpuBackend, llama_context: llamaInfo,
    flash_attention: opt["flash-attention"], batch: batchSize, llama_eval: opt["llama-eval"], results: best, checks,
  }, null, 2));
}
await llama.dispose();
