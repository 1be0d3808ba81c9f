// Whole-model parity on small random Llama-family models: the weights are laid out in a
// fake Emscripten heap exactly as the wasm engine describes them (info.tensors with heap
// pointers), the WebGPU backend runs them through createWebGpuBackend, and a f64 JavaScript
// forward pass (reference_model.js) over the exact stored values is the truth.
//
// Each model: a 7-token prompt prefilled in batches of 3 (3 + 3 + 1: the chunking and the
// 4-token matvec tiles), then 6 greedy decode steps fed with the GPU's own argmax.
// Tolerance: NMSE(logits) <= 1e-8 at every step, and identical greedy tokens. The GPU
// is f32 throughout and the reference f64 from the same stored weights; per-op NMSE is
// ~1e-14 (ops suite), and two to four layers of residual stream, norms and softmax
// amplify it to ~1e-12 here. Quantization is not part of the error: both sides use the
// same quantized values, so q8/q4 models are held to the same bound as f32.
// These runs use an f32 KV cache (kvCache 'f32'). The f32-activation runs are repeated with the
// f16 caches: halves packed in u32 words (every adapter) and, where the adapter has shader-f16
// (run.mjs --adapter lavapipe), f16; against a reference that rounds K and V to f16 the same way:
// NMSE <= TOL_F16_KV. The
// f64 reference and the f32 GPU values of a K or V element straddle an f16 rounding boundary
// now and then, and such an element is stored one half-ULP step apart (2^-11 relative); the
// bound is set from that, with the wasm suite's measurements (README.md). The int8-activation
// runs are not repeated: a one-step cache difference moves an activation code, which the
// quantization's step function turns into ~1e-4 NMSE; the wasm suite covers them against the CPU.

import { createWebGpuBackend } from '../../../web/src/webgpu/index.js';
import { WGSL_SOURCES } from '../../../web/src/webgpu/wgsl_sources.js';
import { rng, randomFloats, randomMatrix, nmse, maxAbsDiff, argmax } from './fixtures.js';
import { ReferenceLlama } from './reference_model.js';
import { runSuite, check, log } from './harness.js';

const TOL = 1e-8;
const TOL_F16_KV = 5e-8;
const shaderBaseUrl = new URL('../../../kernels/webgpu/', import.meta.url).href;

/** Lays tensors into one heap (64-byte aligned like the .kite segments) and describes them. */
function buildModel(seed, cfg, dtype, groupSize, { bias = false, qkNorm = false }) {
  const rand = rng(seed);
  const D = cfg.hidden_size, H = cfg.num_heads, KV = cfg.num_kv_heads, hd = cfg.head_dim, F = cfg.intermediate_size, V = cfg.vocab_size;
  const pieces = [];  // {name, dtype, shape, data, scales, groupSize}
  const values = {};
  const quantized = {};
  const matrix = (name, rows, cols, scale = 1 / Math.sqrt(cols)) => {
    const m = randomMatrix(rand, dtype, rows, cols, { groupSize, scale: scale * 1.7 });
    pieces.push({ name, dtype, shape: [rows, cols], data: m.data, scales: m.scales, groupSize });
    values[name] = m.values;
    if (m.codes) quantized[name] = m;
  };
  const vector = (name, n, center, spread) => {
    const f = randomFloats(rand, n, spread);
    for (let i = 0; i < n; ++i) f[i] += center;
    pieces.push({ name, dtype: 'f32', shape: [n], data: new Uint8Array(f.buffer), scales: null, groupSize: 0 });
    values[name] = Float64Array.from(f);
  };
  matrix('model.embed_tokens.weight', V, D, 1);
  if (!cfg.tie_word_embeddings) matrix('lm_head.weight', V, D);
  vector('model.norm.weight', D, 1, 0.2);
  for (let l = 0; l < cfg.num_layers; ++l) {
    const p = `model.layers.${l}.`;
    vector(`${p}input_layernorm.weight`, D, 1, 0.2);
    vector(`${p}post_attention_layernorm.weight`, D, 1, 0.2);
    matrix(`${p}self_attn.q_proj.weight`, H * hd, D);
    matrix(`${p}self_attn.k_proj.weight`, KV * hd, D);
    matrix(`${p}self_attn.v_proj.weight`, KV * hd, D);
    matrix(`${p}self_attn.o_proj.weight`, D, H * hd);
    if (bias) {
      vector(`${p}self_attn.q_proj.bias`, H * hd, 0, 0.5);
      vector(`${p}self_attn.k_proj.bias`, KV * hd, 0, 0.5);
      vector(`${p}self_attn.v_proj.bias`, KV * hd, 0, 0.5);
    }
    if (qkNorm) {
      vector(`${p}self_attn.q_norm.weight`, hd, 1, 0.3);
      vector(`${p}self_attn.k_norm.weight`, hd, 1, 0.3);
    }
    matrix(`${p}mlp.gate_proj.weight`, F, D);
    matrix(`${p}mlp.up_proj.weight`, F, D);
    matrix(`${p}mlp.down_proj.weight`, D, F);
  }
  let size = 64;  // keep pointer 0 unused, as a real heap does
  const align = (n) => Math.ceil(n / 64) * 64;
  for (const t of pieces) size = align(size) + align(t.data.byteLength) + (t.scales ? align(t.scales.byteLength) : 0);
  const heap = new Uint8Array(size + 64);
  let at = 64;
  const tensors = pieces.map((t) => {
    const entry = { name: t.name, dtype: t.dtype, shape: t.shape, ptr: at, bytes: t.data.byteLength, group_size: t.groupSize };
    heap.set(t.data, at);
    at = align(at + t.data.byteLength);
    if (t.scales) {
      entry.scales_ptr = at;
      entry.scales_bytes = t.scales.byteLength;
      heap.set(t.scales, at);
      at = align(at + t.scales.byteLength);
    }
    return entry;
  });
  if (cfg.tie_word_embeddings && quantized['model.embed_tokens.weight']) quantized['lm_head.weight'] = quantized['model.embed_tokens.weight'];
  return { module: { HEAPU8: heap }, info: { architecture: cfg.architecture, config: cfg, tensors, default_context_tokens: 64 }, values, quantized };
}

