// Per-op parity: every WebGPU op against the f64 JavaScript reference (reference.js) on
// random data and edge shapes, once with subgroup reductions (when the adapter has them)
// and once with the shared-memory fallback.
//
// Tolerance: normalized MSE (llama.cpp test-backend-ops) <= 1e-9 for every op. The GPU
// computes in f32 what the reference computes in f64 from the same exact inputs; f32
// rounding of a K-term dot product leaves a relative error ~ 6e-8 * sqrt(K) (K <= 2048
// here: ~3e-6, NMSE ~1e-11), and exp/sqrt in WGSL are within a few ULP. A wrong index,
// a missing bias, a dropped tail column or a wrong scale gives NMSE >= 1e-4 on these
// sizes, so 1e-9 separates bugs from rounding by five orders of magnitude.

import { createDevice } from '../../../web/src/webgpu/device.js';
import { loadShaderSources, PipelineCache } from '../../../web/src/webgpu/shaders.js';
import { Ops } from '../../../web/src/webgpu/ops.js';
import { uploadMatrix, dequantizeRow } from '../../../web/src/webgpu/weights.js';
import { rng, randomFloats, randomMatrix, nmse, maxAbsDiff } from './fixtures.js';
import * as ref from './reference.js';
import { runSuite, check, fail, log, gpuBuffer, readFloats, readHalves, runOps } from './harness.js';

const TOL = 1e-9;
const shaderBase = new URL('../../../kernels/webgpu/', import.meta.url).href;

async function context(disableSubgroups, kvStorage = 'f32') {
  const { device, features } = await createDevice({ disableSubgroups });
  const sources = await loadShaderSources(shaderBase);
  const pipelines = new PipelineCache(device, sources, { subgroups: features.has('subgroups'), kvStorage });
  device.onuncapturederror = (e) => fail('uncaptured WebGPU error', e.error.message);
  const variant = `${features.has('subgroups') ? 'subgroups' : 'shared'}${kvStorage === 'f32' ? '' : ` ${kvStorage}-kv`}`;
  return { device, pipelines, ops: new Ops(device, pipelines), variant, kvHalf: kvStorage !== 'f32' };
}

async function matvecCase(ctx, rand, { dtype, rows, cols, m, groupSize = 0, bias = false, accumulate = false, oneToken = false, maxBinding = 1 << 30 }) {
  const { device, ops } = ctx;
  const w = randomMatrix(rand, dtype, rows, cols, { groupSize });
  const x = randomFloats(rand, m * cols);
  const b = bias ? randomFloats(rand, rows) : null;
  const yIn = accumulate ? randomFloats(rand, (oneToken ? 1 : m) * rows) : null;
  const gw = uploadMatrix(device, { name: 'w', ...w }, maxBinding);
  const gx = gpuBuffer(device, x);
  const gy = yIn ? gpuBuffer(device, yIn) : gpuBuffer(device, (oneToken ? 1 : m) * rows);
  const gb = b ? gpuBuffer(device, b) : null;
  runOps(device, ops, [ops.matvec(gw, gx, gy, { bias: gb, accumulate, oneToken })], 0, m);
  const mOut = oneToken ? 1 : m;
  const got = await readFloats(device, gy, mOut * rows);
  const want = ref.matvec(w.values, rows, cols, x, mOut, { bias: b, yIn });
  const name = `${ctx.variant} matvec_${dtype}${groupSize ? `/g${groupSize}` : ''} N=${rows} K=${cols} M=${m}` +
    `${bias ? ' +bias' : ''}${accumulate ? ' +=' : ''}${oneToken ? ' one-token' : ''}${gw.parts.length > 1 ? ` parts=${gw.parts.length}` : ''}`;
  check(name, nmse(got, want), TOL, `max|d|=${maxAbsDiff(got, want).toExponential(1)}`);
  for (const p of gw.parts) { p.data.destroy(); if (p.scales) p.scales.destroy(); }
  [gx, gy, gb].forEach((g) => g && g.destroy());
}

