// Logits and greedy parity of the wasm module with the independent references in ../shared, through
// the kite_wasm_* API web/ uses — the node counterpart of tests/golden/logits_golden_test.cc,
// architectures_golden_test.cc and quantized_golden_test.cc, with their tolerances:
//   f32 artifacts: every logit within 1e-4 of llama2.c's float64 run for stories260K (a plain f32 run
//     is within 2.6e-5; the rest is summation order), within 1e-3 for the random models (their
//     README's bound for a C++ f32 pass); greedy ids identical while the reference margin > 1e-3.
//   q8/q4 artifacts of stories260K: mean KL(p_ref || p_wasm) and top-1 agreement over every row
//     within the native test's bounds (quantization noise, not kernel error, dominates).
// Logits rows come from one-token prefills (the decode path through the KV cache, f32 cache as the
// native test uses) and the last row of a whole-sequence prefill in chunks of 8 (the batched path).
// Usage: node golden_test.cjs <module dir> <models dir> <shared dir> [--threads N] model...
'use strict';
const fs = require('fs');
const path = require('path');
const { loadKite } = require('./kite_node.cjs');
const { check, finish, argmax } = require('./checks.cjs');

const STORIES_CASES = ['bos_only', 'once_upon', 'sun_birds', 'tom_dog', 'dialogue', 'unicode'];
const QUANT_BOUNDS = {  // tests/golden/quantized_golden_test.cc
  stories260K_q8: { maxMeanKl: 3e-3, minTop1: 0.93 },
  stories260K_q4: { maxMeanKl: 0.25, minTop1: 0.70 },
};

function readF32(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

function loadCases(model, shared) {
  if (model.startsWith('stories260K')) {
    const dir = path.join(shared, 'models/stories260K/reference');
    return STORIES_CASES.map((name) => {
      const j = JSON.parse(fs.readFileSync(path.join(dir, name + '.json')));
      return { name, prompt: j.prompt_ids, greedy: j.greedy_ids, margins: j.greedy_margins, text: j.prompt,
               fullText: j.full_text, logits: readF32(path.join(dir, j.logits_file)) };
    });
  }
  const dir = path.join(shared, 'models/random', model, 'reference');
  const j = JSON.parse(fs.readFileSync(path.join(dir, 'cases.json')));
  return j.cases.map((c) => ({ name: c.name, prompt: c.prompt_ids, greedy: c.greedy_ids, margins: c.greedy_margins,
                               logits: readF32(path.join(dir, c.logits_file)) }));
}

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function logSoftmax(x) {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Array.from(x, (v) => v - lse);
}

(async () => {
  const args = process.argv.slice(2);
  let threads = 1;
  const ti = args.indexOf('--threads');
  if (ti >= 0) {
    threads = Number(args[ti + 1]);
    args.splice(ti, 2);
  }
  // --relaxed: the relaxed-SIMD module (kite_node_relaxed.*), which must report its kernel set.
  const ri = args.indexOf('--relaxed');
  const relaxed = ri >= 0;
  if (relaxed) args.splice(ri, 1);
  const [moduleDir, modelsDir, shared, ...models] = args;
  const kite = await loadKite(moduleDir, { relaxed });
  for (const model of models) {
    const engine = kite.loadModel(fs.readFileSync(path.join(modelsDir, model + '.kite')));
    const info = engine.info();
    if (relaxed && info.kernels !== 'wasm-relaxed-simd') {
      throw new Error(`${model}: the relaxed module runs the ${info.kernels} kernels`);
    }
    const vocab = info.config.vocab_size;
    const quant = QUANT_BOUNDS[model];
    const tolerance = model.startsWith('stories260K') ? 1e-4 : 1e-3;
    let klSum = 0, top1 = 0, rowsSeen = 0, worst = 0;
    for (const c of loadCases(model, shared)) {
      const where = model + '/' + c.name + ' [' + info.kernels + ', ' + threads + ' thread(s)]';
      const all = c.prompt.concat(c.greedy.slice(0, 16));
      const rows = all.length;
      check(c.logits.length === rows * vocab, where + ': reference logits shape');
      const base = { temperature: 0, kv_format: 'f32', context: Math.min(rows + c.greedy.length + 1, info.config.max_position_embeddings || 4096), threads, max_batch: 8 };

      // Decode path: one token per forward through the KV cache.
      const gen = engine.generation(base);
      for (let t = 0; t < rows; ++t) {
        gen.prefill([all[t]]);
        const got = gen.logits();
        const want = c.logits.subarray(t * vocab, (t + 1) * vocab);
        if (quant) {
          const p = logSoftmax(want), q = logSoftmax(got);
          let kl = 0;
          for (let i = 0; i < vocab; ++i) kl += Math.exp(p[i]) * (p[i] - q[i]);
          klSum += kl;
          top1 += argmax(got) === argmax(want) ? 1 : 0;
          rowsSeen++;
        } else {
          worst = Math.max(worst, maxAbsDiff(got, want));
          check(maxAbsDiff(got, want) <= tolerance, where + ': decode row ' + t + ' differs by ' + maxAbsDiff(got, want));
        }
      }
      gen.destroy();
      if (quant) continue;

      // Batched path: the whole sequence in one prefill (chunks of 8), last row.
      const batched = engine.generation(base);
      batched.prefill(all);
      const last = c.logits.subarray((rows - 1) * vocab, rows * vocab);
      check(maxAbsDiff(batched.logits(), last) <= tolerance,
            where + ': prefill last row differs by ' + maxAbsDiff(batched.logits(), last));
      batched.destroy();

      // Greedy continuation with the stepper.
      const greedy = engine.generation({ ...base, max_tokens: c.greedy.length, ignore_eos: true });
      greedy.prefill(c.prompt);
      const ids = [];
      for (let id; (id = greedy.step()) >= 0;) ids.push(id);
      greedy.destroy();
      let compared = 0;
      for (let i = 0; i < c.greedy.length && c.margins[i] > 1e-3; ++i, ++compared) {
        if (ids[i] !== c.greedy[i]) {
          check(false, where + ': greedy step ' + i + ' gave ' + ids[i] + ', reference ' + c.greedy[i]);
          break;
        }
      }
      check(compared >= 16, where + ': only ' + compared + ' greedy steps compared');

      // The tokenizer agrees with run.c's encoder and decoder.
      if (c.text !== undefined) {
        check(JSON.stringify([info.bos_id, ...engine.tokenize(c.text)]) === JSON.stringify(c.prompt), where + ': tokenize');
        const whole = c.prompt.concat(c.greedy).filter((id) => id !== info.bos_id);
        check(engine.detokenize(whole) === c.fullText, where + ': detokenize');
      }
    }
    if (quant) {
      const meanKl = klSum / rowsSeen, share = top1 / rowsSeen;
      console.log(model + ': mean KL ' + meanKl.toExponential(3) + ', top-1 ' + (100 * share).toFixed(1) + '% over ' +
                  rowsSeen + ' rows [' + info.kernels + ']');
      check(meanKl <= quant.maxMeanKl, model + ': mean KL ' + meanKl + ' > ' + quant.maxMeanKl);
      check(share >= quant.minTop1, model + ': top-1 ' + share + ' < ' + quant.minTop1);
    } else {
      console.log(model + ': max |logit diff| ' + worst.toExponential(3) + ' (tolerance ' + tolerance + ') [' +
                  info.kernels + ']');
    }
    engine.destroy();
  }
  finish('all golden checks passed');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
