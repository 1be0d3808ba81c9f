// kite_wasm_gen_reuse (the next chat turn keeps the KV cache of the shared prefix) on stories260K:
// after a reply, a prompt that extends the conversation keeps everything already there, a prompt
// that diverges keeps exactly the common prefix, a repeated prompt keeps all but its last token;
// a reply reaching the context's end stops there whether the CPU or the caller feeds its tokens.
// Each continued generation must give what a fresh generation prefilled with the whole prompt gives:
// logits within 2e-4 and the same greedy tokens. The KV cache is f32 here: the reused rows of
// generated tokens were computed one token at a time and the fresh ones in a batch, so their f32
// sums differ in order (logits are O(10)); an f16 cache can round such rows to neighbouring halves
// (measured 3.5e-3 on the logits). Bad input is an error, not a crash.
// Usage: node chat_reuse_test.cjs <folder of kite_node.cjs> <stories260K.kite> <shared dir>
'use strict';
const fs = require('fs');
const path = require('path');
const assert = require('assert');
const { loadKite } = require('./kite_node.cjs');

function greedy(gen) {
  const ids = [];
  for (;;) {
    const id = gen.step();
    if (id < 0) return ids;
    ids.push(id);
  }
}

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

(async () => {
  const [moduleDir, kitePath, sharedDir] = process.argv.slice(2);
  const kite = await loadKite(moduleDir);
  const engine = kite.loadModel(fs.readFileSync(kitePath), true);
  const ref = JSON.parse(fs.readFileSync(path.join(sharedDir, 'models/stories260K/reference/once_upon.json')));
  const reply = { temperature: 0, max_tokens: 10, kv_format: 'f32' };
  const chat = engine.generation(reply);
  chat.prefill(ref.prompt_ids);
  const first = greedy(chat);
  assert.strictEqual(first.length, 10);

  const check = (label, prompt, expectKept) => {
    const kept = chat.reuse({ temperature: 0, max_tokens: 6 }, prompt);
    assert.strictEqual(kept, expectKept, `${label}: kept ${kept}, expected ${expectKept}`);
    chat.prefill(prompt.slice(kept));
    const fresh = engine.generation({ temperature: 0, max_tokens: 6, kv_format: 'f32' });
    fresh.prefill(prompt);
    const diff = maxAbsDiff(chat.logits(), fresh.logits());
    assert(diff <= 2e-4, `${label}: logits differ by ${diff}`);
    assert.deepStrictEqual(greedy(chat), greedy(fresh), `${label}: greedy tokens`);
    assert.strictEqual(chat.position(), fresh.position(), `${label}: position`);
    fresh.destroy();
    console.log(`${label}: kept ${kept} of ${prompt.length} tokens, logits within ${diff.toExponential(2)}`);
  };
  const more = engine.tokenize(' Then the sun came out.');
  const extended = [...ref.prompt_ids, ...first, ...more];
  check('extends the conversation', extended, ref.prompt_ids.length + first.length);
  const diverged = [...ref.prompt_ids.slice(0, 3), ...more];
  check('diverges after 3 tokens', diverged, 3);
  check('repeats the prompt', diverged, diverged.length - 1);

  // The context's end: a reply whose tokens the caller feeds (record + accept_logits, as the
  // WebGPU path does) stops with context_full exactly where a reply the CPU feeds does, so a GPU
  // cache of the same length is never asked for a position past its end.
  const context = ref.prompt_ids.length + 7;
  const params = { temperature: 0, max_tokens: 100, ignore_eos: true, kv_format: 'f32', context };
  const cpu = engine.generation(params);
  cpu.prefill(ref.prompt_ids);
  const cpuIds = greedy(cpu);
  assert.strictEqual(cpu.stopReason(), 'context_full');
  assert.strictEqual(cpuIds.length, context - ref.prompt_ids.length + 1, 'the last sampled token is returned, not fed');
  const fed = engine.generation(params);
  const forward = engine.generation(params);  // stands in for the caller's forward pass
  fed.record(ref.prompt_ids);
  forward.prefill(ref.prompt_ids);
  const fedIds = [];
  let positions = ref.prompt_ids.length;
  for (;;) {
    const id = fed.acceptLogits(forward.logits());
    if (id < 0) break;
    fedIds.push(id);
    if (fed.stopReason()) break;
    forward.prefill([id]);
    positions += 1;
  }
  assert.strictEqual(fed.stopReason(), 'context_full');
  assert.deepStrictEqual(fedIds, cpuIds, 'fed by the caller: the same reply');
  assert.strictEqual(positions, context, 'the caller fed exactly `context` positions');
  console.log(`context ${context}: both replies end with context_full after ${cpuIds.length} tokens`);
  [cpu, fed, forward].forEach((g) => g.destroy());

  assert.throws(() => chat.reuse({ temperature: 0 }, []), /reuse needs/);
  assert.throws(() => chat.reuse({ max_tokens: 0 }, diverged), /max_tokens must be > 0/);
  const rc = engine.withIds(diverged, (p) => engine.M._kite_wasm_gen_reuse(0, 0, p, diverged.length));
  assert.strictEqual(rc, -2, 'a NULL generation is an error');
  chat.destroy();
  engine.destroy();
  process.exit(0);  // the threads build's worker pool would keep node alive
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