// The int8-activation products: GPU quantize_q8 + matvec_{q8,q4}_xq8 against the CPU's
// quantization and integer products redone in JS. Same NMSE bound: the codes are expected
// to be identical (checked separately), leaving only f32 summation order.
async function matvecXq8Case(ctx, rand, { dtype, rows, cols, m, groupSize = 0, bias = false, accumulate = false, oneToken = false }) {
  const { device, ops } = ctx;
  const w = randomMatrix(rand, dtype, rows, cols, { groupSize });
  const x = randomFloats(rand, m * cols, 3);
  if (cols > 40) x.fill(0, 0, 32);  // an all-zero block: scale 0
  const b = bias ? randomFloats(rand, rows) : null;
  const mOut = oneToken ? 1 : m;
  const yIn = accumulate ? randomFloats(rand, mOut * rows) : null;
  const gw = uploadMatrix(device, { name: 'w', ...w }, 1 << 30);
  const gx = gpuBuffer(device, x);
  const quant = ops.quantBuffers(cols, m);
  const gy = yIn ? gpuBuffer(device, yIn) : gpuBuffer(device, mOut * rows);
  const gb = b ? gpuBuffer(device, b) : null;
  runOps(device, ops, [ops.quantizeQ8(gx, quant, { k: cols, oneToken }), ops.matvec(gw, gx, gy, { bias: gb, accumulate, oneToken, quant })], 0, m);
  const got = await readFloats(device, gy, mOut * rows);
  const want = ref.matvecQ8Activations(w, x, mOut, { bias: b, yIn });
  const name = `${ctx.variant} matvec_${dtype}_xq8${groupSize ? `/g${groupSize}` : ''} N=${rows} K=${cols} M=${m}` +
    `${bias ? ' +bias' : ''}${accumulate ? ' +=' : ''}${oneToken ? ' one-token' : ''}`;
  check(name, nmse(got, want), TOL, `max|d|=${maxAbsDiff(got, want).toExponential(1)}`);
  for (const p of gw.parts) { p.data.destroy(); if (p.scales) p.scales.destroy(); }
  [gx, gy, gb].forEach((g) => g && g.destroy());
}

async function quantizeCase(ctx, rand, k, m) {
  const { device, ops } = ctx;
  const x = randomFloats(rand, m * k, 5);
  x.fill(0, 0, Math.min(k, 32));            // zero block -> scale 0
  if (k > 70) x[64] = 1e-31;                 // below the cut-off: a zero block too
  // Exact ties: a block whose max is 127 has inv = 1, so x * inv = x; halves must round to even.
  if (k >= 64) {
    x[32] = 127;
    const halves = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -126.5, 3.5, 4.5];
    for (let i = 0; i < halves.length; ++i) x[33 + i] = halves[i];
  }
  const gx = gpuBuffer(device, x);
  const quant = ops.quantBuffers(k, m);
  runOps(device, ops, [ops.quantizeQ8(gx, quant, { k })], 0, m);
  const want = ref.quantizeQ8(x, m, k);
  const gotScales = await readFloats(device, quant.xs, m * want.blocks);
  const words = await readFloats(device, quant.xq, m * want.kPad / 4);
  const gotCodes = new Int8Array(words.buffer);
  let worst = 0;
  for (let i = 0; i < want.codes.length; ++i) worst = Math.max(worst, Math.abs(gotCodes[i] - want.codes[i]));
  check(`${ctx.variant} quantize_q8 K=${k} M=${m}: max |code - CPU code|`, worst, 0);
  // Bit-exact: the shader corrects WGSL's 2.5-ULP division to the correctly rounded quotient.
  check(`${ctx.variant} quantize_q8 K=${k} M=${m}: scales`, maxAbsDiff(gotScales, want.scales), 0);
  gx.destroy();
}