const base = { vocab_size: 101, hidden_size: 64, intermediate_size: 96, num_layers: 2, num_heads: 4, num_kv_heads: 2,
  head_dim: 16, rope_theta: 10000, norm_eps: 1e-5, tie_word_embeddings: false, max_position_embeddings: 128 };
const CASES = [
  { label: 'llama f32', cfg: { ...base, architecture: 'LlamaForCausalLM' }, dtype: 'f32' },
  { label: 'llama bf16 (untied)', cfg: { ...base, architecture: 'LlamaForCausalLM', num_kv_heads: 1 }, dtype: 'bf16' },
  { label: 'qwen2 q8 (biases, tied)', cfg: { ...base, architecture: 'Qwen2ForCausalLM', tie_word_embeddings: true, vocab_size: 151, num_layers: 3 }, dtype: 'q8', bias: true },
  { label: 'llama q8 (stories260K shape: F=172, hd=8)', cfg: { ...base, architecture: 'LlamaForCausalLM', tie_word_embeddings: true, vocab_size: 512, num_layers: 5, num_heads: 8, num_kv_heads: 4, head_dim: 8, intermediate_size: 172 }, dtype: 'q8' },
  { label: 'qwen3 q4/g32 (qk-norm, hd*H != D, K=80 tail)', cfg: { ...base, architecture: 'Qwen3ForCausalLM', head_dim: 32, num_kv_heads: 1, intermediate_size: 80, tie_word_embeddings: true, rope_theta: 1000000, norm_eps: 1e-6 }, dtype: 'q4', groupSize: 32, qkNorm: true },
  { label: 'qwen3 q4/g64 (qk-norm)', cfg: { ...base, architecture: 'Qwen3ForCausalLM', head_dim: 32, hidden_size: 128, intermediate_size: 192 }, dtype: 'q4', groupSize: 64, qkNorm: true },
  { label: 'mistral f16 (sliding window 4 on layer 0, shared-memory reductions)', disableSubgroups: true, cfg: { ...base, architecture: 'MistralForCausalLM', sliding_window: 4, sliding_layers: [1, 0], hidden_size: 48, head_dim: 12 }, dtype: 'f16' },
];

