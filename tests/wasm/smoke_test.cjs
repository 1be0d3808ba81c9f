// Smoke test of the node wasm module: loads the stories260K .kite through the heap (no second copy),
// checks the info JSON, tokenizes the reference prompt and generates 20 greedy tokens with the
// stepper, comparing ids with llama2.c's float64 reference (../shared/models/stories260K/reference,
// greedy margins >= 0.13 over these 20 steps, far above f32 rounding) and the streamed text with the
// reference text.
// Usage: node smoke_test.cjs <folder of kite_node.cjs> <stories260K.kite> <shared dir>
'use strict';
const fs = require('fs');
const path = require('path');
const assert = require('assert');
const { loadKite } = require('./kite_node.cjs');

(async () => {
  const [moduleDir, kitePath, sharedDir] = process.argv.slice(2);
  const kite = await loadKite(moduleDir);
  // The read probe bench.cjs uses as the wasm roofline: a positive figure, -1 for sizes out of range.
  assert(kite.readGbps(8, 1) > 0, 'kite_wasm_read_gbps(8, 1) > 0');
  assert.strictEqual(kite.M._kite_wasm_read_gbps(0, 1), -1);
  assert.strictEqual(kite.M._kite_wasm_read_gbps(2048, 1), -1);
  const engine = kite.loadModel(fs.readFileSync(kitePath), /*verifyChecksums=*/true);
  const info = engine.info();
  assert.strictEqual(info.config.vocab_size, 512);
  assert.strictEqual(info.bos_id, 1);
  // The context a generation without `context` gets (stories260K: its 512 learned positions).
  assert.strictEqual(info.default_context_tokens, 512);
  const embed = info.tensors.find((t) => t.name.includes('embed'));
  assert(embed && embed.ptr > 0 && embed.bytes > 0, 'tensors carry heap offsets');

  const ref = JSON.parse(fs.readFileSync(path.join(sharedDir, 'models/stories260K/reference/once_upon.json')));
  const ids = engine.tokenize(ref.prompt);
  assert.deepStrictEqual([info.bos_id, ...ids], ref.prompt_ids, 'prompt ids');

  const steps = 20;
  const gen = engine.generation({ temperature: 0, max_tokens: steps });
  gen.prefill(ref.prompt_ids);
  const got = [];
  let text = '';
  for (;;) {
    const id = gen.step();
    text += gen.text();
    if (id < 0) break;
    got.push(id);
  }
  assert.deepStrictEqual(got, ref.greedy_ids.slice(0, steps), 'greedy ids');
  assert.strictEqual(gen.stopReason(), 'max_tokens');
  assert.strictEqual(gen.position(), ref.prompt_ids.length + steps);
  assert(ref.greedy_text.startsWith(text) && text.length > 40, 'streamed text: ' + JSON.stringify(text));
  gen.destroy();
  engine.destroy();
  console.log('stories260K: 20 greedy tokens match the reference: ' + JSON.stringify(text));
  process.exit(0);  // the threads build's worker pool would keep node alive
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