// KV store then attention: GQA groups, head sizes, decode and causal prefill, sliding window,
// Gemma's score scale and soft-capping (the last two cases: cap 3 bends most scores of these
// random q, k; cap 50 almost none).
// With an f16 cache (ctx.kvHalf: f16, or halves packed in u32 words, the same bytes) the stored
// halves are checked against Float16Array's round-to-nearest-even, allowing the other
// neighbouring half (WGSL lets an inexact f32 -> f16 conversion round either way), and
// attention is checked against the reference fed the halves the GPU holds, so its bound stays
// the f32-rounding one (TOL).
async function kvAttentionCases(ctx, rand) {
  const { device, ops } = ctx;
  for (const [H, KV, hd, pos, m, window, softCap = 0] of [[1, 1, 8, 0, 1, 0], [4, 2, 16, 7, 1, 0], [8, 2, 64, 100, 1, 0], [6, 6, 80, 3, 5, 0],
    [14, 2, 64, 37, 4, 0], [4, 1, 128, 200, 3, 0], [4, 2, 32, 50, 6, 16], [2, 1, 8, 9, 1, 4], [3, 3, 8, 70, 2, 1],
    [4, 2, 24, 12, 5, 6, 3], [4, 1, 24, 30, 2, 0, 50]]) {
    const scale = softCap ? Math.fround(1 / Math.sqrt(32)) : 1 / Math.sqrt(hd);
    const context = pos + m + 3;
    const kvDim = KV * hd;
    // Cache rows < pos come from "earlier steps"; rows pos.. are appended by kv_store now.
    const kOld = randomFloats(rand, context * kvDim), vOld = randomFloats(rand, context * kvDim);
    const kNew = randomFloats(rand, m * kvDim), vNew = randomFloats(rand, m * kvDim);
    const q = randomFloats(rand, m * H * hd, 2);
    const cacheOf = (x) => (ctx.kvHalf ? new Uint16Array(Float16Array.from(x).buffer) : x);
    const readCache = async (g) => (ctx.kvHalf ? Float32Array.from(await readHalves(device, g, context * kvDim))
      : readFloats(device, g, context * kvDim));
    const gk = gpuBuffer(device, kNew), gv = gpuBuffer(device, vNew);
    const gkc = gpuBuffer(device, cacheOf(kOld)), gvc = gpuBuffer(device, cacheOf(vOld));
    const gq = gpuBuffer(device, q), gs = gpuBuffer(device, m * H * context), go = gpuBuffer(device, m * H * hd);
    runOps(device, ops, [
      ops.kvStore(gk, gv, gkc, gvc, { kvDim }),
      ops.attention(gq, gkc, gvc, gs, go, { heads: H, kvHeads: KV, headDim: hd, context, window, scale, softCap }),
    ], pos, m);
    const name = `${ctx.variant} kv_store kv_dim=${kvDim} pos=${pos} M=${m}`;
    const kCache = await readCache(gkc), vCache = await readCache(gvc);
    const [first, end] = [pos * kvDim, (pos + m) * kvDim];  // the rows kv_store writes
    if (ctx.kvHalf) {
      let changed = 0;
      for (const [cache, old] of [[kCache, Float16Array.from(kOld)], [vCache, Float16Array.from(vOld)]]) {
        for (let i = 0; i < cache.length; ++i) if ((i < first || i >= end) && cache[i] !== old[i]) changed += 1;
      }
      check(`${name}: halves changed outside the new rows`, changed, 0);
      let notNeighbour = 0, notNearest = 0;
      for (const [cache, x] of [[kCache, kNew], [vCache, vNew]]) {
        for (let i = 0; i < x.length; ++i) {
          const got = cache[first + i];
          const [lo, hi] = halfNeighbours(x[i]);
          if (got !== lo && got !== hi) notNeighbour += 1;
          else if (got !== Float16Array.of(x[i])[0]) notNearest += 1;
        }
      }
      check(`${name}: new halves that are not a neighbour of the f32 value`, notNeighbour, 0,
        `(${notNearest} of ${2 * kNew.length} the other neighbour than round-to-nearest-even)`);
    } else {
      const wantK = Float32Array.from(kOld), wantV = Float32Array.from(vOld);
      wantK.set(kNew, first);
      wantV.set(vNew, first);
      check(name, maxAbsDiff(kCache, wantK) + maxAbsDiff(vCache, wantV), 0);
    }
    const got = await readFloats(device, go, m * H * hd);
    const want = ref.attention(q, kCache, vCache, m, pos, H, KV, hd, window, { scale, softCap });
    check(`${ctx.variant} attention H=${H} KV=${KV} hd=${hd} pos=${pos} M=${m}${window ? ` window=${window}` : ''}${softCap ? ` soft-cap=${softCap}` : ''}`,
      nmse(got, want), TOL);
    [gk, gv, gkc, gvc, gq, gs, go].forEach((g) => g.destroy());
  }
}