async function runCase(c, seed, activations, kvCache = 'f32') {
  const { module, info, values, quantized } = buildModel(seed, c.cfg, c.dtype, c.groupSize || 0, c);
  const refQuant = activations === 'q8' && Object.keys(quantized).length ? quantized : null;
  const kvHalf = kvCache !== 'f32';
  const makeReference = () => new ReferenceLlama({ ...c.cfg, sliding_layers: c.cfg.sliding_layers || [], sliding_window: c.cfg.sliding_window || 0 },
    values, refQuant, { kvHalf });
  const reference = makeReference();
  const tol = kvHalf ? TOL_F16_KV : TOL;
  c = { ...c, label: `${c.label}${refQuant ? ' int8 activations' : ''}${kvHalf ? ` ${kvCache} KV cache` : ''}` };
  let progressCalls = 0;
  // The first case loads the embedded shader texts, the others fetch the .wgsl files.
  const shaders = seed === 100 ? { shaderSources: WGSL_SOURCES } : { shaderBaseUrl };
  const backend = await createWebGpuBackend(module, 0, info, { contextTokens: 32, maxBatch: 3, ...shaders, activations, kvCache,
    disableSubgroups: c.disableSubgroups, onProgress: () => { progressCalls += 1; } });
  check(`${c.label}: progress reported`, progressCalls > 0 ? 0 : 1, 0);
  // Two caches (K, V) per layer of 32 positions x kv_heads x head_dim elements.
  const kvElements = 2 * c.cfg.num_layers * 32 * c.cfg.num_kv_heads * c.cfg.head_dim;
  check(`${c.label}: ${kvCache} KV cache of ${kvElements} elements`,
    backend.kvStorage === kvCache && backend.kvFormat === (kvHalf ? 'f16' : 'f32') && backend.kvBytes === kvElements * (kvHalf ? 2 : 4) ? 0 : 1, 0,
    `(kvStorage ${backend.kvStorage}, kvFormat ${backend.kvFormat}, kvBytes ${backend.kvBytes})`);
  const wantSubgroups = adapterHasSubgroups && !c.disableSubgroups;
  check(`${c.label}: reductions ${wantSubgroups ? 'with' : 'without'} subgroups`, backend.features.includes('subgroups') === wantSubgroups ? 0 : 1, 0,
    `(features: ${backend.features.join(',') || 'none'})`);
  const rand = rng(seed + 1);
  const prompt = Int32Array.from({ length: 7 }, () => Math.floor(rand() * c.cfg.vocab_size));
  let want;
  for (let i = 0; i < prompt.length; ++i) want = reference.step(prompt[i], i);
  let got = await backend.forward(prompt, 0);
  let worst = nmse(got, want), worstAbs = maxAbsDiff(got, want);
  const ids = [];
  let sameTokens = 0;
  for (let s = 0; s < 6; ++s) {
    const next = argmax(got);
    if (next === argmax(want)) sameTokens += 1;
    ids.push(next);
    want = reference.step(next, prompt.length + s);
    got = await backend.forward(Int32Array.of(next), prompt.length + s);
    worst = Math.max(worst, nmse(got, want));
    worstAbs = Math.max(worstAbs, maxAbsDiff(got, want));
  }
  check(`${c.label}: logits NMSE (prefill 7 in batches of 3, 6 decode steps)`, worst, tol, `max|d|=${worstAbs.toExponential(1)}`);
  check(`${c.label}: greedy tokens differing from the reference of 6`, 6 - sameTokens, 0, `ids ${ids.join(' ')}`);
  // Re-running the prompt after reset gives the prefill logits again (the cache is rewritten in
  // place), here as two calls issued without waiting: forward() queues them in order.
  backend.reset();
  const [, again] = await Promise.all([backend.forward(prompt.subarray(0, 4), 0), backend.forward(prompt.subarray(4), 4)]);
  const first = makeReference();
  let w2;
  for (let i = 0; i < prompt.length; ++i) w2 = first.step(prompt[i], i);
  check(`${c.label}: prompt again after reset, as two concurrent calls`, nmse(again, w2), tol);
  backend.destroy();
}

let adapterHasSubgroups = false;

