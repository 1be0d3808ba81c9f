// wasm vs native speed on the same .kite, in the same run: prefill of 128 tokens (pp128) and 128
// single-token decode steps (tg128) with the method of `kite bench` (platforms/cli/cmd_bench.cc):
// the same random prompt ids (same LCG and seeds), a fresh session per run, f16 KV cache, prompt
// batches of 128, one untimed warm-up run, best of --reps. The wasm side goes through the module's
// kite_wasm_* API (one-token kite_wasm_gen_prefill calls are the decode steps: a forward pass and
// its logits, no sampling, like the native kite_session_eval loop).
//
// Usage:
//   node benchmarks/wasm/bench.cjs --native build/kite --st build-wasm/platforms/wasm \
//        [--mt build-wasm-mt/platforms/wasm] [--threads 2] [--reps 3] [--json out.json] [--relaxed] model.kite...
// --relaxed: the wasm side loads the relaxed-SIMD modules (kite_node_relaxed.*); node 20 needs
// `node --experimental-wasm-relaxed-simd benchmarks/wasm/bench.cjs ...` for them.
// Prints a table of tok/s and the wasm/native ratios (single-thread wasm vs native --threads 1,
// multi-thread wasm vs native --threads N). Speed is reported, never asserted.
// --rounds N (default 1): measures every side N times, interleaved (wasm 1t, wasm Nt, native 1t,
// native Nt, then again), and prints medians, each ratio being the median of the N per-round ratios
// with its range. On a shared VM whose speed drifts by 10-30% over minutes, a ratio of two figures
// taken minutes apart says more about the drift than about wasm; interleaved rounds pair figures
// taken seconds apart.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { loadKite, relaxedSimdSupported } = require('../../tests/wasm/kite_node.cjs');

function parseArgs(argv) {
  const o = { reps: 3, rounds: 1, threads: 2, models: [] };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--native') o.native = argv[++i];
    else if (a === '--st') o.st = argv[++i];
    else if (a === '--mt') o.mt = argv[++i];
    else if (a === '--threads') o.threads = Number(argv[++i]);
    else if (a === '--reps') o.reps = Number(argv[++i]);
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--json') o.json = argv[++i];
    else if (a === '--tests') o.tests = argv[++i];
    else if (a === '--relaxed') o.relaxed = true;
    else o.models.push(a);
  }
  if (!o.st || !o.models.length) {
    console.error('usage: bench.cjs --native KITE --st WASM_DIR [--mt WASM_MT_DIR] [--threads N] [--reps R] [--rounds N] ' +
                  'model.kite...');
    process.exit(2);
  }
  return o;
}

// cmd_bench.cc's RandomIds: a 64-bit LCG, ids in [3, vocab).
function randomIds(n, vocab, seed) {
  const ids = new Array(n);
  let s = BigInt(seed);
  const mask = (1n << 64n) - 1n;
  for (let i = 0; i < n; ++i) {
    s = (s * 6364136223846793005n + 1442695040888963407n) & mask;
    ids[i] = Number(3n + (s >> 33n) % BigInt(Math.max(4, vocab - 3)));
  }
  return ids;
}

function timeWasm(engine, vocab, test, threads) {
  const n = Number(test.slice(2));
  const base = { threads, max_batch: 128, kv_format: 'f16' };
  if (test.startsWith('pp')) {
    const gen = engine.generation({ ...base, context: n });
    const ids = randomIds(n, vocab, 1234 + n);
    const start = performance.now();
    gen.prefill(ids);
    const ms = performance.now() - start;
    gen.destroy();
    return ms;
  }
  const gen = engine.generation({ ...base, context: n + 1 });
  const ids = randomIds(n + 1, vocab, 99);
  gen.prefill([ids[0]]);
  const start = performance.now();
  for (let i = 1; i <= n; ++i) gen.prefill([ids[i]]);
  const ms = performance.now() - start;
  gen.destroy();
  return ms;
}

// Bytes of this process in 2 MiB pages (Linux; 0 elsewhere). V8 does not ask for huge pages for a
// wasm heap, so where THP is 'madvise' it stays in 4 KiB pages, while native kite's mmap of the
// .kite file can sit in the page cache's huge folios: decode streams every weight once per token.
function hugePageBytes() {
  let text = '';
  try { text = fs.readFileSync('/proc/self/smaps_rollup', 'utf8'); } catch { return 0; }
  let kb = 0;
  for (const m of text.matchAll(/^(?:AnonHugePages|FilePmdMapped|ShmemPmdMapped):\s+(\d+) kB/gm)) kb += Number(m[1]);
  return kb * 1024;
}