// The two halves around x (equal when x is a half).
function halfNeighbours(x) {
  const h = Float16Array.of(x);
  const bits = new Uint16Array(h.buffer);
  if (h[0] === x) return [h[0], h[0]];
  const nearest = h[0];
  if (nearest === 0) return x > 0 ? [0, 2 ** -24] : [-(2 ** -24), 0];
  // One step away from the nearest half, towards x (|bits| order is magnitude order per sign).
  const towardsLarger = (x > nearest) === (nearest >= 0);
  bits[0] += towardsLarger ? 1 : -1;
  const other = h[0];
  return nearest < other ? [nearest, other] : [other, nearest];
}

async function opsSuite(ctx) {
  const rand = rng(1234);
  const { device, ops } = ctx;

  // Shader compilation errors with their WGSL messages.
  const errors = await ctx.pipelines.checkCompilation();
  check(`${ctx.variant} all shaders compile`, errors.length, 0, errors.join('; '));

  // Quantized and float matvec: odd K, block and group boundaries, tails, batches.
  // The second reduction variant shares every line but the reduction with the first: it runs a
  // subset of the shapes (the suite must stay well under a minute on a loaded 2-core machine).
  const shapes = ctx.first ? [[1, 1], [5, 3], [7, 31], [9, 32], [4, 33], [13, 64], [3, 65], [17, 127], [64, 200], [33, 1000]]
    : [[1, 1], [7, 31], [4, 33], [33, 1000]];
  for (const dtype of ['f32', 'f16', 'bf16', 'q8']) {
    for (const [rows, cols] of shapes) {
      await matvecCase(ctx, rand, { dtype, rows, cols, m: 1 });
    }
    await matvecCase(ctx, rand, { dtype, rows: 37, cols: 96, m: 5, bias: true });
    await matvecCase(ctx, rand, { dtype, rows: 21, cols: 77, m: 3, accumulate: true, bias: true });
    await matvecCase(ctx, rand, { dtype, rows: 96, cols: 2048, m: 2 });
  }
  for (const groupSize of [32, 64, 128]) {
    for (const [rows, cols] of [[1, 1], [5, 31], [7, 32], [9, 33], [6, groupSize], [3, groupSize + 1], [11, 2 * groupSize - 1], [33, 1000]]) {
      await matvecCase(ctx, rand, { dtype: 'q4', rows, cols, m: 1, groupSize });
    }
    await matvecCase(ctx, rand, { dtype: 'q4', rows: 37, cols: 160, m: 6, groupSize, bias: true });
    await matvecCase(ctx, rand, { dtype: 'q4', rows: 96, cols: 2048, m: 2, groupSize, accumulate: true });
  }
  // Output head: only token row 0; weights split into parts (small binding limit); odd f16 width split.
  await matvecCase(ctx, rand, { dtype: 'q8', rows: 50, cols: 64, m: 3, oneToken: true });
  await matvecCase(ctx, rand, { dtype: 'q4', rows: 50, cols: 96, m: 1, groupSize: 32, maxBinding: 48 * 7 });
  await matvecCase(ctx, rand, { dtype: 'f16', rows: 29, cols: 33, m: 2, maxBinding: 66 * 5 });
  await matvecCase(ctx, rand, { dtype: 'f32', rows: 23, cols: 40, m: 2, bias: true, maxBinding: 160 * 4 });
  // More row blocks than one dispatch dimension holds: with the limit lowered to 3, 7 and 13 row
  // blocks spill into z (3 x 3 and 3 x 5 workgroups, some past the last block).
  ops.maxDispatchX = 3;
  await matvecCase(ctx, rand, { dtype: 'f32', rows: 100, cols: 20, m: 1 });
  await matvecCase(ctx, rand, { dtype: 'q4', rows: 200, cols: 40, m: 1, groupSize: 32, bias: true });
  await matvecCase(ctx, rand, { dtype: 'q8', rows: 50, cols: 40, m: 5 });
  ops.maxDispatchX = 65535;

  // Activation quantization and the int8 x int8 products.
  for (const [k, m] of [[1, 1], [31, 2], [32, 1], [33, 3], [100, 2], [896, 1], [4864, 16]]) await quantizeCase(ctx, rand, k, m);
  for (const [rows, cols, m] of [[5, 1, 1], [7, 31, 1], [9, 33, 2], [13, 64, 1], [17, 127, 5], [64, 1000, 1], [33, 2048, 2]]) {
    await matvecXq8Case(ctx, rand, { dtype: 'q8', rows, cols, m });
    for (const groupSize of [32, 64, 128]) await matvecXq8Case(ctx, rand, { dtype: 'q4', rows, cols, m, groupSize });
  }
  await matvecXq8Case(ctx, rand, { dtype: 'q8', rows: 37, cols: 96, m: 6, bias: true, accumulate: true });
  await matvecXq8Case(ctx, rand, { dtype: 'q4', rows: 37, cols: 200, m: 6, groupSize: 64, bias: true, accumulate: true });
  await matvecXq8Case(ctx, rand, { dtype: 'q4', rows: 50, cols: 96, m: 3, groupSize: 32, oneToken: true });

  // Host-side row decoding (the embedding lookup) against the fixture values.
  for (const [dtype, g] of [['f32', 0], ['f16', 0], ['bf16', 0], ['q8', 0], ['q4', 32], ['q4', 128]]) {
    const w = randomMatrix(rand, dtype, 5, 45, { groupSize: g });
    let worst = 0;
    const row = new Float32Array(45);
    for (let r = 0; r < 5; ++r) {
      dequantizeRow(dtype, w.data, w.scales, 45, g, r, row);
      worst = Math.max(worst, nmse(row, w.values.subarray(r * 45, r * 45 + 45)));
    }
    // Exact decoding up to the final f32 rounding of q * scale.
    check(`dequantizeRow ${dtype}${g ? `/g${g}` : ''}`, worst, 1e-13);
  }

  // RMSNorm: rows of odd and long widths, per-head rows, last token only, and added to dst
  // (Gemma's post-block norms: dst holds a residual stream before).
  for (const [n, rowsPerToken, m, lastToken, accumulate = false] of [[1, 1, 1, false], [7, 1, 3, false], [64, 1, 1, false], [100, 1, 4, false],
    [896, 1, 2, false], [64, 14, 3, false], [128, 2, 5, false], [96, 1, 5, true], [48, 1, 1, true], [64, 1, 1, false, true],
    [640, 1, 3, false, true], [24, 4, 2, false, true]]) {
    const x = randomFloats(rand, m * rowsPerToken * n, 3);
    const w = randomFloats(rand, n, 2);
    const outRows = lastToken ? rowsPerToken : m * rowsPerToken;
    const y0 = accumulate ? randomFloats(rand, outRows * n, 4) : null;
    const gx = gpuBuffer(device, x), gw = gpuBuffer(device, w), gy = accumulate ? gpuBuffer(device, y0) : gpuBuffer(device, outRows * n);
    runOps(device, ops, [ops.rmsnorm(gx, gy, gw, { n, eps: 1e-6, rowsPerToken, lastToken, accumulate })], 0, m);
    const got = await readFloats(device, gy, outRows * n);
    const src = lastToken ? x.subarray((m - 1) * rowsPerToken * n) : x;
    const want = ref.rmsnorm(src, w, n, outRows, 1e-6);
    if (accumulate) for (let i = 0; i < want.length; ++i) want[i] += y0[i];
    check(`${ctx.variant} rmsnorm n=${n} rows/token=${rowsPerToken} M=${m}${lastToken ? ' last-token' : ''}${accumulate ? ' accumulate' : ''}`,
      nmse(got, want), TOL);
    [gx, gw, gy].forEach((g) => g.destroy());
  }

  // LayerNorm (GPT-2): odd and long rows, an offset mean (the two-pass form must not cancel), last token.
  for (const [n, m, lastToken, offset] of [[1, 1, false, 0], [7, 3, false, 0], [64, 2, false, 0], [768, 2, false, 0],
    [100, 4, false, 50], [96, 5, true, 0]]) {
    const x = randomFloats(rand, m * n, 3).map((v) => v + offset);
    const w = randomFloats(rand, n, 2), b = randomFloats(rand, n, 1);
    const outRows = lastToken ? 1 : m;
    const gx = gpuBuffer(device, x), gw = gpuBuffer(device, w), gb = gpuBuffer(device, b), gy = gpuBuffer(device, outRows * n);
    runOps(device, ops, [ops.layerNorm(gx, gy, gw, gb, { n, eps: 1e-5, lastToken })], 0, m);
    const got = await readFloats(device, gy, outRows * n);
    const want = ref.layerNorm(lastToken ? x.subarray((m - 1) * n) : x, w, b, n, outRows, 1e-5);
    check(`${ctx.variant} layernorm n=${n} M=${m}${lastToken ? ' last-token' : ''}${offset ? ` mean ~${offset}` : ''}`, nmse(got, want), TOL);
    [gx, gw, gb, gy].forEach((g) => g.destroy());
  }

  // RoPE with the host table (web/src/webgpu/rope_table.js) against the reference's own angles.
  const { makeRopeTable, fillCosSin } = await import('../../../web/src/webgpu/rope_table.js');
  for (const [hd, heads, m, pos, theta] of [[2, 1, 1, 0, 10000], [8, 3, 2, 5, 10000], [64, 4, 3, 1000, 10000], [128, 2, 2, 40000, 1000000], [80, 5, 1, 77, 500000]]) {
    const x = randomFloats(rand, m * heads * hd);
    const table = makeRopeTable({ rope_theta: theta }, hd);
    const gx = gpuBuffer(device, x), gcs = gpuBuffer(device, fillCosSin(table, pos, m, new Float32Array(m * hd)));
    runOps(device, ops, [ops.rope(gx, gcs, { heads, headDim: hd })], pos, m);
    const got = await readFloats(device, gx, x.length);
    const want = ref.rope(x, m, heads, hd, pos, ref.invFreq(theta, hd));
    check(`${ctx.variant} rope hd=${hd} heads=${heads} M=${m} pos=${pos} theta=${theta}`, nmse(got, want), TOL);
    [gx, gcs].forEach((g) => g.destroy());
  }

  await kvAttentionCases(ctx, rand);

  // SwiGLU.
  for (const [n, m] of [[1, 1], [37, 3], [4864, 2]]) {
    const g = randomFloats(rand, n * m, 8), u = randomFloats(rand, n * m, 2);
    const gg = gpuBuffer(device, g), gu = gpuBuffer(device, u);
    runOps(device, ops, [ops.siluMul(gg, gu, { n })], 0, m);
    const got = await readFloats(device, gg, n * m);
    check(`${ctx.variant} silu_mul n=${n} M=${m}`, nmse(got, ref.siluMul(g, u)), TOL);
    [gg, gu].forEach((b) => b.destroy());
  }
  // GeGLU (Gemma): gates up to +-40 reach tanh's +-1; a few gates whose cube overflows f32 give
  // what the CPU gives, not NaN.
  for (const [n, m, spread] of [[1, 1, 8], [37, 3, 8], [6912, 2, 40]]) {
    const g = randomFloats(rand, n * m, spread), u = randomFloats(rand, n * m, 2);
    g[0] = 1e30;
    if (g.length > 2) [g[1], g[2]] = [-1e30, -3.4e38];
    const gg = gpuBuffer(device, g), gu = gpuBuffer(device, u), gp = gpuBuffer(device, g);
    runOps(device, ops, [ops.geluTanhMul(gg, gu, { n }), ops.geluTanh(gp, { n })], 0, m);
    const plain = await readFloats(device, gp, n * m);
    // GPT-2's plain GELU: the same function without the up factor.
    check(`${ctx.variant} gelu_tanh n=${n} M=${m} |x| <= ${spread}`, nmse(plain.subarray(3), ref.geluTanh(g).subarray(3)), TOL);
    const got = await readFloats(device, gg, n * m);
    const want = ref.geluTanhMul(g, u);
    // 1e30 * up[0] and its square stay finite in f64; compare the rest and check the ends exactly.
    const finiteTail = (a) => a.subarray(3);
    check(`${ctx.variant} gelu_tanh_mul n=${n} M=${m} |gate| <= ${spread}`, nmse(finiteTail(got), finiteTail(want)), TOL);
    const ends = [Math.fround(g[0] * u[0]), ...(g.length > 2 ? [0, 0] : [])];  // the CPU's values (-0 == 0)
    check(`${ctx.variant} gelu_tanh_mul n=${n} M=${m}: huge gates give g * up and 0`,
      ends.filter((e, i) => got[i] !== e).length, 0, `got ${[...got.subarray(0, ends.length)].join(', ')}`);
    [gg, gu, gp].forEach((b) => b.destroy());
  }
}