runSuite(async () => {
  const adapter = await navigator.gpu.requestAdapter();
  adapterHasSubgroups = adapter.features.has('subgroups');
  const f16 = adapter.features.has('shader-f16');
  let seed = 100;
  for (const c of CASES) {
    await runCase(c, seed, 'f32');
    if (c.dtype === 'q8' || c.dtype === 'q4') await runCase(c, seed, 'q8');
    await runCase(c, seed, 'f32', 'f16-packed');
    if (f16) await runCase(c, seed, 'f32', 'f16');
    seed += 1;
  }
  if (!f16 && new URLSearchParams(location.search).get('require_f16')) check('f16 KV cache runs (--require-f16): adapter has shader-f16', 1, 0);
  // The default cache: f16 values, held as f16 with shader-f16 and packed in u32 words without.
  {
    const { module, info } = buildModel(7, { ...base, architecture: 'LlamaForCausalLM' }, 'f32', 0, {});
    const backend = await createWebGpuBackend(module, 0, info, { shaderBaseUrl });
    const want = f16 ? 'f16' : 'f16-packed';
    check(`default kvCache is ${want} on this adapter`, backend.kvStorage === want && backend.kvFormat === 'f16' ? 0 : 1, 0, `(${backend.kvStorage})`);
    backend.destroy();
  }
  // Refusals: the backend says why instead of computing something else.
  // `reason`: a part the message must contain.
  const refused = async (label, mutate, options = {}, reason = '') => {
    const { module, info } = buildModel(7, { ...base, architecture: 'LlamaForCausalLM' }, 'f32', 0, {});
    mutate(info);
    try {
      await createWebGpuBackend(module, 0, info, { shaderBaseUrl, ...options });
      check(`refuses ${label}`, 1, 0, 'no error thrown');
    } catch (e) {
      check(`refuses ${label}`, e.message.includes(reason) ? 0 : 1, 0, `(${e.message})`);
    }
  };
  await refused('an engine info without default_context_tokens, and no contextTokens', (info) => { delete info.default_context_tokens; }, {},
    'no default_context_tokens');
  await refused('DeepSeek-V2 (MLA)', (info) => { info.architecture = 'DeepseekV2ForCausalLM'; }, {}, 'has no WebGPU graph');
  await refused('Qwen3-MoE', (info) => { info.architecture = 'Qwen3MoeForCausalLM'; }, {}, 'has no WebGPU graph');
  await refused('a mixture-of-experts layer', (info) => { info.config.num_experts = 4; }, {}, 'mixture-of-experts');
  // A Llama-shaped model relabelled GPT-2: grouped KV heads, then a context past its learned positions.
  await refused('GPT-2 with grouped KV heads', (info) => {
    info.architecture = 'GPT2LMHeadModel';
    info.config.hidden_act = 'gelu_pytorch_tanh';
  }, {}, 'num_kv_heads == num_heads');
  await refused('GPT-2 with a context past its learned positions', (info) => {
    info.architecture = 'GPT2LMHeadModel';
    Object.assign(info.config, { hidden_act: 'gelu_pytorch_tanh', num_kv_heads: 4 });
  }, { contextTokens: 129 }, "exceeds GPT-2's 128 learned positions");
  // A Llama-shaped model relabelled Gemma 3: its activation, its scale, then its missing norms.
  const asGemma3 = (info, config) => {
    info.architecture = 'Gemma3ForCausalLM';
    Object.assign(info.config, { hidden_act: 'gelu_pytorch_tanh', query_pre_attn_scalar: 16, ...config });
  };
  await refused('Gemma 3 with SiLU', (info) => asGemma3(info, { hidden_act: 'silu' }), {}, "only gelu_pytorch_tanh");
  await refused('Gemma 3 without query_pre_attn_scalar', (info) => asGemma3(info, { query_pre_attn_scalar: 0 }), {}, 'query_pre_attn_scalar');
  await refused('Gemma 3 without its pre-feedforward norms', (info) => asGemma3(info, {}), {}, "missing tensor 'model.layers.0.pre_feedforward_layernorm.weight'");
  await refused('a wrong tensor shape', (info) => { info.tensors.find((t) => t.name.endsWith('0.mlp.up_proj.weight')).shape = [95, 64]; });
  await refused('a missing tensor', (info) => { info.tensors = info.tensors.filter((t) => !t.name.endsWith('1.self_attn.v_proj.weight')); });
  await refused('short tensor bytes', (info) => { info.tensors.find((t) => t.name === 'lm_head.weight').bytes -= 4; });
  await refused("kvCache 'f8'", () => {}, { kvCache: 'f8' });
});