async function benchWasm(kite, models, tests, threads, reps) {
  const results = {};
  for (const model of models) {
    const engine = kite.loadModel(fs.readFileSync(model));
    const info = engine.info();
    results[model] = { kernels: info.kernels, weight_bytes: info.weight_bytes };
    for (const test of tests) {
      let best = timeWasm(engine, info.config.vocab_size, test, threads);  // warm-up (untimed)
      for (let r = 0; r < reps; ++r) {
        const ms = timeWasm(engine, info.config.vocab_size, test, threads);
        best = r === 0 ? ms : Math.min(best, ms);
      }
      results[model][test] = (Number(test.slice(2)) * 1000) / best;
    }
    results[model].huge_page_bytes = hugePageBytes();
    engine.destroy();
  }
  return results;
}

function benchNative(kiteExe, model, tests, threads, reps) {
  const out = execFileSync(kiteExe, ['bench', model, '--threads', String(threads), '--reps', String(reps), '--json',
                                     '--tests', tests.join(',')], { encoding: 'utf8' });
  const r = {};
  for (const line of out.split('\n')) {
    if (!line.trim().startsWith('{')) continue;
    const j = JSON.parse(line);
    r[j.test] = j.tok_s;
    r.read_gb_s = j.read_bandwidth_gb_s;  // kite bench's read probe, with these threads
    r.weight_bytes = j.weight_bytes_per_token;
    r.huge_page_bytes = j.huge_page_bytes;
  }
  return r;
}

