// The relaxed-SIMD module against the baseline SIMD128 module on the same q4 artifacts, twice: once
// with the relaxed engine's Q4 weights rearranged into transposed groups
// (kite_wasm_engine_rearrange_weights, kernels/quant_formats.h: its gemm_q4_transposed kernel), once
// with them as stored (as after a lost WebGPU device: its gemm_q4 kernel). The baseline engine reads
// the stored bytes. Both compute every block dot exactly in integers; only the order of the f32 additions
// differs, which can move an activation code by one at a rounding boundary (then the logits differ
// by NMSE ~1e-5 .. 1e-4 on these models: the baseline module's own batched prefill, whose 8-row
// tiles add in yet another order, differs from its decode path by 1.4e-4 on the g128 model).
// Checked per logits row: NMSE(relaxed, baseline) <= 1e-3, where a misplaced weight word or block
// scale gives NMSE ~1 (measured, rearranged: decode rows 0 .. 5e-14, batched rows 1.4e-4 on g128 and
// 5e-14 on g32; stored layout: 0, the relaxed gemm_q4 adds in the baseline's order);
// greedy ids: at most 2 of 16 differ (near-ties after a flip; measured 0).
// Rows come from one-token prefills (decode), from a whole-prompt prefill (the batched path) and
// from greedy steps. The models (tests/wasm/CMakeLists.txt) have K = 320 and 864: whole 4-block
// groups and 2 or 3 blocks left over, a tied embedding (looked up from the rearranged bytes), groups
// of 32 and 128 columns.
// Usage: node --experimental-wasm-relaxed-simd relaxed_parity_test.cjs <module dir> model.kite...
'use strict';
const fs = require('fs');
const { loadKite } = require('./kite_node.cjs');
const { check, finish, argmax } = require('./checks.cjs');

function nmse(got, want) {
  let err = 0, ref = 0;
  for (let i = 0; i < want.length; ++i) {
    err += (got[i] - want[i]) ** 2;
    ref += want[i] ** 2;
  }
  return ref > 0 ? err / ref : err;
}

(async () => {
  const [moduleDir, ...models] = process.argv.slice(2);
  const baseline = await loadKite(moduleDir);
  const relaxed = await loadKite(moduleDir, { relaxed: true });
  for (const model of models) {
    const bytes = fs.readFileSync(model);
    for (const keepLayout of [false, true]) {
      const label = `${model} (${keepLayout ? 'stored layout' : 'rearranged'})`;
      const engines = [baseline.loadModel(bytes), relaxed.loadModel(bytes, false, { keepLayout })];
      const infos = engines.map((e) => e.info());
      check(infos[1].kernels === 'wasm-relaxed-simd', `${label}: the relaxed module runs ${infos[1].kernels}`);
      check(infos[0].rearranged_tensors === 0, `${label}: the baseline engine rearranged ${infos[0].rearranged_tensors} tensors`);
      // Every Q4 matrix of a Llama: 7 per layer and the tied embedding / output head.
      const expected = keepLayout ? 0 : 7 * infos[1].config.num_layers + 1;
      check(infos[1].rearranged_tensors === expected,
            `${label}: the relaxed engine rearranged ${infos[1].rearranged_tensors} tensors, expected ${expected}`);
      const vocab = infos[0].config.vocab_size;
      let seed = 12345;
      const prompt = Array.from({ length: 24 }, () => (seed = (seed * 1103515245 + 12345) % 2147483648) % vocab);
      const params = { temperature: 0, kv_format: 'f32', context: 64, threads: 1, max_batch: 8 };
      let worst = 0;
      const compare = (rows, where) => {
        const e = nmse(rows[1], rows[0]);
        worst = Math.max(worst, e);
        check(e <= 1e-3, `${label}: ${where}: NMSE ${e.toExponential(2)}`);
        if (process.env.KITE_PARITY_VERBOSE) console.log(`${where}: ${e.toExponential(2)}`);
      };

      const decode = engines.map((e) => e.generation(params));
      for (let t = 0; t < prompt.length; ++t) {
        decode.forEach((g) => g.prefill([prompt[t]]));
        compare(decode.map((g) => g.logits()), `decode row ${t}`);
      }
      decode.forEach((g) => g.destroy());

      const batched = engines.map((e) => e.generation(params));
      batched.forEach((g) => g.prefill(prompt));
      compare(batched.map((g) => g.logits()), 'prefill last row');
      batched.forEach((g) => g.destroy());

      const greedy = engines.map((e) => e.generation({ ...params, max_tokens: 16, ignore_eos: true }));
      greedy.forEach((g) => g.prefill(prompt));
      const ids = [[], []];
      for (let i = 0; i < 16; ++i) {
        const rows = greedy.map((g) => g.logits());
        compare(rows, `greedy step ${i}`);
        const next = greedy.map((g) => g.step());
        ids[0].push(next[0]);
        ids[1].push(next[1]);
        check(next[0] === argmax(rows[0]) || next[0] < 0, `${label}: greedy step ${i} is not the argmax`);
      }
      greedy.forEach((g) => g.destroy());
      const differing = ids[0].filter((id, i) => id !== ids[1][i]).length;
      check(differing <= 2, `${label}: ${differing} of 16 greedy ids differ: ${ids[0]} vs ${ids[1]}`);
      console.log(`${label}: ${infos[1].rearranged_tensors} tensors rearranged; worst NMSE ${worst.toExponential(2)}; ` +
                  `greedy ${ids[1].join(' ')}`);
      engines.forEach((e) => e.destroy());
    }
  }
  finish('relaxed parity: all checks passed');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