runSuite(async () => {
  if (!navigator.gpu) throw new Error('navigator.gpu is missing (launch Chromium with --enable-unsafe-webgpu)');
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  log(`adapter: ${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description} features: ${[...adapter.features].join(',')}`);
  const variants = adapter.features.has('subgroups') ? [false, true] : [true];
  for (const disableSubgroups of variants) {
    const ctx = await context(disableSubgroups);
    ctx.first = disableSubgroups === variants[0];
    await opsSuite(ctx);
    ctx.ops.destroy();
    ctx.device.destroy();
  }
  // The f16 KV caches: halves packed in u32 words (every adapter) and f16 (shader-f16). Only
  // kv_store and attention see the storage.
  const storages = ['f16-packed'];
  if (adapter.features.has('shader-f16')) {
    storages.push('f16');
  } else if (new URLSearchParams(location.search).get('require_f16')) {
    fail('f16 KV cache', 'the adapter has no shader-f16 (required by --require-f16)');
  } else {
    log('note: the adapter has no shader-f16: the shader-f16 KV cache is not tested (run.mjs --adapter lavapipe tests it)');
  }
  for (const kvStorage of storages) {
    const ctx = await context(false, kvStorage);
    const errors = await ctx.pipelines.checkCompilation();
    check(`${ctx.variant} all shaders compile`, errors.length, 0, errors.join('; '));
    await kvAttentionCases(ctx, rng(99));
    ctx.ops.destroy();
    ctx.device.destroy();
  }
});