(async () => {
  const o = parseArgs(process.argv.slice(2));
  const tests = (o.tests || 'pp128,tg128').split(',');
  const report = { machine: { cpus: require('os').cpus().length, cpu: require('os').cpus()[0].model,
                              node: process.version }, threads: o.threads, reps: o.reps, models: {} };
  // The single-thread module in this process; the pthreads module in a child process (one module per
  // process keeps the two heaps and worker pools apart), which reports its figures as JSON.
  const child = Boolean(process.env.KITE_BENCH_CHILD);
  if (o.relaxed && !relaxedSimdSupported()) {
    console.error('--relaxed: this node does not compile relaxed SIMD; run it as node --experimental-wasm-relaxed-simd');
    process.exit(2);
  }
  const kite = await loadKite(o.st, { relaxed: o.relaxed });
  if (child) {
    process.stdout.write(JSON.stringify(await benchWasm(kite, o.models, tests, o.threads, o.reps)));
    process.exit(0);
  }
  // rows[model][side][test]: one figure per round; sides wasm_st, wasm_mt, native_1t, native_<N>t.
  const nativeN = 'native_' + o.threads + 't';
  const rows = {};
  for (const model of o.models) rows[model] = { wasm_st: {}, wasm_mt: {}, native_1t: {}, [nativeN]: {} };
  const record = (side, results, readGbps) => {
    for (const model of o.models) {
      const res = results[model];
      if (res.kernels) rows[model].kernels = res.kernels;
      if (res.weight_bytes) rows[model].weight_bytes = res.weight_bytes;
      for (const t of tests) (rows[model][side][t] ||= []).push(res[t]);
      const read = readGbps ?? res.read_gb_s;
      if (read) (rows[model][side].read_gb_s ||= []).push(read);
      if (res.huge_page_bytes !== undefined) (rows[model][side].huge_page_bytes ||= []).push(res.huge_page_bytes);
    }
  };
  for (let round = 0; round < o.rounds; ++round) {
    // The wasm roofline: how fast this thread reads the module's heap, measured in every round.
    const wasmRead = kite.readGbps();
    record('wasm_st', await benchWasm(kite, o.models, tests, 1, o.reps), wasmRead);
    if (o.mt) {
      const out = execFileSync(process.execPath, [...process.execArgv, __filename, '--st', o.mt, '--threads',
                                                  String(o.threads), '--reps', String(o.reps), '--tests', tests.join(','),
                                                  ...(o.relaxed ? ['--relaxed'] : []), ...o.models],
                               { encoding: 'utf8', env: { ...process.env, KITE_BENCH_CHILD: '1' } });
      record('wasm_mt', JSON.parse(out.slice(out.indexOf('{'))));
    }
    if (o.native) {
      const byModel = (threads) => Object.fromEntries(o.models.map((m) => [m, benchNative(o.native, m, tests, threads, o.reps)]));
      record('native_1t', byModel(1));
      if (o.mt) record(nativeN, byModel(o.threads));
    }
    if (o.rounds > 1) process.stderr.write(`round ${round + 1}/${o.rounds} done\n`);
  }
  const median = (xs) => {
    const v = [...xs].sort((x, y) => x - y);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  // Per side: the median tok/s; per pair: the median of the per-round ratios and their range.
  const ratio = (wasm, native) => {
    if (!wasm || !native) return undefined;
    const r = wasm.map((w, i) => w / native[i]);
    return { median: median(r), min: Math.min(...r), max: Math.max(...r), rounds: r };
  };
  for (const model of o.models) {
    const r = rows[model], row = { rounds: o.rounds, wasm_st: { kernels: r.kernels }, per_round: r };
    for (const side of ['wasm_st', 'wasm_mt', 'native_1t', nativeN]) {
      if (!Object.keys(r[side]).length) continue;
      row[side] = { ...row[side] };
      for (const t of tests) row[side][t] = median(r[side][t]);
      if (r[side].read_gb_s) row[side].read_gb_s = median(r[side].read_gb_s);
      if (r[side].huge_page_bytes) row[side].huge_page_bytes = median(r[side].huge_page_bytes);
    }
    row.weight_bytes = r.weight_bytes;
    row.ratio_st = {};
    row.ratio_mt = {};
    for (const t of tests) {
      row.ratio_st[t] = ratio(r.wasm_st[t], r.native_1t[t]);
      row.ratio_mt[t] = ratio(r.wasm_mt[t], r[nativeN][t]);
    }
    report.models[path.basename(model)] = row;
  }
  const mt = Boolean(o.mt);
  const fmt = (v) => (v === undefined ? '-' : v.toFixed(1));
  console.log('machine: ' + report.machine.cpu + ', ' + report.machine.cpus + ' logical CPUs, node ' + process.version +
              (o.rounds > 1 ? `; medians of ${o.rounds} interleaved rounds (best of ${o.reps} each)` : ''));
  for (const [name, row] of Object.entries(report.models)) {
    console.log('\n' + name + ' (wasm kernels: ' + row.wasm_st.kernels + ')');
    console.log('test     native-1t  wasm-1t  ratio' + (mt ? '   native-' + o.threads + 't  wasm-' + o.threads + 't  ratio' : ''));
    // A ratio: the median per-round ratio, with the range over rounds when there are several.
    const pct = (x) => (x === undefined ? '      -' : (x.median * 100).toFixed(0).padStart(6) + '%' +
                        (o.rounds > 1 ? ` (${(x.min * 100).toFixed(0)}-${(x.max * 100).toFixed(0)}%)` : ''));
    for (const t of tests) {
      const n1 = row.native_1t ? row.native_1t[t] : undefined;
      let line = t.padEnd(8) + fmt(n1).padStart(10) + fmt(row.wasm_st[t]).padStart(9) + pct(row.ratio_st[t]);
      if (mt) {
        const nt = row[nativeN] ? row[nativeN][t] : undefined;
        line += fmt(nt).padStart(12) + fmt(row.wasm_mt[t]).padStart(9) + pct(row.ratio_mt[t]);
      }
      console.log(line);
    }
    // Decode against the read roofline of each side (one thread): weight bytes per token x tok/s
    // over the GB/s that side's probe reads (wasm: kite_wasm_read_gbps; native: kite bench's).
    const tg = tests.find((t) => t.startsWith('tg'));
    const roof = (side) => {
      const s = row[side];
      if (!tg || !s || !s.read_gb_s || !row.weight_bytes) return null;
      return `${(row.weight_bytes * s[tg] / 1e9 / s.read_gb_s * 100).toFixed(0)}% of ${s.read_gb_s.toFixed(1)} GB/s`;
    };
    if (roof('wasm_st') && roof('native_1t')) {
      console.log(`${tg} vs the 1-thread read roofline: wasm ${roof('wasm_st')}, native ${roof('native_1t')}`);
    }
    const huge = (side) => (row[side] && row[side].huge_page_bytes !== undefined ? `${(row[side].huge_page_bytes / 1e6).toFixed(0)} MB` : '-');
    console.log(`memory in 2 MiB pages (1 thread): wasm process ${huge('wasm_st')}, native ${huge('native_1t')} ` +
                `(of ${(row.weight_bytes / 1e6).toFixed(0)} MB of weights)`);
  }
  if (o.json) fs.writeFileSync(o.json, JSON.stringify(report, null, 1));
  process.exit(0);  // the pthreads module's workers would keep node alive
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
